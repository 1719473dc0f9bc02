// The agent's error registry (veild and agentctl): each code with the exit status agentctl
// gives it. docs/errors.md lists the same codes, and a test holds the two together.
import { VeilError } from '../common/errors.js';

export const AGENT_ERRORS = {
  VEIL_AGENT_CONFIG_INVALID: 1,
  VEIL_AGENT_STATE_INVALID: 1,
  VEIL_AGENT_ALREADY_RUNNING: 1,
  VEIL_AGENT_NOT_RUNNING: 3,
  VEIL_AGENT_PERMISSION_DENIED: 1,
  VEIL_AGENT_BAD_REQUEST: 2,
  VEIL_AGENT_NOT_REGISTERED: 1,
  VEIL_AGENT_ALREADY_REGISTERED: 1,
  VEIL_AGENT_FINGERPRINT_REQUIRED: 1,
  VEIL_AGENT_FINGERPRINT_MISMATCH: 1,
  VEIL_AGENT_NO_GUARD_POINT: 1,
  VEIL_AGENT_GUARD_AUTOMATIC: 1,
  VEIL_AGENT_NOT_LOCKED: 1,
  VEIL_AGENT_NO_SEALED_KEYS: 1,
  VEIL_AGENT_NO_OFFLINE_PASSWORD: 1,
} as const;

export type AgentErrorCode = keyof typeof AGENT_ERRORS;

export function isAgentErrorCode(code: unknown): code is AgentErrorCode {
  return typeof code === 'string' && Object.hasOwn(AGENT_ERRORS, code);
}

export class AgentError extends VeilError<AgentErrorCode> {
  constructor(code: AgentErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'AgentError';
  }
}
