// mmap for the fsx-style checker. Node has none, so one python3 process (`mmap` module) serves
// the whole run: each batch of mapped reads and writes maps the file MAP_SHARED from a
// page-aligned offset to its end, msyncs after each write, and refuses to touch the file when
// its size is not the model's. The checker is synchronous, so a worker thread owns the python
// process and the main thread blocks on Atomics.wait for each answer (with a timeout).
import { MessageChannel, Worker, receiveMessageOnPort, type MessagePort } from 'node:worker_threads';

export type MapOp = { kind: 'read'; off: number; len: number } | { kind: 'write'; off: number; data: Buffer };

export interface MapResult {
  /** The file size the helper saw before mapping. */
  size: number;
  /** The bytes of each read, in order; null when the size differed and nothing ran. */
  reads: Buffer[] | null;
}

const PYTHON_SCRIPT = `
import base64, json, mmap, os, sys

def batch(req):
    fd = os.open(req['path'], os.O_RDWR)
    try:
        size = os.fstat(fd).st_size
        if size != req['size']:
            return {'size': size, 'reads': None}
        start = req['start']
        m = mmap.mmap(fd, size - start, flags=mmap.MAP_SHARED,
                      prot=mmap.PROT_READ | mmap.PROT_WRITE, offset=start)
        reads = []
        try:
            for op in req['ops']:
                off = op['off'] - start
                if op['kind'] == 'read':
                    reads.append(base64.b64encode(m[off:off + op['len']]).decode())
                else:
                    data = base64.b64decode(op['data'])
                    m[off:off + len(data)] = data
                    m.flush()
        finally:
            m.close()
        return {'size': size, 'reads': reads}
    finally:
        os.close(fd)

for line in sys.stdin:
    try:
        out = batch(json.loads(line))
    except Exception as e:
        out = {'error': '%s: %s' % (type(e).__name__, e)}
    sys.stdout.write(json.dumps(out) + '\\n')
    sys.stdout.flush()
`;

// Plain JavaScript (eval'd), so the worker needs no TypeScript loader.
const WORKER = `
const { workerData } = require('node:worker_threads');
const { spawn } = require('node:child_process');
const { port, shared, python, script } = workerData;
const flag = new Int32Array(shared);
const reply = (msg) => {
  port.postMessage(msg);
  Atomics.store(flag, 0, 1);
  Atomics.notify(flag, 0);
};
const child = spawn(python, ['-c', script], { stdio: ['pipe', 'pipe', 'pipe'] });
let out = '';
let err = '';
child.stdout.setEncoding('utf8');
child.stdout.on('data', (chunk) => {
  out += chunk;
  for (let i = out.indexOf('\\n'); i >= 0; i = out.indexOf('\\n')) {
    reply({ line: out.slice(0, i) });
    out = out.slice(i + 1);
  }
});
child.stderr.setEncoding('utf8');
child.stderr.on('data', (chunk) => (err += chunk));
child.on('error', (e) => reply({ error: 'cannot start ' + python + ': ' + e.message + '; use --no-mmap' }));
child.on('close', (code, signal) => {
  reply({ error: python + ' exited (' + (signal || code) + '): ' + err.trim().split('\\n').slice(-3).join(' | ') });
  port.close();
});
port.on('message', (req) => (req === null ? child.stdin.end() : child.stdin.write(req + '\\n')));
`;

export class MmapHelper {
  private readonly flag = new Int32Array(new SharedArrayBuffer(4));
  private readonly port: MessagePort;
  private readonly worker: Worker;

  constructor(
    readonly python = process.env.FSX_PYTHON ?? 'python3',
    private readonly timeoutMs = 60_000,
  ) {
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    const workerData = { port: port2, shared: this.flag.buffer, python, script: PYTHON_SCRIPT };
    this.worker = new Worker(WORKER, { eval: true, workerData, transferList: [port2] });
    this.worker.unref();
  }

  /** Runs `ops` (all inside [0, size)) through a shared mapping of the file at `path`. */
  run(path: string, size: number, ops: MapOp[]): MapResult {
    const start = Math.floor(Math.min(...ops.map((op) => op.off)) / 4096) * 4096;
    const wire = ops.map((op) =>
      op.kind === 'read' ? op : { kind: 'write', off: op.off, data: op.data.toString('base64') },
    );
    Atomics.store(this.flag, 0, 0);
    this.port.postMessage(JSON.stringify({ path, size, start, ops: wire }));
    if (Atomics.wait(this.flag, 0, 0, this.timeoutMs) === 'timed-out') {
      throw new Error(`mmap helper gave no answer in ${this.timeoutMs} ms`);
    }
    const msg = receiveMessageOnPort(this.port)?.message as { line?: string; error?: string } | undefined;
    if (msg?.line === undefined) throw new Error(`mmap helper failed: ${msg?.error ?? 'no answer'}`);
    const out = JSON.parse(msg.line) as { size: number; reads: string[] | null; error?: string };
    if (out.error !== undefined) throw new Error(`mmap helper: ${out.error}`);
    return { size: out.size, reads: out.reads && out.reads.map((r) => Buffer.from(r, 'base64')) };
  }

  close(): void {
    this.port.postMessage(null);
  }
}
