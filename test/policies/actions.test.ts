// The action bits: a format the native evaluator mirrors, so the table is pinned here
// exactly, and the groups expand to what docs/policy.md says.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  ACTION_BITS,
  ACTION_MASKS,
  ACTION_NAMES,
  FINE_ACTIONS,
  POLICY_SCHEMA,
  actionBit,
  actionMask,
  type FineAction,
} from '../../policies/index.js';

test('the bit of every fine-grained action is pinned (changing one is a table format change)', () => {
  assert.deepEqual(
    { ...ACTION_BITS },
    {
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
    },
  );
  assert.ok(Object.isFrozen(ACTION_BITS) && Object.isFrozen(ACTION_MASKS));
});

function covered(name: (typeof ACTION_NAMES)[number]): FineAction[] {
  return FINE_ACTIONS.filter((action) => (ACTION_MASKS[name] & actionBit(action)) !== 0);
}

test('read, write and all_ops cover what docs/policy.md says', () => {
  assert.deepEqual(covered('read'), ['f_rd', 'f_rd_att', 'f_rd_sec', 'd_rd', 'd_rd_att', 'd_rd_sec']);
  assert.deepEqual(covered('write'), [
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
  ]);
  assert.deepEqual(covered('all_ops'), [...FINE_ACTIONS]);
  assert.equal(ACTION_MASKS.all_ops, 2 ** 18 - 1);
  // Every fine-grained action is in all_ops; exec and key_op only there.
  assert.deepEqual(
    FINE_ACTIONS.filter((a) => !covered('read').includes(a) && !covered('write').includes(a)),
    ['exec', 'key_op'],
  );
});

test('f_wr covers appends; f_wr_app covers only appends; other names only themselves', () => {
  assert.deepEqual(covered('f_wr'), ['f_wr', 'f_wr_app']);
  assert.deepEqual(covered('f_wr_app'), ['f_wr_app']);
  for (const action of FINE_ACTIONS.filter((a) => a !== 'f_wr')) assert.deepEqual(covered(action), [action]);
  assert.equal(actionMask(['f_rd', 'exec']), actionBit('f_rd') | actionBit('exec'));
  assert.equal(actionMask([]), 0);
});

test('a request for a group or unknown action is a programming error', () => {
  for (const name of ['read', 'all_ops', 'constructor', 'toString', '']) {
    assert.throws(() => actionBit(name as FineAction), TypeError);
  }
});

test('the schema lists exactly the action names', () => {
  type Defs = Record<string, { properties: Record<string, { items: { enum: string[] } }> }>;
  const listed = (POLICY_SCHEMA.$defs as Defs).securityRule.properties.actions.items.enum;
  assert.deepEqual([...listed].sort(), [...ACTION_NAMES].sort());
});
