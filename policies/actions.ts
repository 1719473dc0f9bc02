// The action vocabulary of security rules and its bitmask. A request names one
// fine-grained action; a rule holds a mask, and matches when the request's bit is in it.

/**
 * One bit per fine-grained action. The compiled decision table carries masks of these
 * bits and the native evaluator mirrors this table: changing, reusing or reordering a bit
 * is a change of the table format (bump DECISION_TABLE_FORMAT in compile.ts). New actions
 * take the next free bit.
 */
export const ACTION_BITS = Object.freeze({
  f_rd: 0,
  f_wr: 1,
  f_wr_app: 2,
  f_cre: 3,
  f_ren: 4,
  f_rm: 5,
  f_rd_att: 6,
  f_chg_att: 7,
  f_rd_sec: 8,
  f_chg_sec: 9,
  d_rd: 10,
  d_mkdir: 11,
  d_rmdir: 12,
  d_rd_att: 13,
  d_chg_att: 14,
  d_rd_sec: 15,
  exec: 16,
  key_op: 17,
} as const);

/** An action one operation asks for. */
export type FineAction = keyof typeof ACTION_BITS;

export const FINE_ACTIONS = Object.freeze(Object.keys(ACTION_BITS) as FineAction[]);

/** The names a rule may list: the fine-grained actions and the groups below. */
export const GROUP_ACTIONS = Object.freeze(['read', 'write', 'all_ops'] as const);
export type GroupAction = (typeof GROUP_ACTIONS)[number];
export type ActionName = FineAction | GroupAction;

function bits(...names: FineAction[]): number {
  return names.reduce((mask, name) => mask | (1 << ACTION_BITS[name]), 0);
}

/**
 * What each name in a rule's `actions` stands for. `f_wr` covers appends too: writing
 * anywhere includes writing at the end, so a rule about `f_wr` also decides `f_wr_app`,
 * while a rule about `f_wr_app` alone decides appends only. `exec` is in neither `read`
 * nor `write`: running code from a guard point is granted on its own. `key_op` is only in
 * `all_ops`.
 */
export const ACTION_MASKS: Readonly<Record<ActionName, number>> = Object.freeze({
  ...(Object.fromEntries(FINE_ACTIONS.map((name) => [name, bits(name)])) as Record<FineAction, number>),
  f_wr: bits('f_wr', 'f_wr_app'),
  read: bits('f_rd', 'f_rd_att', 'f_rd_sec', 'd_rd', 'd_rd_att', 'd_rd_sec'),
  write: bits(
    'f_wr',
    'f_wr_app',
    'f_cre',
    'f_ren',
    'f_rm',
    'f_chg_att',
    'f_chg_sec',
    'd_mkdir',
    'd_rmdir',
    'd_chg_att',
  ),
  all_ops: bits(...FINE_ACTIONS),
});

export const ACTION_NAMES = Object.freeze(Object.keys(ACTION_MASKS) as ActionName[]);

/** The mask of a rule's action list. */
export function actionMask(names: readonly ActionName[]): number {
  return names.reduce((mask, name) => mask | ACTION_MASKS[name], 0);
}

/** The bit of the one action a request asks for. */
export function actionBit(action: FineAction): number {
  if (!Object.hasOwn(ACTION_BITS, action)) {
    throw new TypeError(`"${String(action)}" is not a fine-grained action`);
  }
  return 1 << ACTION_BITS[action];
}
