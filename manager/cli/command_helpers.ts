// What veil_manager.ts lends the modules that add its subcommands (user, domain, audit,
// siem, backup): the options every administrative command takes, and the one way a command
// calls the manager and prints its answer (JSON with --json, else the human form).
import type { Command } from 'commander';

import type { ManagerClient } from '../../manager-client/client.js';

export interface CommandHelpers<C> {
  connectionOptions: (command: Command) => Command;
  act: <T>(
    options: C,
    call: (api: ManagerClient) => Promise<T>,
    human: (result: T) => string,
  ) => Promise<void>;
}
