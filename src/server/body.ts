import type { IncomingMessage } from 'node:http';

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: Record<string, unknown>,
    /** Headers the answer carries (e.g. Allow on a 405). */
    readonly headers?: Record<string, string>,
  ) {
    super(String(body.reason ?? body.error));
  }
}

/** Read a JSON body of at most `limit` bytes; 413 past the limit (reading stops early), 400 if it is not JSON. */
export async function readJsonBody(req: IncomingMessage, limit: number): Promise<unknown> {
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (Number.isFinite(declared) && declared > limit) {
    req.resume();
    throw new HttpError(413, { error: 'payload_too_large', reason: `the body is larger than ${limit} bytes` });
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) {
      req.destroy();
      throw new HttpError(413, { error: 'payload_too_large', reason: `the body is larger than ${limit} bytes` });
    }
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.length === 0) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new HttpError(400, { error: 'bad_request', reason: `the body is not JSON: ${(error as Error).message}` });
  }
}
