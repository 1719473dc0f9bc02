// Request and answer helpers of the manager's API: JSON in (bounded, checked), JSON out,
// and every error as { error: { code, message } } with the code's status. An error the
// manager did not foresee is answered with a generic message; its details go to the log.
import type { IncomingMessage, ServerResponse } from 'node:http';

import { ManagerError } from '../../manager-client/errors.js';
import type { ErrorBody } from '../../manager-client/types.js';

/** The largest request body the API reads. */
export const MAX_BODY_BYTES = 64 * 1024;

/** The body as JSON; `maxBytes` is larger only for routes that need it (host event reports). */
export async function readJson(req: IncomingMessage, maxBytes = MAX_BODY_BYTES): Promise<unknown> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/json') {
    throw new ManagerError('VEIL_REQUEST_BAD_CONTENT_TYPE', 'the request body must be application/json');
  }
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (declared > maxBytes) throw tooLarge(maxBytes);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > maxBytes) throw tooLarge(maxBytes);
    chunks.push(chunk as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } catch (error) {
    throw new ManagerError(
      'VEIL_REQUEST_BAD_JSON',
      `the request body is not JSON: ${(error as Error).message}`,
    );
  }
}

function tooLarge(maxBytes: number): ManagerError {
  return new ManagerError('VEIL_REQUEST_TOO_LARGE', `the request body is larger than ${maxBytes} bytes`);
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(text);
}

/**
 * An answer that is a file rather than JSON (a backup): its bytes in pieces, sent as
 * application/octet-stream without joining them. `name` is the file name it suggests,
 * which the audit record names as the call's object.
 */
export class FileAnswer {
  constructor(
    readonly name: string,
    readonly pieces: Buffer[],
  ) {}
}

export function sendFile(res: ServerResponse, status: number, file: FileAnswer): void {
  res.writeHead(status, {
    'content-type': 'application/octet-stream',
    'content-length': file.pieces.reduce((sum, piece) => sum + piece.length, 0),
    'content-disposition': `attachment; filename="${file.name}"`,
    'cache-control': 'no-store',
  });
  for (const piece of file.pieces) res.write(piece);
  res.end();
}

export function sendError(res: ServerResponse, error: unknown, log: (line: string) => void): void {
  const known = error instanceof ManagerError ? error : undefined;
  if (!known)
    log(`internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  const body: ErrorBody = {
    error: known
      ? { code: known.code, message: known.message }
      : { code: 'VEIL_INTERNAL', message: 'the manager failed to answer this request; its log says why' },
  };
  if (known?.code === 'VEIL_AUTH_ADMIN_REQUIRED')
    res.setHeader('www-authenticate', 'Basic realm="veil-manager"');
  // A body left unread (an answer before reading) must not be taken for the next request.
  if (known?.code === 'VEIL_REQUEST_TOO_LARGE') res.setHeader('connection', 'close');
  if (known?.retryAfterSeconds !== undefined) res.setHeader('retry-after', String(known.retryAfterSeconds));
  sendJson(res, known?.status ?? 500, body);
}
