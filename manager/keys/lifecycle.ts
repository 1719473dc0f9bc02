// Key version states and their transitions, as NIST SP 800-57 Part 1 Rev. 5 §7 numbers
// them (../shared/reference/nist-800-57-key-states.md). Every other (from, to) pair is
// refused; docs/keys.md maps the states to KMIP 2.1.
import { ManagerError } from '../../manager-client/errors.js';
import type { KeyState } from '../../manager-client/types.js';

export interface Transition {
  /** Its number in §7. */
  number: number;
  from: KeyState;
  to: KeyState;
  when: string;
}

/** Transition 1, generation, enters pre-activation (or active, with 1 then 4 at once). */
export const GENERATION = 1;

export const TRANSITIONS: readonly Transition[] = [
  { number: 2, from: 'pre-activation', to: 'destroyed', when: 'no longer needed' },
  { number: 3, from: 'pre-activation', to: 'compromised', when: 'integrity or confidentiality suspect' },
  { number: 4, from: 'pre-activation', to: 'active', when: 'activation date reached, or activated' },
  { number: 5, from: 'active', to: 'destroyed', when: 'cryptoperiod over, no later processing needed' },
  { number: 6, from: 'active', to: 'compromised', when: 'compromise' },
  { number: 7, from: 'active', to: 'suspended', when: 'e.g. while a possible compromise is investigated' },
  { number: 8, from: 'active', to: 'deactivated', when: 'end of the originator-usage period, or replaced' },
  { number: 9, from: 'suspended', to: 'destroyed', when: 'no compromise; end of usage' },
  { number: 10, from: 'suspended', to: 'active', when: 'reinstated within the originator-usage period' },
  { number: 11, from: 'suspended', to: 'compromised', when: 'compromise suspected or confirmed' },
  { number: 12, from: 'suspended', to: 'deactivated', when: 'reinstated after the originator-usage period' },
  { number: 13, from: 'deactivated', to: 'destroyed', when: 'no longer needed for processing' },
  { number: 14, from: 'deactivated', to: 'compromised', when: 'compromise' },
  { number: 15, from: 'compromised', to: 'destroyed', when: 'no longer needed' },
];

/** The §7 transition from one state to another; refused with a sentence for anything else. */
export function transitionFor(from: KeyState, to: KeyState): Transition {
  const found = TRANSITIONS.find((t) => t.from === from && t.to === to);
  if (found) return found;
  const allowed = TRANSITIONS.filter((t) => t.from === from).map((t) => t.to);
  throw new ManagerError(
    'VEIL_KEY_TRANSITION_REFUSED',
    from === to
      ? `the key version is already ${to}`
      : `a ${from} key version cannot become ${to} (NIST SP 800-57 §7); ` +
          (allowed.length === 0 ? `${from} is final` : `from ${from} it can become ${allowed.join(', ')}`),
  );
}

/** What a version in each state may do (§7): only an active one protects new data. */
export const USAGE: Readonly<Record<KeyState, { protect: boolean; process: boolean }>> = {
  'pre-activation': { protect: false, process: false },
  active: { protect: true, process: true },
  suspended: { protect: false, process: true },
  deactivated: { protect: false, process: true },
  compromised: { protect: false, process: true },
  destroyed: { protect: false, process: false },
};

/**
 * KMIP 2.1 has no suspended state: a suspended version shows as Deactivated (its
 * reinstatement is Veil's own), and a destroyed version that was compromised as
 * Destroyed Compromised.
 */
export function kmipState(state: KeyState, wasCompromised: boolean): string {
  switch (state) {
    case 'pre-activation':
      return 'Pre-Active';
    case 'active':
      return 'Active';
    case 'suspended':
    case 'deactivated':
      return 'Deactivated';
    case 'compromised':
      return 'Compromised';
    case 'destroyed':
      return wasCompromised ? 'Destroyed Compromised' : 'Destroyed';
  }
}
