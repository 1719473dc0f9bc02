// The manager's error codes, shared by the manager and its one client: each with the HTTP
// status the API answers it with. Codes are never reused (common/errors.ts).
import { VeilError } from '../common/errors.js';

export const MANAGER_ERRORS = {
  VEIL_KEY_TRANSITION_REFUSED: 409,
  VEIL_KEY_UNKNOWN: 404,
  VEIL_KEY_NAME_TAKEN: 409,
  VEIL_KEY_IN_USE: 409,
  VEIL_KEY_BAD_REQUEST: 400,
  VEIL_STORE_UNAVAILABLE: 503,
  VEIL_MASTER_KEY_UNUSABLE: 500,
  VEIL_CA_UNUSABLE: 500,
  VEIL_REGISTRATION_BAD_CSR: 400,
  VEIL_REGISTRATION_BAD_REQUEST: 400,
  VEIL_REGISTRATION_BAD_TRANSPORT_KEY: 400,
  VEIL_REGISTRATION_TOKEN_INVALID: 401,
  VEIL_REGISTRATION_TOKEN_EXPIRED: 403,
  VEIL_REGISTRATION_TOKEN_USED_UP: 403,
  VEIL_HOST_NAME_TAKEN: 409,
  VEIL_HOST_UNKNOWN: 404,
  VEIL_HOST_BAD_REQUEST: 400,
  VEIL_HOST_REPORT_BAD_REQUEST: 400,
  VEIL_POLICY_REJECTED: 400,
  VEIL_POLICY_UNKNOWN: 404,
  VEIL_GUARD_POINT_BAD_REQUEST: 400,
  VEIL_GUARD_POINT_UNKNOWN: 404,
  VEIL_REQUEST_BAD_JSON: 400,
  VEIL_REQUEST_BAD_CONTENT_TYPE: 415,
  VEIL_REQUEST_TOO_LARGE: 413,
  VEIL_REQUEST_NOT_FOUND: 404,
  VEIL_REQUEST_BAD_METHOD: 405,
  VEIL_REQUEST_UPGRADE_REQUIRED: 426,
  VEIL_AUTH_ADMIN_REQUIRED: 401,
  VEIL_AUTH_HOST_REQUIRED: 401,
  VEIL_AUTH_ROLE_REQUIRED: 403,
  VEIL_USER_BAD_REQUEST: 400,
  VEIL_USER_UNKNOWN: 404,
  VEIL_USER_NAME_TAKEN: 409,
  VEIL_USER_LAST_ADMIN: 409,
  VEIL_API_KEY_UNKNOWN: 404,
  VEIL_INTERNAL: 500,
  VEIL_MANAGER_UNREACHABLE: 503,
  VEIL_MANAGER_CA_MISMATCH: 502,
} as const;

export type ManagerErrorCode = keyof typeof MANAGER_ERRORS;

export function isManagerErrorCode(code: unknown): code is ManagerErrorCode {
  return typeof code === 'string' && Object.hasOwn(MANAGER_ERRORS, code);
}

export class ManagerError extends VeilError<ManagerErrorCode> {
  constructor(code: ManagerErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'ManagerError';
  }

  get status(): number {
    return MANAGER_ERRORS[this.code];
  }
}
