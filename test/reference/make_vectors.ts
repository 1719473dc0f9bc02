// Writes the golden containers of docs/format.md to test/fixtures/format-v1/, their inputs
// to vectors.json, and the "Test vectors" section of docs/format.md.
// Run: npx tsx test/reference/make_vectors.ts
import crypto from 'node:crypto';
import fs from 'node:fs';

import { HEADER_SIZE } from './container_codec.js';
import {
  FIXTURE_DIR,
  FORMAT_DOC,
  GUARD_KEYS,
  PLAINTEXT_RULE,
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

function detailed(v: Vector, container: Buffer): string {
  const d = describeVector(v);
  const rows = [
    ['cipher', `${v.cipher} (stored block ${v.cipher === 'aes-256-gcm' ? 4124 : 4096} bytes)`],
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
  return [
    `### \`${v.file}\``,
    '',
    '| input | value |',
    '|---|---|',
    ...rows.map(([k, val]) => `| ${k} | ${val} |`),
    '',
    `Header (${HEADER_SIZE} bytes, 32 per line):`,
    '',
    fence(container.subarray(0, HEADER_SIZE).toString('hex')),
    '',
    `Block 0 (${container.length - HEADER_SIZE} bytes):`,
    '',
    fence(container.subarray(HEADER_SIZE).toString('hex')),
  ].join('\n');
}

function docSection(containers: Map<string, Buffer>): string {
  const shown = ['gcm-5.veil', 'xts-5.veil'];
  const others = VECTORS.map(
    (v) =>
      `| \`${v.file}\` | ${v.cipher} | ${v.size} | v${v.key.version} | ${v.note} | ` +
      `\`${sha256(containers.get(v.file)!).slice(0, 16)}…\` |`,
  );
  return [
    DOC_BEGIN,
    '',
    `All vectors use the guard point key \`${GUARD_KEYS[0].keyId}\` (version 1: 32 bytes`,
    '`00 01 … 1f`; version 2: 16 bytes `40 41 … 4f`), file id `f0 f1 … ff`, file key',
    '`20 21 … 3f`, slot A wrap nonce `a0 a1 … ab`, and for GCM block `i` the nonce',
    `\`b0 b1 … b7 || u32(i)\`; ${PLAINTEXT_RULE}. Every input, with the keys derived from`,
    'them, is in `test/fixtures/format-v1/vectors.json`. In the hex below, line `k` holds',
    'bytes `32k … 32k+31`.',
    '',
    detailed(
      VECTORS.find((v) => v.file === shown[0])!,
      containers.get(shown[0])!,
    ),
    '',
    detailed(
      VECTORS.find((v) => v.file === shown[1])!,
      containers.get(shown[1])!,
    ),
    '',
    '### All fixtures',
    '',
    '| file | cipher | size | key | contents | SHA-256 (first 8 bytes) |',
    '|---|---|---:|---|---|---|',
    ...others,
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
    format: 'docs/format.md version 1; containers written by test/reference/make_vectors.ts',
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
