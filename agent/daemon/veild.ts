// veild: the Veil agent daemon. Reads its configuration, opens the control socket for
// agentctl, links to the manager the host registered with and guards what it assigns.
// Under systemd (Type=notify) it says READY=1 once its guard points are up.
import { Command } from 'commander';

import { errorReport } from '../../common/errors.js';
import { DEFAULT_CONFIG_FILE, loadAgentConfig, socketPath } from '../config/agent_config.js';
import { startControlServer } from '../control/control_server.js';
import { systemdNotify } from '../mounts/host_native.js';
import { Agent } from './agent.js';
import { makeLog } from './logger.js';

/** How long readiness waits for the manager's first guard points and keys. */
const READY_WAIT_MS = 30_000;

function die(error: unknown): never {
  const { code, message } = errorReport(error);
  process.stderr.write(`veild: error: ${message} (${code})\n`);
  process.exit(1);
}

async function main(options: { config: string }): Promise<void> {
  const log = makeLog();
  // The service manager may be gone (or never there): a failed notice is logged, never fatal.
  const notify = (state: string): void => {
    try {
      systemdNotify(state);
    } catch (error) {
      log('warning', (error as Error).message);
    }
  };
  const config = loadAgentConfig(options.config, options.config !== DEFAULT_CONFIG_FILE);
  const agent = new Agent(config, log);
  const server = await startControlServer(socketPath(config), (request, send, closed) =>
    agent.handle(request, send, closed),
  );
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log('info', `${signal}: releasing guard points`);
    notify('STOPPING=1');
    server.close();
    agent
      .stop()
      .then(() => {
        log('info', 'stopped');
        process.exit(0);
      })
      .catch((error: unknown) => {
        log('error', `stopping: ${(error as Error).message}`);
        process.exit(1);
      });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  agent.start();
  log('info', `veild listening on ${socketPath(config)}`);
  const up = await agent.ready(READY_WAIT_MS);
  const summary = agent.summary();
  notify(`READY=1\nSTATUS=${up ? summary : `${summary} (still waiting for the manager)`}`);
  log('info', `ready: ${summary}`);
}

const program = new Command('veild')
  .description("The Veil agent daemon: guards this host's directories as its manager says (see agentctl)")
  .option('--config <file>', 'the agent configuration', DEFAULT_CONFIG_FILE)
  .showHelpAfterError()
  .action(async (options: { config: string }) => {
    try {
      await main(options);
    } catch (error) {
      die(error);
    }
  });

await program.parseAsync();
