// Verifying the audit trail (docs/audit.md): the whole chain walked from record 1, each
// mac recomputed, each checkpoint's signature checked against the record it names, and
// optionally a checkpoint an auditor kept, which proves the trail still reaches it: the
// one thing a trail cut at its end cannot show by itself.
import { createPublicKey } from 'node:crypto';

import { ManagerError } from '../../manager-client/errors.js';
import type { AuditCheckpoint, AuditVerification } from '../../manager-client/types.js';
import {
  CHECKPOINT_FORMAT,
  GENESIS_MAC,
  canonicalRecord,
  chainMac,
  checkpointSignatureValid,
  type Checkpoint,
} from './audit_chain.js';
import type { AuditDb } from './audit_db.js';
import type { AuditKeys } from './audit_keys.js';

type Problem = NonNullable<AuditVerification['firstBad']>;

const bad = (message: string) => new ManagerError('VEIL_AUDIT_BAD_REQUEST', message);

const iso = (ms: number): string => (Number.isFinite(ms) ? new Date(ms).toISOString() : String(ms));

/** A checkpoint as an auditor hands it back (a file, a request body), checked field by field. */
export function parseCheckpoint(value: unknown): AuditCheckpoint {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw bad('a checkpoint is a JSON object, as `veil-manager audit checkpoint` writes it');
  }
  const c = value as Record<string, unknown>;
  if (c.format !== CHECKPOINT_FORMAT) throw bad(`a checkpoint's format is ${CHECKPOINT_FORMAT}`);
  if (typeof c.seq !== 'number' || !Number.isSafeInteger(c.seq) || c.seq < 1) {
    throw bad("a checkpoint's seq is a whole number from 1");
  }
  if (typeof c.mac !== 'string' || !/^[0-9a-f]{64}$/.test(c.mac)) {
    throw bad("a checkpoint's mac is 64 lower-case hex digits");
  }
  if (typeof c.time !== 'number' || !Number.isSafeInteger(c.time)) {
    throw bad("a checkpoint's time is ms since the epoch");
  }
  if (typeof c.signature !== 'string' || !/^[A-Za-z0-9+/]{86}==$/.test(c.signature)) {
    throw bad("a checkpoint's signature is the base64 of 64 bytes");
  }
  if (typeof c.publicKey !== 'string' || c.publicKey.length > 1024) {
    throw bad("a checkpoint's publicKey is the trail's Ed25519 public key (PEM)");
  }
  return {
    format: CHECKPOINT_FORMAT,
    seq: c.seq,
    mac: c.mac,
    time: c.time,
    signature: c.signature,
    publicKey: c.publicKey,
    publicKeyFingerprint: typeof c.publicKeyFingerprint === 'string' ? c.publicKeyFingerprint : '',
  };
}

/** Whether `pem` is the trail's public key; a PEM that is no key at all is not. */
function samePublicKey(keys: AuditKeys, pem: string): boolean {
  try {
    return createPublicKey(pem).equals(keys.publicKey);
  } catch {
    return false;
  }
}

/** What is wrong with a checkpoint of the trail at a record whose stored mac is `mac`, if anything. */
function checkpointProblem(
  keys: AuditKeys,
  point: Checkpoint,
  mac: string,
  what: string,
): string | undefined {
  if (!checkpointSignatureValid(keys.publicKey, point)) {
    return `${what} at record ${point.seq}: its signature does not verify`;
  }
  if (point.mac !== mac) return `record ${point.seq}: MAC differs from the one ${what} signed`;
  return undefined;
}

/** The walk: the first problem of the records and their own checkpoints, by seq. */
function walk(
  db: AuditDb,
  keys: AuditKeys,
  wanted: number | undefined,
): { records: number; checkpoints: number; lastSeq: number; wantedMac?: string; firstBad?: Problem } {
  const stored = db.checkpoints();
  const bySeq = new Map(stored.map((point) => [point.seq, point]));
  let expected = 1;
  let previousMac = GENESIS_MAC;
  let checkpoints = 0;
  let wantedMac: string | undefined;
  const result = (firstBad?: Problem) => ({
    records: expected - 1,
    checkpoints,
    lastSeq: expected - 1,
    wantedMac,
    firstBad,
  });
  for (const row of db.records()) {
    const seq = row.seq as number;
    if (seq !== expected) {
      if (seq === expected - 1) return result({ seq, problem: `record ${seq} appears twice` });
      return result({
        seq: expected,
        problem:
          expected === 1
            ? `record 1 missing (the trail starts at ${seq})`
            : `record ${expected} missing (${expected - 1} is followed by ${seq})`,
      });
    }
    const mac = chainMac(keys.hmac, previousMac, canonicalRecord(row, row.details));
    if (mac !== row.mac) return result({ seq, problem: `record ${seq}: MAC does not match` });
    const point = bySeq.get(seq);
    if (point) {
      const problem = checkpointProblem(keys, point, row.mac, 'the checkpoint');
      if (problem) return result({ seq, problem });
      checkpoints += 1;
    }
    if (seq === wanted) wantedMac = row.mac;
    previousMac = row.mac;
    expected += 1;
  }
  const beyond = stored.find((point) => point.seq >= expected);
  if (beyond) {
    return result({
      seq: expected,
      problem:
        `record ${expected} missing: the trail ends at ${expected - 1}, but its checkpoint of ` +
        `${iso(beyond.time)} reaches ${beyond.seq} (records were cut from its end)`,
    });
  }
  return result();
}

/** Whether a checkpoint the auditor kept is still reached by the trail, with the same mac. */
function givenProblem(
  keys: AuditKeys,
  given: AuditCheckpoint,
  lastSeq: number,
  mac: string | undefined,
): Problem | undefined {
  if (!samePublicKey(keys, given.publicKey)) {
    return {
      seq: given.seq,
      problem: `the given checkpoint of record ${given.seq} was signed by another key than this trail's (${keys.publicKeyFingerprint})`,
    };
  }
  if (!checkpointSignatureValid(keys.publicKey, given)) {
    return {
      seq: given.seq,
      problem: `the given checkpoint of record ${given.seq}: its signature does not verify`,
    };
  }
  if (mac === undefined) {
    return {
      seq: lastSeq + 1,
      problem:
        `record ${lastSeq + 1} missing: the trail ends at ${lastSeq}, but the given checkpoint of ` +
        `${iso(given.time)} reaches ${given.seq} (records were cut from its end)`,
    };
  }
  const problem = checkpointProblem(keys, given, mac, 'the given checkpoint');
  return problem === undefined ? undefined : { seq: given.seq, problem };
}

/** Walks the whole trail; with `given`, also proves the trail reaches that checkpoint. */
export function verifyTrail(db: AuditDb, keys: AuditKeys, given?: AuditCheckpoint): AuditVerification {
  const walked = walk(db, keys, given?.seq);
  const firstBad =
    walked.firstBad ?? (given ? givenProblem(keys, given, walked.lastSeq, walked.wantedMac) : undefined);
  return {
    ok: firstBad === undefined,
    records: walked.records,
    checkpoints: walked.checkpoints,
    lastSeq: db.tip()?.seq ?? 0,
    publicKeyFingerprint: keys.publicKeyFingerprint,
    ...(given ? { against: given.seq } : {}),
    ...(firstBad ? { firstBad } : {}),
  };
}
