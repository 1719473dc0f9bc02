// The shape of a policy as policies/schema/policy.schema.json defines it. parsePolicy
// returns a value of this type only after the schema and the semantic checks passed.
import type { KeyRef } from '../native/core.js';
import type { ActionName } from './actions.js';

export type { KeyRef };

/** An exact key version, or `clear_key` for files that stay plaintext. */
export type KeySpec = KeyRef | 'clear_key';

/**
 * A key named without a version: the version active on the host when the policy is
 * compiled, so new files follow rotations. Only key rules may name a key this way.
 */
export interface ActiveKeyRef {
  keyId: string;
  version?: undefined;
}

/** What a key rule names: an exact version, a key's active version, or `clear_key`. */
export type KeyRuleSpec = KeyRef | ActiveKeyRef | 'clear_key';

export interface ResourceSet {
  description?: string;
  include: string[];
  exclude?: string[];
}

export interface UserSet {
  description?: string;
  users?: string[];
  uids?: number[];
  groups?: string[];
  gids?: number[];
}

export interface SignatureSet {
  description?: string;
  sha256: string[];
}

export interface ProcessSet {
  description?: string;
  executables: string[];
  signatureSet?: string;
}

/** The three sets a security rule can name, and negate. */
export type SetKind = 'resourceSet' | 'userSet' | 'processSet';
export const SET_KINDS: readonly SetKind[] = Object.freeze(['resourceSet', 'userSet', 'processSet']);

export type Effect = 'permit' | 'deny' | 'apply_key' | 'audit';

export interface SecurityRule {
  description?: string;
  resourceSet?: string;
  userSet?: string;
  processSet?: string;
  not?: SetKind[];
  actions: ActionName[];
  effect: Effect[];
}

export interface KeyRule {
  description?: string;
  resourceSet?: string;
  key: KeyRuleSpec;
}

export interface DataTransformationRule {
  description?: string;
  resourceSet?: string;
  currentKey: KeySpec;
  transformationKey: KeySpec;
}

export interface Policy {
  $schema?: string;
  name: string;
  description?: string;
  learnMode?: boolean;
  resourceSets?: Record<string, ResourceSet>;
  userSets?: Record<string, UserSet>;
  signatureSets?: Record<string, SignatureSet>;
  processSets?: Record<string, ProcessSet>;
  securityRules: SecurityRule[];
  keyRules: KeyRule[];
  dataTransformationRules?: DataTransformationRule[];
}
