// veil-manager domain …: the manager's domains (docs/administration.md, "Domains"). Only
// the root domain's administrators make and remove them; anyone lists what they may see.
import type { Command } from 'commander';
import { Option } from 'commander';

import { KEY_ALGORITHMS, type DomainView, type KeyAlgorithm } from '../../manager-client/types.js';
import type { CommandHelpers } from './command_helpers.js';

type Helpers<C> = CommandHelpers<C>;

const line = (d: DomainView): string =>
  `${d.name}  ${d.keyAlgorithm}  ${d.parent === null ? '(root)' : `under ${d.parent}`}  made ${d.createdAt}`;

export function addDomainCommands<C>(program: Command, { connectionOptions, act }: Helpers<C>): void {
  const domain = program
    .command('domain')
    .description('domains: isolated namespaces of keys, hosts, policies and administrators');
  connectionOptions(domain.command('list').description('the domains you may see')).action((options: C) =>
    act(
      options,
      (api) => api.domains(),
      (domains) => domains.map(line).join('\n'),
    ),
  );
  connectionOptions(domain.command('show <name>').description('one domain')).action(
    (name: string, options: C) => act(options, (api) => api.domain(name), line),
  );
  connectionOptions(
    domain
      .command('create <name>')
      .description('make a domain under the root domain (root domain administrators)')
      .addOption(
        new Option('--key-algorithm <algorithm>', "the algorithm of the domain's new keys")
          .choices(KEY_ALGORITHMS)
          .default('aes-256'),
      ),
  ).action((name: string, options: C & { keyAlgorithm: KeyAlgorithm }) =>
    act(options, (api) => api.createDomain({ name, keyAlgorithm: options.keyAlgorithm }), line),
  );
  connectionOptions(domain.command('remove <name>').description('remove an empty domain')).action(
    (name: string, options: C) =>
      act(
        options,
        (api) => api.removeDomain(name),
        (d) => `removed domain ${d.name}`,
      ),
  );
}
