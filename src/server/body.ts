import type { IncomingMessage } from 'node:http';
import { MAX_JSON_DEPTH } from '../core/json.js';

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

/**
 * Read a JSON body of at most `limit` bytes; 413 past the limit (reading stops early), 400 if it is
 * not JSON or nests arrays and objects deeper than a command may (MAX_JSON_DEPTH). Checked here,
 * before any schema: the ones that take any JSON value (z.json(): a KV value, a task, a result)
 * recurse once per level and overflowed the stack at a depth between 1 000 and 2 000 — a body of a
 * few kilobytes was a 500 (found by test/integration/fuzz-http.test.ts).
 */
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
  let value: unknown;
  try {
    value = JSON.parse(text) as unknown;
  } catch (error) {
    throw new HttpError(400, { error: 'bad_request', reason: `the body is not JSON: ${(error as Error).message}` });
  }
  if (nestingDepth(text, MAX_JSON_DEPTH) > MAX_JSON_DEPTH) {
    throw new HttpError(400, { error: 'bad_request', reason: `the body nests arrays and objects deeper than ${MAX_JSON_DEPTH} levels` });
  }
  return value;
}

/**
 * How deep valid JSON text nests arrays and objects (brackets inside strings do not count); stops
 * counting once past `limit`. A scan of the text, not of the parsed value: no recursion.
 */
export function nestingDepth(text: string, limit = Number.POSITIVE_INFINITY): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      // A backslash escapes the next character (an escaped quote does not end the string).
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      depth++;
      if (depth > deepest) {
        deepest = depth;
        if (deepest > limit) return deepest;
      }
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return deepest;
}

/**
 * Why a request is refused as one a web page made (403 cross_site), or undefined. A node serves no
 * web page, so a browser has no business writing to it; without a client token, a page could
 * still send a "simple" request (a text/plain POST needs no preflight) and queue a task or write a
 * key. Browsers mark what a page sends with `Origin` (every non-GET fetch and form post) and
 * `Sec-Fetch-Site`; curl, Node's fetch, our CLI and connect() send neither. GET and HEAD change
 * nothing (and a page cannot read their answers without CORS headers, which a node never sends).
 */
export function crossSiteRefusal(req: IncomingMessage): string | undefined {
  if (req.method === 'GET' || req.method === 'HEAD') return undefined;
  if (req.headers.origin !== undefined) {
    return `a ${req.method} with an Origin header (${JSON.stringify(req.headers.origin)}) comes from a web page; nodes take writes only from clients that send no Origin (curl, the CLI, connect())`;
  }
  const site = req.headers['sec-fetch-site'];
  if (site === 'cross-site' || site === 'same-site')
    return `a ${req.method} with Sec-Fetch-Site: ${site} comes from a web page; nodes take writes only from clients that send no such header`;
  return undefined;
}

/**
 * The request's path as sent (before `?`), not URL's pathname: WHATWG URL resolves dot segments,
 * also percent-encoded ones (`%2E%2E`), so a name `.` or `..` could never be reached. An
 * absolute-form target (`http://host/path`, from a proxy) falls back to `url.pathname`.
 */
export function rawPath(req: IncomingMessage, url: URL): string {
  const target = req.url ?? '/';
  if (!target.startsWith('/')) return url.pathname;
  const query = target.indexOf('?');
  return query < 0 ? target : target.slice(0, query);
}
