// Domains (docs/administration.md): isolated namespaces of keys, hosts, host groups,
// policies, guard points and administrators, each under the root domain and with its own
// default key algorithm. An administrator of a domain sees and changes only that domain; an
// administrator of the root domain works in any domain it names per request (the
// X-Veil-Domain header; `--domain` in the CLI), and alone makes and removes domains.
import { ManagerError } from '../manager-client/errors.js';
import { KEY_ALGORITHMS, type DomainView, type KeyAlgorithm } from '../manager-client/types.js';
import type { DomainRow, ManagerStore } from './store/store.js';

export const ROOT_DOMAIN = 'root';
/** The request header naming the domain a root administrator works in. */
export const DOMAIN_HEADER = 'x-veil-domain';

const NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;

const badRequest = (message: string) => new ManagerError('VEIL_DOMAIN_BAD_REQUEST', message);

function view(row: DomainRow): DomainView {
  return {
    name: row.name,
    parent: row.parent,
    keyAlgorithm: row.keyAlgorithm,
    createdAt: new Date(row.createdAt).toISOString(),
  };
}

/**
 * The domain a request works in: the caller's own, or for a root administrator the one the
 * header names. Naming another domain is refused the same whether it exists or not, so a
 * domain's administrators learn nothing of the others.
 */
export function requestDomain(store: ManagerStore, callerDomain: string, header: unknown): string {
  if (header === undefined || header === '' || header === callerDomain) return callerDomain;
  if (typeof header !== 'string' || !NAME.test(header)) {
    throw badRequest(`${DOMAIN_HEADER} names a domain: lower-case letters, digits, ".", "_" or "-"`);
  }
  if (callerDomain !== ROOT_DOMAIN) {
    throw new ManagerError(
      'VEIL_DOMAIN_FORBIDDEN',
      `you administer domain ${callerDomain} only; ${header} is not yours`,
    );
  }
  if (!store.domainRow(header)) throw new ManagerError('VEIL_DOMAIN_UNKNOWN', `there is no domain ${header}`);
  return header;
}

export class DomainService {
  /** `store`: the manager's own (every domain); `callerDomain`: the administrator's domain. */
  constructor(
    private readonly store: ManagerStore,
    private readonly callerDomain: string,
    private readonly now: () => number = Date.now,
  ) {}

  /** The root administrators see every domain; the others see their own. */
  list(): DomainView[] {
    const rows = this.store.domains();
    return (this.isRoot() ? rows : rows.filter((row) => row.name === this.callerDomain)).map(view);
  }

  domain(name: string): DomainView {
    return view(this.row(name));
  }

  create(body: unknown): DomainView {
    this.requireRoot('make a domain');
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw badRequest('a domain is a JSON object: {"name": …, "keyAlgorithm": …}');
    }
    const { name, keyAlgorithm = 'aes-256' } = body as Record<string, unknown>;
    if (typeof name !== 'string' || !NAME.test(name)) {
      throw badRequest(
        'a domain name is 1 to 64 lower-case letters, digits, ".", "_" or "-", starting with a letter or digit',
      );
    }
    if (!KEY_ALGORITHMS.includes(keyAlgorithm as KeyAlgorithm)) {
      throw badRequest(`keyAlgorithm is one of ${KEY_ALGORITHMS.join(', ')}`);
    }
    const row: DomainRow = {
      name,
      parent: ROOT_DOMAIN,
      keyAlgorithm: keyAlgorithm as KeyAlgorithm,
      createdAt: this.now(),
    };
    return this.store.transaction(() => {
      if (this.store.domainRow(name))
        throw new ManagerError('VEIL_DOMAIN_NAME_TAKEN', `there is a domain ${name} already`);
      this.store.insertDomain(row);
      return view(row);
    });
  }

  /** Only an empty domain goes: its keys would otherwise be lost with no one to administer them. */
  remove(name: string): DomainView {
    this.requireRoot('remove a domain');
    if (name === ROOT_DOMAIN) throw badRequest('the root domain stays');
    return this.store.transaction(() => {
      const row = this.row(name);
      const held = this.store.domainContents(name);
      if (held > 0) {
        throw new ManagerError(
          'VEIL_DOMAIN_NOT_EMPTY',
          `domain ${name} still holds ${held} keys, tokens, hosts, groups, policies, guard points or users: remove them first`,
        );
      }
      this.store.deleteDomain(name);
      return view(row);
    });
  }

  private isRoot(): boolean {
    return this.callerDomain === ROOT_DOMAIN;
  }

  private requireRoot(what: string): void {
    if (!this.isRoot()) {
      throw new ManagerError('VEIL_DOMAIN_FORBIDDEN', `only an administrator of the root domain may ${what}`);
    }
  }

  private row(name: string): DomainRow {
    const row = this.isRoot() || name === this.callerDomain ? this.store.domainRow(name) : undefined;
    if (!row) throw new ManagerError('VEIL_DOMAIN_UNKNOWN', `there is no domain ${name}`);
    return row;
  }
}
