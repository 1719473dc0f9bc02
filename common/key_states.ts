// The key version states of NIST SP 800-57 Part 1 Rev. 5 §7, in their order there: one
// list for the manager, its client and the native core's key table.
export const KEY_STATES = [
  'pre-activation',
  'active',
  'suspended',
  'deactivated',
  'compromised',
  'destroyed',
] as const;
export type KeyState = (typeof KEY_STATES)[number];
