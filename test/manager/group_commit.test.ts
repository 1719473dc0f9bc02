// GroupCommit on a real SQLite database: the units of one turn share one transaction, a unit that
// throws is undone alone, and under load the units of the turns after a group wait for the next one.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import Database from 'better-sqlite3';

import { GroupCommit } from '../../manager/store/group_commit.js';

function counted() {
  const db = new Database(':memory:');
  db.exec('CREATE TABLE t (v TEXT PRIMARY KEY)');
  const insert = db.prepare('INSERT INTO t VALUES (?)');
  const commits: string[][] = [];
  let current: string[] | undefined;
  const transaction = <T>(work: () => T): T => {
    if (current) return db.transaction(work)();
    current = [];
    try {
      return db.transaction(work)();
    } finally {
      commits.push(current);
      current = undefined;
    }
  };
  const add = (v: string) => () => {
    insert.run(v);
    current?.push(v);
    return v;
  };
  const rows = () => (db.prepare('SELECT v FROM t ORDER BY v').all() as { v: string }[]).map((r) => r.v);
  return { db, commits, transaction, add, rows };
}

test('the units of one turn share one transaction; one that throws is undone alone', async () => {
  const { db, commits, transaction, add, rows } = counted();
  const group = new GroupCommit(transaction);
  const results = await Promise.allSettled([
    group.run(add('a')),
    group.run(() => {
      add('b')();
      throw new Error('refused');
    }),
    group.run(add('c')),
  ]);
  assert.deepEqual(
    results.map((r) => r.status),
    ['fulfilled', 'rejected', 'fulfilled'],
  );
  assert.equal(commits.length, 1);
  assert.deepEqual(rows(), ['a', 'c']);
  db.close();
});

test('under load, the units of the turns after a group share the next one', async () => {
  const { db, commits, transaction, add, rows } = counted();
  const group = new GroupCommit(transaction);
  await group.run(add('first'));
  // Right after that group: these come in three turns, and wait for one group together.
  const later = [group.run(add('x'))];
  await new Promise((resolve) => setImmediate(resolve));
  later.push(group.run(add('y')));
  await new Promise((resolve) => setImmediate(resolve));
  later.push(group.run(add('z')));
  assert.deepEqual(await Promise.all(later), ['x', 'y', 'z']);
  assert.equal(commits.length, 2, JSON.stringify(commits));
  assert.deepEqual(rows(), ['first', 'x', 'y', 'z']);
  db.close();
});
