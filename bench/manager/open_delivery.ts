// What a simulated host does with a key delivery blob (docs/protocol.md, "Key delivery blob"), written
// from the document with node:crypto alone, not with the manager's own code: check the layout and that
// the blob is for this host, unwrap the one-time key K (RSA-OAEP, SHA-256 for hash and MGF1, empty label),
// open the payload with AES-256-GCM under the blob's header and wrapped key as associated data, and list
// its entries (key id, version, state; material is wiped at once). Any failure throws.
import { constants, createDecipheriv, privateDecrypt, type KeyObject } from 'node:crypto';

const MAGIC = Buffer.from([0x89, 0x56, 0x45, 0x49, 0x4c, 0x4b, 0x44, 0x31]);
const HEADER = 62;
const NONCE = 12;
const TAG = 16;
const STATES = ['', 'pre-activation', 'active', 'suspended', 'deactivated', 'compromised', 'destroyed'];

export interface OpenedEntry {
  keyId: string;
  version: number;
  state: string;
  /** False for a withdrawal (no material). */
  installed: boolean;
}

export interface OpenedDelivery {
  deliveryId: string;
  sequence: bigint;
  entries: OpenedEntry[];
}

const uuid = (bytes: Buffer): string => {
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
};

function entriesOf(payload: Buffer): OpenedEntry[] {
  const count = payload.readUInt16BE(0);
  const entries: OpenedEntry[] = [];
  let at = 2;
  for (let i = 0; i < count; i++) {
    if (at + 24 > payload.length) throw new Error('payload truncated');
    const length = payload.readUInt16BE(at + 22);
    if (at + 24 + length > payload.length) throw new Error('payload truncated');
    const state = STATES[payload.readUInt8(at + 20)];
    if (state === undefined || state === '') throw new Error('unknown key state');
    entries.push({
      keyId: uuid(payload.subarray(at, at + 16)),
      version: payload.readUInt32BE(at + 16),
      state,
      installed: length > 0,
    });
    at += 24 + length;
  }
  if (at !== payload.length) throw new Error('bytes follow the last entry');
  return entries;
}

/** Opens the blob as host `hostId` holding `transportKey`; the payload is wiped before returning. */
export function openDelivery(blob: Buffer, hostId: string, transportKey: KeyObject): OpenedDelivery {
  if (
    blob.length < HEADER + NONCE + TAG ||
    !blob.subarray(0, 8).equals(MAGIC) ||
    blob.readUInt16BE(8) !== 1
  ) {
    throw new Error('not a version 1 delivery blob');
  }
  if (uuid(blob.subarray(12, 28)) !== hostId) throw new Error('the delivery is for another host');
  const wrappedLength = blob.readUInt16BE(60);
  const nonceAt = HEADER + wrappedLength;
  if (blob.length < nonceAt + NONCE + TAG) throw new Error('blob shorter than its layout');
  const oneTimeKey = privateDecrypt(
    { key: transportKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
    blob.subarray(HEADER, nonceAt),
  );
  let payload: Buffer | undefined;
  try {
    const decipher = createDecipheriv('aes-256-gcm', oneTimeKey, blob.subarray(nonceAt, nonceAt + NONCE));
    decipher.setAAD(blob.subarray(0, nonceAt));
    decipher.setAuthTag(blob.subarray(blob.length - TAG));
    payload = Buffer.concat([
      decipher.update(blob.subarray(nonceAt + NONCE, blob.length - TAG)),
      decipher.final(),
    ]);
    return {
      deliveryId: uuid(blob.subarray(28, 44)),
      sequence: blob.readBigUInt64BE(44),
      entries: entriesOf(payload),
    };
  } finally {
    oneTimeKey.fill(0);
    payload?.fill(0);
  }
}
