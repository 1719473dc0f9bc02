// Writes the golden containers of docs/format.md to test/fixtures/format-v2/, their inputs
// to vectors.json, and the "Test vectors" section of docs/format.md.
// Run: npx tsx test/reference/make_vectors.ts
import crypto from 'node:crypto';
import fs from 'node:fs';

import {
  CIPHER_ID,
  HEADER_SIZE,
  PAGE,
  PLAIN_BS,
  TAG_ENTRIES_OFFSET,
  TAG_ENTRY,
  blockOffset,
  entryOffset,
} from './container_codec.js';
import {
  FIXTURE_DIR,
  FORMAT_DOC,
  GUARD_KEYS,
  PLAINTEXT_RULE,
  SHOWN,
  VECTORS,
  describeVector,
  encodeVector,
  fixturePath,
  plaintextOf,
  type Vector,
} from './vectors.js';

const DOC_BEGIN = '<!-- vectors: written by `npx tsx test/reference/make_vectors.ts`, do not edit -->';
const DOC_END = '<!-- end of vectors -->';

const sha256 = (b: Buffer): string => crypto.createHash('sha256').update(b).digest('hex');
const wrap = (hex: string): string => hex.match(/.{1,64}/g)?.join('\n') ?? '';
const fence = (hex: string): string => '```\n' + wrap(hex) + '\n```';

const range = (start: number, length: number): string => `${start}–${start + length - 1}`;

function detailed(v: Vector, container: Buffer): string {
  const d = describeVector(v);
  const gcm = v.cipher === 'aes-256-gcm';
  const n = Math.ceil(v.size / PLAIN_BS);
  const tail = v.size % PLAIN_BS;
  const rows = [
    [
      'cipher',
      `${v.cipher} (cipher ${CIPHER_ID[v.cipher]}: 4096-byte data pages` +
        `${gcm ? `, ${TAG_ENTRY}-byte tag entries` : ', no tag entries'})`,
    ],
    ['guard key id, version', `\`${d.key.keyId}\`, ${d.key.version}`],
    ['guard key material', `\`${d.key.material}\``],
    ['plaintext', `${v.size} bytes: \`${plaintextOf(v.size).toString('hex')}\``],
    ['file id', `\`${d.fileId}\``],
    ['file key', `\`${d.fileKey}\``],
    ['slot A wrap nonce', `\`${d.slotNonce}\``],
    ...(d.blockNonces.length ? [['block 0 nonce', `\`${d.blockNonces[0]}\``]] : []),
    ['KEK (derived)', `\`${d.derived.kek}\``],
    ['blockKey (derived)', `\`${d.derived.blockKey}\``],
    ['headerMacKey (derived)', `\`${d.derived.headerMacKey}\``],
  ];
  const entriesEnd = TAG_ENTRIES_OFFSET + TAG_ENTRY * n;
  const zeroFrom = gcm ? entriesEnd : HEADER_SIZE;
  const page0 = blockOffset(0);
  return [
    `### \`${v.file}\``,
    '',
    '| input | value |',
    '|---|---|',
    ...rows.map(([k, val]) => `| ${k} | ${val} |`),
    '',
    `The container is ${container.length} bytes, \`length(${v.size}) = storedEnd(${n}) + ${tail}\`: ` +
      `page 0 (the header, then\n${gcm ? 'the tag entries' : 'zeros'}), page 1 (the data page of block 0)` +
      (tail > 0 ? `, and a ${tail}-byte zero tail.` : '.'),
    '',
    `Header (page 0, bytes ${range(0, HEADER_SIZE)}):`,
    '',
    fence(container.subarray(0, HEADER_SIZE).toString('hex')),
    '',
    ...(gcm
      ? [
          `Tag entries of group 0 (page 0, bytes ${range(TAG_ENTRIES_OFFSET, entriesEnd - TAG_ENTRIES_OFFSET)}, ` +
            `one \`nonce || tag\` per line; bytes\n${range(zeroFrom, PAGE - zeroFrom)} are zero):`,
          '',
          '```\n' +
            Array.from({ length: n }, (_, i) =>
              container.subarray(entryOffset(i), entryOffset(i) + TAG_ENTRY).toString('hex'),
            ).join('\n') +
            '\n```',
          '',
        ]
      : [`Bytes ${range(zeroFrom, PAGE - zeroFrom)} of page 0 are zero.`, '']),
    `Data page of block 0 (page 1, bytes ${range(page0, PAGE)}):`,
    '',
    fence(container.subarray(page0, page0 + PAGE).toString('hex')),
  ].join('\n');
}

function docSection(containers: Map<string, Buffer>): string {
  const all = VECTORS.map(
    (v) =>
      `| \`${v.file}\` | ${v.cipher} | ${v.size} | ${containers.get(v.file)!.length} | ` +
      `v${v.key.version} | ${v.note} | \`${sha256(containers.get(v.file)!).slice(0, 16)}…\` |`,
  );
  return [
    DOC_BEGIN,
    '',
    `All vectors use the guard point key \`${GUARD_KEYS[0].keyId}\` (version 1: 32 bytes`,
    '`00 01 … 1f`; version 2: 16 bytes `40 41 … 4f`), file id `f0 f1 … ff`, file key',
    '`20 21 … 3f`, slot A wrap nonce `a0 a1 … ab`, and for GCM block `i` the nonce',
    `\`b0 b1 … b7 || u32(i)\`; ${PLAINTEXT_RULE}. Every input, with the keys derived from`,
    'them, is in `test/fixtures/format-v2/vectors.json`. In the hex below, line `k` of the',
    'header or of a data page holds its bytes `32k … 32k+31`, and tag entries are one per line.',
    '',
    ...SHOWN.flatMap((file) => [
      detailed(
        VECTORS.find((v) => v.file === file)!,
        containers.get(file)!,
      ),
      '',
    ]),
    '### All fixtures',
    '',
    '| file | cipher | size | length | key | contents | SHA-256 (first 8 bytes) |',
    '|---|---|---:|---:|---|---|---|',
    ...all,
    '',
    '`gcm-reencrypting.veil` is in state `1`: slot B wraps file key `60 61 … 7f` under key',
    'version 2 with nonce `c0 c1 … cb`, and the progress mark is `1`. Blocks 0 and 1 are',
    "under slot B's file key and block 2 under slot A's: block 1 is the run a worker wrote",
    'before a crash kept it from advancing the mark, so a reader finds it by the fallback rule.',
    '',
    DOC_END,
  ].join('\n');
}

/** Replaces the `VECTORS` placeholder, or the section a previous run wrote. */
function replaceDocSection(doc: string, section: string): string {
  const begin = doc.indexOf(DOC_BEGIN);
  if (begin >= 0) return doc.slice(0, begin) + section + doc.slice(doc.indexOf(DOC_END) + DOC_END.length);
  if (!/^VECTORS$/m.test(doc)) throw new Error('docs/format.md has neither VECTORS nor a vectors section');
  return doc.replace(/^VECTORS$/m, () => section);
}

function main(): void {
  fs.mkdirSync(FIXTURE_DIR, { recursive: true });
  const containers = new Map(VECTORS.map((v) => [v.file, encodeVector(v)]));
  for (const [file, container] of containers) fs.writeFileSync(fixturePath(file), container);
  const json = {
    format: 'docs/format.md version 2; containers written by test/reference/make_vectors.ts',
    guardKeys: GUARD_KEYS.map((k) => ({
      keyId: k.keyId,
      version: k.version,
      material: k.material.toString('hex'),
    })),
    vectors: VECTORS.map((v) => ({ ...describeVector(v), sha256: sha256(containers.get(v.file)!) })),
  };
  fs.writeFileSync(fixturePath('vectors.json'), JSON.stringify(json, null, 2) + '\n');
  const doc = fs.readFileSync(FORMAT_DOC, 'utf8');
  fs.writeFileSync(FORMAT_DOC, replaceDocSection(doc, docSection(containers)));
  console.log(
    `wrote ${containers.size} containers to ${FIXTURE_DIR} and the vectors section of docs/format.md`,
  );
}

main();
