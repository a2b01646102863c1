/**
 * What keeps other web pages out of the dashboard. The dashboard asks the nodes with the
 * cluster's credential (src/dashboard/server.ts), so a request a foreign page gets through to it
 * is a request with that credential: a page must not be able to drive the controls (cross-site
 * request forgery) nor, by pointing a name of its own at 127.0.0.1, read the answers (DNS
 * rebinding).
 *
 * - Host: every request names one of the addresses the server listens on, else 421 (a rebound
 *   name arrives with the page's own host name in `Host`).
 * - A request that is not GET or HEAD: refused with 403 when the browser says it comes from
 *   another site (`Sec-Fetch-Site: cross-site` or `same-site`) or names another origin
 *   (`Origin`), and with 415 unless its body is `application/json` — which a page of another
 *   origin cannot send without a CORS preflight, and the dashboard grants none.
 *
 * Pure functions of the headers and the bound address, so the rules read in one place.
 */

/** The address the dashboard listens on (its `listen` host and the port it got). */
export interface BoundAddress {
  host: string;
  port: number;
}

export type Refusal = { status: 403 | 415 | 421; body: { error: string; reason: string } };

/** Bound to one of these, the dashboard answers on all three loopback names. */
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);
/** Bound to one of these, it listens on every interface: any name may reach it (the port must still match). */
const WILDCARD = new Set(['0.0.0.0', '[::]', '']);

/** A host as it appears in a Host header: lower case, an IPv6 literal in brackets. */
function asHostName(host: string): string {
  const lower = host.toLowerCase();
  return lower.includes(':') && !lower.startsWith('[') ? `[${lower}]` : lower;
}

/**
 * Whether a `Host` header names the bound address: its host and port; bound to a loopback
 * address, also the other loopback names (127.0.0.1, localhost, [::1]); bound to 0.0.0.0 or ::,
 * any name with the port. No port in the header is port 80.
 */
export function hostAllowed(header: string | undefined, bound: BoundAddress): boolean {
  if (header === undefined) return false;
  const parsed = /^(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(?::(\d{1,5}))?$/i.exec(header);
  if (parsed === null) return false;
  const [, name, port] = parsed as unknown as [string, string, string | undefined];
  if (Number(port ?? 80) !== bound.port) return false;
  const boundName = asHostName(bound.host);
  if (WILDCARD.has(boundName)) return true;
  const given = name.toLowerCase();
  if (given === boundName) return true;
  return LOOPBACK.has(boundName) && LOOPBACK.has(given);
}

/** Why a request is refused before it reaches a route, or undefined when it may go on. */
export function refusal(method: string | undefined, headers: Record<string, string | string[] | undefined>, bound: BoundAddress): Refusal | undefined {
  const host = typeof headers['host'] === 'string' ? headers['host'] : undefined;
  if (!hostAllowed(host, bound)) {
    return {
      status: 421,
      body: {
        error: 'misdirected_request',
        reason: `the dashboard listens on ${asHostName(bound.host)}:${bound.port}, not ${host ?? '(no Host)'}: open it at that address`,
      },
    };
  }
  if (method === 'GET' || method === 'HEAD') return undefined;
  const site = headers['sec-fetch-site'];
  if (site === 'cross-site' || site === 'same-site') {
    return { status: 403, body: { error: 'cross_site', reason: `a request from another site (Sec-Fetch-Site: ${site}) may not change anything` } };
  }
  const origin = headers['origin'];
  if (origin !== undefined && String(origin).toLowerCase() !== `http://${host?.toLowerCase()}`) {
    return { status: 403, body: { error: 'cross_site', reason: `a request from ${String(origin)} may not change anything (only the dashboard's own page, http://${host})` } };
  }
  const type = typeof headers['content-type'] === 'string' ? (headers['content-type'].split(';')[0] ?? '').trim().toLowerCase() : '';
  if (type !== 'application/json') {
    return { status: 415, body: { error: 'unsupported_media_type', reason: `a control is sent as application/json${type !== '' ? `, not ${type}` : ''}` } };
  }
  return undefined;
}
