// The policy language: parse and validate a policy, compile it into a host's decision
// table, and the reference evaluator of that table. docs/policy.md describes the language.
export {
  ACTION_BITS,
  ACTION_MASKS,
  ACTION_NAMES,
  FINE_ACTIONS,
  GROUP_ACTIONS,
  actionBit,
  actionMask,
  type ActionName,
  type FineAction,
  type GroupAction,
} from './actions.js';
export { localAccounts, parseAccountFile, type Resolver } from './accounts.js';
export {
  ANY,
  CLEAR_KEY,
  DECISION_TABLE_FORMAT,
  NEGATE,
  canonicalPolicy,
  compilePolicy,
  policyDigest,
  type CompileOptions,
  type CompiledKeyRule,
  type CompiledProcessSet,
  type CompiledResourceSet,
  type CompiledRule,
  type CompiledTransformation,
  type CompiledUserSet,
  type DecisionTable,
  type KnownKey,
} from './compile.js';
export { POLICY_ERROR_CODES, PolicyError, type PolicyErrorCode, type PolicyIssue } from './errors.js';
export { decide, globMatch, selectKey, type Decision, type Request } from './evaluate.js';
export { POLICY_SCHEMA } from './schema.js';
export type * from './types.js';
export { SET_KINDS } from './types.js';
export { MAX_POLICY_BYTES, checkPolicy, loadPolicyFile, parsePolicy } from './validate.js';
