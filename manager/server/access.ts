// Who may call each route of the API: the one place roles are checked (routes.ts looks
// every request up here before its handler runs, and refuses to start with a route this
// table lacks). docs/administration.md shows this table; a test holds the two together.
//   public  no credentials (a host fetches the CA and registers before it has any)
//   host    a registered host's client certificate (mutual TLS)
//   user    any enabled administrator, whatever its roles: every read, and one's own password
//   a role  an enabled administrator holding that role
import type { AdminRole } from '../../manager-client/types.js';

export type Access = 'public' | 'host' | 'user' | AdminRole;

export const ACCESS: Readonly<Record<string, Access>> = {
  'GET /v1/openapi.json': 'public',
  'GET /v1/ca': 'public',
  'POST /v1/registration': 'public',
  'POST /v1/login': 'public', // the name and password are in the body
  'GET /v1/events': 'host',
  'GET /v1/hosts/self': 'host',
  'POST /v1/hosts/self/status': 'host',
  'POST /v1/hosts/self/certificate': 'host',
  'PUT /v1/hosts/self/transport-key': 'host',
  'POST /v1/hosts/self/events': 'host',

  'GET /v1/hosts': 'user',
  'GET /v1/hosts/{hostId}': 'user',
  'GET /v1/hosts/{hostId}/events': 'user',
  'GET /v1/hostgroups': 'user',
  'GET /v1/policies': 'user',
  'GET /v1/policies/{name}': 'user',
  'GET /v1/guardpoints': 'user',
  'GET /v1/keys': 'user',
  'GET /v1/keys/import-key': 'user',
  'GET /v1/keys/{keyId}': 'user',
  'GET /v1/keys/{keyId}/history': 'user',
  'GET /v1/settings': 'user',
  'GET /v1/inventory': 'user',
  'GET /v1/users': 'user',
  'GET /v1/domains': 'user',
  'GET /v1/domains/{domain}': 'user',
  'PUT /v1/users/self/password': 'user',
  // Anyone may hold API keys, each with at most the roles of its maker (sessions.ts).
  'GET /v1/apikeys': 'user',
  'POST /v1/apikeys': 'user',
  'DELETE /v1/apikeys/{apiKeyId}': 'user',
  'GET /v1/siem/destinations': 'user',
  'GET /v1/siem/destinations/{name}': 'user',

  'POST /v1/users': 'admin',
  'PUT /v1/users/{name}': 'admin',
  'DELETE /v1/users/{name}': 'admin',
  'PUT /v1/settings': 'admin',
  // Only the root domain's administrators make and remove domains (domains.ts).
  'POST /v1/domains': 'admin',
  'DELETE /v1/domains/{domain}': 'admin',
  // Backups hold every domain's keys: the root domain's administrators only (backup_routes.ts).
  'GET /v1/backup-keys': 'admin',
  'POST /v1/backup-keys': 'admin',
  'POST /v1/backups': 'admin',
  // Where the whole trail goes, every domain's records: the root domain's administrators
  // only (siem_routes.ts). Every role of the root domain reads where it goes: the auditor,
  // who alone reads the trail here, sees where else it is sent.
  'POST /v1/siem/destinations': 'admin',
  'DELETE /v1/siem/destinations/{name}': 'admin',

  // The audit trail is the auditor's: reading it, verifying it, taking its checkpoints.
  'GET /v1/audit': 'auditor',
  'GET /v1/audit/verify': 'auditor',
  'POST /v1/audit/verify': 'auditor',
  'GET /v1/audit/checkpoint': 'auditor',

  'POST /v1/keys': 'key-admin',
  'POST /v1/keys/import': 'key-admin',
  'POST /v1/keys/{keyId}/rotate': 'key-admin',
  'POST /v1/keys/{keyId}/versions/{version}/state': 'key-admin',
  'POST /v1/keys/{keyId}/versions/{version}/revoke': 'key-admin',
  'POST /v1/keys/{keyId}/versions/{version}/export': 'key-admin',

  'POST /v1/tokens': 'cte-admin',
  'DELETE /v1/hosts/{hostId}': 'cte-admin',
  'PUT /v1/hosts/{hostId}/group': 'cte-admin',
  'POST /v1/hosts/{hostId}/offline-password': 'cte-admin',
  'POST /v1/hosts/{hostId}/offline-response': 'cte-admin',
  'POST /v1/hostgroups': 'cte-admin',
  'POST /v1/policies': 'cte-admin',
  'POST /v1/guardpoints': 'cte-admin',
  'DELETE /v1/guardpoints/{guardPointId}': 'cte-admin',
  // Destruction is the guard points' business: only their administrator may end a key a
  // guard point could depend on (and a version one still names is refused anyway).
  'POST /v1/keys/{keyId}/versions/{version}/destroy': 'cte-admin',
};
