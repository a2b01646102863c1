/**
 * Client authentication on a node's port: with a client token, every client, admin and debug
 * route needs `Authorization: Bearer <token>`. Only the probes stay open (`GET /health`,
 * `GET /ready`: they say whether the process lives and whether it has a leader, nothing else),
 * and the peer endpoint, which has its own signatures (the cluster secret).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

const OPEN_PATHS: readonly string[] = ['/health', '/ready'];

/**
 * Does the Authorization header carry `Bearer <token>`? Compared in constant time: both sides are
 * hashed first, so neither the content nor the length of the token leaks through timing.
 */
export function bearerMatches(header: string | undefined, token: string): boolean {
  const given = header !== undefined && /^Bearer /i.test(header) ? header.slice(7).trim() : undefined;
  const digest = (text: string) => createHash('sha256').update(text).digest();
  const equal = timingSafeEqual(digest(given ?? ''), digest(token));
  return given !== undefined && equal;
}

/** `undefined` if the request may go on; else the reason it is refused (answer 401). */
export function refusal(req: IncomingMessage, url: URL, token: string | undefined): string | undefined {
  if (token === undefined || OPEN_PATHS.includes(url.pathname)) return undefined;
  if (bearerMatches(req.headers.authorization, token)) return undefined;
  return req.headers.authorization === undefined
    ? 'this node needs a client token: send Authorization: Bearer <token> (xstate-raft --client-token or $XSTATE_RAFT_CLIENT_TOKEN)'
    : 'the client token is wrong';
}
