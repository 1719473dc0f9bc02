// /etc/veil/agent.json: where veild keeps its state and socket, and how it guards. Every
// field is optional; a missing file means the defaults. Anything else the file says that
// is not understood is refused whole, with the field named, before veild does anything.
import { readFileSync } from 'node:fs';
import path from 'node:path';

import { Ajv, type ErrorObject } from 'ajv';

import { AgentError } from '../errors.js';
import { TIME_WINDOW, type QosSettings } from '../ldt/throttle.js';

export const DEFAULT_CONFIG_FILE = '/etc/veil/agent.json';

export interface AgentConfig {
  /** Registration, certificate, the last guard points and policies; 0700, files 0600. */
  stateDirectory: string;
  /** The control socket agentctl talks to. */
  runtimeDirectory: string;
  cipher: 'aes-256-gcm' | 'aes-256-xts';
  /** FUSE threads per guard point. */
  threads: number;
  /** How often the agent asks the manager for everything again, in case an event was missed. */
  syncIntervalSeconds: number;
  /** How often queued reports (denials, tamper events) go to the manager. */
  reportIntervalSeconds: number;
  /** The longest wait between two attempts to reach the manager. */
  maxBackoffSeconds: number;
  /** Renew the host certificate when fewer days than this are left (default: a third of its life). */
  certificateRenewalDays?: number;
  /** Live data transformation's quality of service (docs/ldt.md); `agentctl ldt set` overrides it. */
  rekey?: Partial<QosSettings>;
}

export const DEFAULT_CONFIG: AgentConfig = {
  stateDirectory: '/var/lib/veil',
  runtimeDirectory: '/run/veil',
  cipher: 'aes-256-gcm',
  threads: 8,
  syncIntervalSeconds: 300,
  reportIntervalSeconds: 10,
  maxBackoffSeconds: 60,
};

const absolutePath = { type: 'string', minLength: 2, maxLength: 1024, pattern: '^/[^\\u0000]*$' };

const SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    stateDirectory: absolutePath,
    runtimeDirectory: absolutePath,
    cipher: { enum: ['aes-256-gcm', 'aes-256-xts'] },
    threads: { type: 'integer', minimum: 1, maximum: 64 },
    syncIntervalSeconds: { type: 'integer', minimum: 1, maximum: 86400 },
    reportIntervalSeconds: { type: 'integer', minimum: 1, maximum: 3600 },
    maxBackoffSeconds: { type: 'integer', minimum: 1, maximum: 3600 },
    certificateRenewalDays: { type: 'integer', minimum: 1, maximum: 3650 },
    rekey: {
      type: 'object',
      additionalProperties: false,
      properties: {
        rateMBps: { type: 'number', minimum: 0, maximum: 100000 },
        cpuShare: { type: 'number', minimum: 0.01, maximum: 1 },
        windows: { type: 'array', maxItems: 48, items: { type: 'string', pattern: TIME_WINDOW } },
      },
    },
  },
} as const;

const validate = new Ajv({ allErrors: true, strict: true }).compile(SCHEMA);

function describe(error: ErrorObject): string {
  const where = error.instancePath === '' ? 'the file' : error.instancePath.slice(1);
  if (error.keyword === 'additionalProperties') {
    const extra = (error.params as { additionalProperty: string }).additionalProperty;
    return `${extra} is not a setting (settings: ${Object.keys(SCHEMA.properties).join(', ')})`;
  }
  if (error.keyword === 'pattern') return `${where} must be an absolute path`;
  return `${where} ${error.message ?? 'is not valid'}`;
}

/** Reads and checks the configuration; `file` need not exist unless `required`. */
export function loadAgentConfig(file: string, required = false): AgentConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' && !required) return { ...DEFAULT_CONFIG };
    throw new AgentError('VEIL_AGENT_CONFIG_INVALID', `cannot read ${file}: ${(error as Error).message}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new AgentError('VEIL_AGENT_CONFIG_INVALID', `${file} is not JSON: ${(error as Error).message}`);
  }
  if (!validate(value)) {
    const problems = (validate.errors ?? []).map(describe).join('; ');
    throw new AgentError('VEIL_AGENT_CONFIG_INVALID', `${file}: ${problems}`);
  }
  const config = { ...DEFAULT_CONFIG, ...(value as Partial<AgentConfig>) };
  config.stateDirectory = path.normalize(config.stateDirectory);
  config.runtimeDirectory = path.normalize(config.runtimeDirectory);
  return config;
}

/** The control socket of a configuration. */
export const socketPath = (config: AgentConfig): string => path.join(config.runtimeDirectory, 'agent.sock');
