// Policy text: syntax errors say where (line, column, and the pointer of the value being
// read), duplicate member names are refused, and otherwise the parser agrees with JSON.parse.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isDeepStrictEqual } from 'node:util';

import { MAX_POLICY_BYTES, parsePolicy } from '../../policies/index.js';
import { MAX_DEPTH, parseJson, positions } from '../../policies/json.js';
import { basePolicy, refusal } from './support.js';

function syntaxError(text: string): {
  pointer: string | null;
  message: string;
  line?: number;
  column?: number;
} {
  const error = refusal(() => parsePolicy(text, 'p.json'));
  assert.equal(error.issues.length, 1, error.message);
  return error.issues[0];
}

test('syntax errors name the line, the column and the value being read', () => {
  const cases: [string, string, number, number, string][] = [
    ['', '', 1, 1, 'unexpected end of text: expected a value'],
    ['   \n  ', '', 2, 3, 'unexpected end of text'],
    ['{"name": "a",\n  "keyRules": [1, 2,]}', '/keyRules', 2, 21, 'no trailing comma'],
    ['{"name": "a",}', '', 1, 14, 'no trailing comma'],
    ['{"name": "a" "x": 1}', '', 1, 14, 'expected "," or "}" after a value'],
    ['{"name" "a"}', '/name', 1, 9, 'expected ":" after a property name'],
    ["{'name': 'a'}", '', 1, 2, 'expected a property name in double quotes'],
    ['{"a": [1, 2 3]}', '/a', 1, 13, 'expected "," or "]" after a value'],
    ['{"a": {"b": tru}}', '/a/b', 1, 13, 'expected a value'],
    ['{"a": 01}', '', 1, 8, 'expected "," or "}"'],
    ['{"a": -}', '/a', 1, 7, 'invalid number'],
    ['{"a": .5}', '/a', 1, 7, 'expected a value'],
    ['{"a": "x\ty"}', '/a', 1, 9, 'U+0009 inside a string must be written as an escape'],
    ['{"a": "\\x"}', '/a', 1, 8, 'invalid escape \\x'],
    ['{"a": "\\u12g4"}', '/a', 1, 8, '\\u must be followed by four hexadecimal digits'],
    ['{"a": "open', '/a', 1, 7, 'unexpected end of text inside a string'],
    ['{"a": 1} {}', '', 1, 10, 'after the end of the document'],
    ['{\n  // a comment\n  "a": 1}', '', 2, 3, 'expected a property name'],
    ['{"a": // no\n 1}', '/a', 1, 7, 'JSON has no comments'],
    ['{"é": [ NaN ]}', '/é/0', 1, 9, 'unexpected "N"'],
  ];
  for (const [text, pointer, line, column, words] of cases) {
    const issue = syntaxError(text);
    assert.deepEqual(
      [issue.pointer, issue.line, issue.column],
      [pointer, line, column],
      `${text}: ${issue.message}`,
    );
    assert.ok(issue.message.includes(words), `${text}: ${issue.message}`);
  }
});

test('a member name given twice in one object is refused at its second place', () => {
  const text = '{\n  "name": "a",\n  "learnMode": false,\n  "learnMode": true,\n  "x": {"k": 1, "k": 2}\n}';
  const error = refusal(() => parsePolicy(text, 'dup.json'));
  assert.deepEqual(
    error.issues.map((i) => [i.pointer, i.line, i.column]),
    [
      ['/learnMode', 4, 3],
      ['/x/k', 5, 17],
    ],
  );
  assert.match(error.issues[0].message, /"learnMode" appears twice/);
});

test('pointers escape ~ and / in member names (RFC 6901)', () => {
  const error = refusal(() => parsePolicy('{"a/b": {"c~d": [1,]}}', 'p.json'));
  assert.equal(error.issues[0].pointer, '/a~1b/c~0d');
});

test('a member named __proto__ stays a member and is refused as unknown', () => {
  const parsed = parseJson('{"__proto__": {"polluted": true}}');
  assert.ok(parsed.ok);
  assert.ok(Object.hasOwn(parsed.value as object, '__proto__'));
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  const policy = { ...basePolicy() };
  const text = JSON.stringify(policy).replace('{', '{"__proto__": 1,');
  const error = refusal(() => parsePolicy(text, 'p.json'));
  assert.equal(error.issues[0].pointer, '/__proto__');
});

test('a byte order mark is skipped; nesting past the limit and oversized text are refused', () => {
  parsePolicy(`\ufeff${JSON.stringify(basePolicy())}`, 'bom.json');
  const deep = `${'['.repeat(MAX_DEPTH + 2)}${']'.repeat(MAX_DEPTH + 2)}`;
  assert.match(syntaxError(deep).message, /nested deeper than 32 levels/);
  const huge = `{"name": "${'x'.repeat(MAX_POLICY_BYTES)}"}`;
  const issue = syntaxError(huge);
  assert.equal(issue.pointer, null);
  assert.match(issue.message, /longer than 1048576 characters/);
  assert.match(syntaxError(Buffer.from('{}') as unknown as string).message, /must be text/);
});

test('on valid JSON the parser returns what JSON.parse returns', () => {
  const samples = [
    '0',
    '-0',
    '1.5e+300',
    '1e400',
    '-12.25E-3',
    '"\\u00e9\\ud83d\\ude00\\/\\b\\f\\n\\r\\t\\"\\\\"',
    '"\\ud800"',
    '[]',
    '{}',
    ' [ 1 , { "a" : [ null , true , false ] } ] ',
    JSON.stringify(basePolicy(), null, 2),
    '\r\n{"a":\t1}\r\n',
  ];
  for (const text of samples) {
    const parsed = parseJson(text);
    assert.ok(parsed.ok, text);
    assert.ok(isDeepStrictEqual(parsed.value, JSON.parse(text)), text);
  }
});

test('locations point at the member name, or at the nearest member for a missing one', () => {
  const text = '{\n  "name": "x",\n  "keyRules": [\n    {"key": 5}\n  ]\n}';
  const parsed = parseJson(text);
  assert.ok(parsed.ok);
  const at = (pointer: string) => positions(text)(parsed.offsetOf(pointer));
  assert.deepEqual(at('/keyRules'), { line: 3, column: 3 });
  assert.deepEqual(at('/keyRules/0'), { line: 4, column: 5 });
  assert.deepEqual(at('/keyRules/0/key'), { line: 4, column: 6 });
  assert.deepEqual(at('/keyRules/0/missing'), { line: 4, column: 5 });
  assert.deepEqual(at(''), { line: 1, column: 1 });
});

test('columns count characters: a character outside the BMP is one, a lone surrogate is one', () => {
  const text = 'a😀b\n\ud800c\r\nxy';
  const position = positions(text);
  assert.deepEqual(position(0), { line: 1, column: 1 });
  assert.deepEqual(position(3), { line: 1, column: 3 }); // 'b', after the two halves of 😀
  assert.deepEqual(position(6), { line: 2, column: 2 }); // 'c'
  assert.deepEqual(position(9), { line: 3, column: 1 });
  assert.deepEqual(position(10), { line: 3, column: 2 });
});

test('at most 50 problems are listed, the rest counted; a huge bad policy is refused fast', () => {
  const items = Array.from({ length: 100_000 }, () => '"/x"').join(',\n');
  const text = `{"name": "x", "resourceSets": {"a": {"include": [${items}]}}, "securityRules": [], "keyRules": []}`;
  const started = process.hrtime.bigint();
  const error = refusal(() => parsePolicy(text, 'big.json'));
  assert.ok(process.hrtime.bigint() - started < 5_000_000_000n, 'took more than 5 s');
  assert.equal(error.issues.length, 51);
  assert.equal(error.issues[0].pointer, '/resourceSets/a/include');
  assert.match(error.issues[0].message, /at most 1024 items/);
  assert.deepEqual(error.issues[1], {
    pointer: '/resourceSets/a/include/0',
    message:
      'must be a relative path pattern: no leading /, no empty, . or .. segments, ** only as a whole segment, no control characters, not "/x"',
    line: 1,
    column: 50,
  });
  // 100,000 bad patterns, too many of them, repeated ones, two empty rule lists; 50 shown.
  assert.deepEqual(error.issues[50], { pointer: null, message: 'and 99954 more problems' });
});
