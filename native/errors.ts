import { VeilError } from '../common/errors.js';

/** Every code the native core throws, documented in docs/format.md and docs/protocol.md. */
export const NATIVE_ERROR_CODES = [
  'VEIL_INVALID_ARGUMENT',
  'VEIL_CRYPTO_FAILED',
  'VEIL_CRYPTO_AUTH_FAILED',
  'VEIL_FORMAT_BAD_MAGIC',
  'VEIL_FORMAT_UNSUPPORTED_VERSION',
  'VEIL_FORMAT_UNKNOWN_FEATURE',
  'VEIL_FORMAT_CORRUPT_HEADER',
  'VEIL_FORMAT_TRUNCATED',
  'VEIL_KEY_NOT_FOUND',
  'VEIL_KEY_NOT_ACTIVE',
  'VEIL_KEY_INVALID',
  'VEIL_KEY_FILE_UNREADABLE',
  'VEIL_KEY_HANDLE_CLOSED',
  'VEIL_MEMORY_LOCK_FAILED',
  'VEIL_DELIVERY_WRONG_HOST',
  'VEIL_DELIVERY_REPLAYED',
  'VEIL_DELIVERY_REJECTED',
  'VEIL_OFFLINE_NO_CHALLENGE',
  'VEIL_OFFLINE_UNLOCK_FAILED',
  'VEIL_FS_BAD_DIRECTORY',
  'VEIL_FS_MOUNT_FAILED',
  'VEIL_FS_PLAINTEXT_PRESENT',
  'VEIL_FS_WRONG_KEY',
  'VEIL_FS_UNMOUNTED_EXTERNALLY',
  'VEIL_FS_NO_KEY_RULE',
  'VEIL_FS_REPAIR_FAILED',
  'VEIL_SYSTEMD_NOTIFY_FAILED',
] as const;

export type NativeErrorCode = (typeof NATIVE_ERROR_CODES)[number];

/** An error raised by the native core or by the argument checks in front of it. */
export class VeilNativeError extends VeilError<NativeErrorCode> {
  constructor(code: NativeErrorCode, message: string) {
    super(code, message);
    this.name = 'VeilNativeError';
  }
}
