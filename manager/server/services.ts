// The services a request works with, over the store confined to its domain (domains.ts):
// an administrator's request gets its domain's, and cannot reach another domain's rows
// whatever ids it sends. The manager's own work (key dates, deliveries, host requests,
// sign-in) uses the services over the whole store.
import type { AuditLog } from '../audit/audit_log.js';
import type { CertificateAuthority } from '../ca/authority.js';
import { RegistrationService } from '../hosts/registration.js';
import { HostReports } from '../hosts/reports.js';
import { KeyService } from '../keys/key_service.js';
import type { MasterKey } from '../keys/master_key.js';
import { Retirement } from '../keys/retirement.js';
import { OfflineKeys } from '../offline/offline_keys.js';
import { Assignments } from '../policies/assignments.js';
import { SessionService } from '../sessions.js';
import { SignInThrottle } from '../sign_in_throttle.js';
import type { ManagerStore } from '../store/store.js';
import { UserService } from '../users.js';

export interface Services {
  store: ManagerStore;
  keys: KeyService;
  assignments: Assignments;
  registration: RegistrationService;
  reports: HostReports;
  offline: OfflineKeys;
  users: UserService;
  sessions: SessionService;
}

export interface ServiceParts {
  store: ManagerStore;
  master: MasterKey;
  ca: CertificateAuthority;
  log: (line: string) => void;
  /** Where the host reports received are recorded too. */
  audit?: AuditLog;
}

function servicesOver(
  store: ManagerStore,
  { master, ca, log, audit }: ServiceParts,
  throttle: SignInThrottle,
): Services {
  const offline = new OfflineKeys(store, master, log);
  const assignments = new Assignments(store);
  return {
    store,
    keys: new KeyService(store, master, Date.now, new Retirement(store)),
    assignments,
    registration: new RegistrationService(store, ca, offline, Date.now, audit),
    reports: new HostReports(store, Date.now, audit),
    offline,
    users: new UserService(store),
    sessions: new SessionService(store, Date.now, throttle),
  };
}

/** The whole store's services, and those of each domain (made once, on first use). */
export function serviceDirectory(parts: ServiceParts): {
  system: Services;
  inDomain: (domain: string) => Services;
} {
  const byDomain = new Map<string, Services>();
  const throttle = new SignInThrottle();
  return {
    system: servicesOver(parts.store, parts, throttle),
    inDomain: (domain) => {
      let services = byDomain.get(domain);
      if (!services)
        byDomain.set(domain, (services = servicesOver(parts.store.inDomain(domain), parts, throttle)));
      return services;
    },
  };
}
