/**
 * The client HTTP API on each node's port:
 *
 *   PUT    /kv/:key        {"value": json}          → 200 {"index": n} once committed and applied
 *   GET    /kv/:key                                 → 200 {"value": v} | 404 {"error": "not_found"}   (linearizable, ReadIndex)
 *   POST   /kv/:key/cas    {"from": a, "to": b}     → 200 {"ok": true} | 409 {"error": "precondition_failed", "value": v} | 404
 *   DELETE /kv/:key                                 → 200 {"existed": bool}
 *   GET    /kv?prefix=p&after=k&limit=n             → 200 {"entries": [{"key", "value"}], "more": bool, "next"?: k}  (linearizable)
 *   GET    /status  · GET /health (liveness) · GET /ready (has a live leader: 200, else 503) · GET /metrics
 *
 * A key is everything after /kv/, percent-decoded, so it may hold '/' (`PUT /kv/tasks/deploy`).
 * The one exception is POST …/cas, which is compare-and-set on the key before it; a key that ends
 * in "/cas" is compare-and-set as /kv/a%2Fcas/cas (the CLI encodes every key this way).
 *
 * Any node serves them: a follower forwards to the leader. No known leader → 503
 * {"error": "no_leader"} (nothing happened; safe to retry). A write whose outcome is unknown when
 * it times out → 504 {"error": "timeout", "outcome": "unknown"}. Writes may carry X-Client-Id and
 * X-Request-Seq so that a retried write is applied once. Bad input → 400 / 413, and changes nothing.
 *
 * A write made on behalf of a lease or a task claim (src/coord) carries its fence:
 * `X-Fence-Lease: <name>` or `X-Fence-Task: <id>`, with `X-Fence-Token: <n>`. It is applied only
 * while that token is the current grant's; otherwise → 409 {"error": "stale_token", "token",
 * "detail", "current"?} and nothing is written. The fence's name is percent-encoded, like a path
 * segment (a header holds only Latin-1, and HTTP trims spaces at its ends).
 *
 * Cross-site writes: a request other than GET/HEAD that carries `Origin`, or `Sec-Fetch-Site:
 * cross-site | same-site`, is refused with 403 {"error": "cross_site"} before any route (client,
 * /v1, /admin, /debug; node-server.ts, crossSiteRefusal in body.ts). A node serves no web page, and
 * without a client token a page could otherwise queue a task or write a key with a "simple"
 * text/plain POST that needs no preflight. Any content-type is accepted (curl -d sends a form's).
 *
 * Paths are read as sent (rawPath), so that a key or name `.` or `..` (`/kv/%2E%2E`) is reachable.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import type { JsonValue } from '../core/json.js';
import { ConfigChangeInProgressError, LeadershipTransferError, NotLeaderError, OutcomeUnknownError, RaftError, ReadTimeoutError, StoppedError } from '../errors.js';
import {
  MAX_CLIENT_ID_LENGTH,
  MAX_KEY_LENGTH,
  MAX_LIST_LIMIT,
  type GetResult,
  type ListResult,
  type KvCommand,
  type KvQuery,
  type KvQueryResult,
  type KvResult,
} from '../kv/state-machine.js';
import type { RaftNode } from '../runtime/raft-node.js';
import type { FencedKvCommand } from '../coord/state-machine.js';
import { type Fence, MAX_NAME_LENGTH, type StaleToken } from '../coord/types.js';
import { HttpError, rawPath, readJsonBody } from './body.js';
import type { LeaderContact } from './leader-contact.js';
import type { NodeMetrics } from './metrics.js';

export type KvRaftNode = RaftNode<KvCommand, KvResult, KvQuery, KvQueryResult>;

export interface ClientApiOptions {
  node: KvRaftNode;
  metrics: NodeMetrics;
  bodyLimit: number;
  /** Largest command (its JSON) that fits one peer message; larger writes are refused with 413. */
  maxCommandBytes: number;
  /** Where a client is told to go when this node knows the leader (NotLeaderError's address). */
  addressOf?: (id: string) => string | undefined;
  /** Whether the leader this node names is alive (for /ready, /status and has_leader); default: it names one. */
  leaderContact?: Pick<LeaderContact, 'view'>;
  /** More fields for GET /status (the node server's log length and latest snapshot figures). */
  statusFigures?: () => object;
}

/** Default and largest page of GET /kv. */
const LIST_DEFAULT_LIMIT = 100;

const putBody = z.object({ value: z.json() }).strict();
const casBody = z.object({ from: z.json(), to: z.json() }).strict();

export function clientApi(options: ClientApiOptions): (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<boolean> {
  const { node, metrics } = options;
  return async (req, res, url) => {
    const started = performance.now();
    let route = 'other';
    const send = (status: number, body: unknown, contentType = 'application/json') => {
      res.writeHead(status, { 'content-type': contentType });
      res.end(contentType === 'application/json' ? JSON.stringify(body) : String(body));
      metrics.requestSeconds.observe({ route, status: String(status) }, (performance.now() - started) / 1000);
    };
    // The node's status with the leader it names only while that leader is alive (see LeaderContact).
    const liveStatus = () => {
      const status = node.status();
      const view = options.leaderContact?.view(status) ?? { leaderId: status.leaderId };
      return { ...status, ...options.statusFigures?.(), ...view, ready: view.leaderId !== null };
    };
    try {
      if (url.pathname === '/health') {
        route = 'health';
        if (req.method !== 'GET') throw methodNotAllowed('GET');
        send(200, { ok: true, id: node.id, role: node.status().role });
        return true;
      }
      if (url.pathname === '/ready') {
        route = 'ready';
        if (req.method !== 'GET') throw methodNotAllowed('GET');
        const { id, role, term, leaderId, ready, lastLeaderContactMs } = liveStatus();
        send(ready ? 200 : 503, {
          ready,
          id,
          role,
          term,
          leaderId,
          ...(lastLeaderContactMs !== undefined ? { lastLeaderContactMs } : {}),
          ...(ready ? {} : { reason: 'this node knows no leader of its term that it heard from within an election timeout' }),
        });
        return true;
      }
      if (url.pathname === '/status') {
        route = 'status';
        if (req.method !== 'GET') throw methodNotAllowed('GET');
        send(200, liveStatus());
        return true;
      }
      if (url.pathname === '/metrics') {
        route = 'metrics';
        if (req.method !== 'GET') throw methodNotAllowed('GET');
        send(200, await metrics.registry.metrics(), metrics.registry.contentType);
        return true;
      }
      if (url.pathname === '/kv') {
        route = 'list';
        if (req.method !== 'GET') throw methodNotAllowed('GET');
        send(200, await list(node, metrics, url.searchParams));
        return true;
      }
      const path = rawPath(req, url);
      if (!path.startsWith('/kv/')) return false;
      const rest = path.slice('/kv/'.length);
      if (req.method === 'POST') {
        route = 'cas';
        if (!rest.endsWith('/cas')) throw methodNotAllowed('GET, PUT, DELETE', 'POST is only for compare-and-set: POST /kv/:key/cas');
        const key = decodeKey(rest.slice(0, -'/cas'.length));
        const body = parse(casBody, await readJsonBody(req, options.bodyLimit));
        const result = (await propose(node, metrics, options.maxCommandBytes, {
          type: 'cas',
          key,
          from: body.from as JsonValue,
          to: body.to as JsonValue,
          ...fenceOf(req),
          ...clientOf(req),
        })) as KvResult;
        if (isStale(result)) return (send(409, staleBody(result)), true);
        if (result.ok) return (send(200, { ok: true }), true);
        if ('reason' in result && result.reason === 'precondition_failed') return (send(409, { error: 'precondition_failed', value: result.value }), true);
        if ('reason' in result && result.reason === 'not_found') return (send(404, { error: 'not_found' }), true);
        throw commandRefused(result);
      }
      const key = decodeKey(rest);
      switch (req.method) {
        case 'GET': {
          route = 'get';
          const result = await read(node, metrics, { type: 'get', key });
          if (result.found) send(200, { value: result.value });
          else send(404, { error: 'not_found' });
          return true;
        }
        case 'PUT': {
          route = 'put';
          const body = parse(putBody, await readJsonBody(req, options.bodyLimit));
          const result = await propose(node, metrics, options.maxCommandBytes, {
            type: 'put',
            key,
            value: body.value as JsonValue,
            ...fenceOf(req),
            ...clientOf(req),
          });
          if (isStale(result)) return (send(409, staleBody(result)), true);
          if (!result.ok) throw commandRefused(result);
          send(200, { index: 'index' in result ? result.index : undefined });
          return true;
        }
        case 'DELETE': {
          route = 'delete';
          const result = await propose(node, metrics, options.maxCommandBytes, { type: 'delete', key, ...fenceOf(req), ...clientOf(req) });
          if (isStale(result)) return (send(409, staleBody(result)), true);
          if (!result.ok) throw commandRefused(result);
          send(200, { existed: 'existed' in result ? result.existed : undefined });
          return true;
        }
        default:
          throw methodNotAllowed(rest.endsWith('/cas') ? 'GET, PUT, DELETE, POST' : 'GET, PUT, DELETE');
      }
    } catch (error) {
      const [status, body] = toHttpError(error, options.addressOf);
      if (!res.headersSent) {
        if (error instanceof HttpError && error.headers) for (const [name, value] of Object.entries(error.headers)) res.setHeader(name, value);
        send(status, body);
      } else res.end();
      return true;
    }
  };
}

async function propose(node: KvRaftNode, metrics: NodeMetrics, maxCommandBytes: number, command: FencedKvCommand): Promise<KvResult> {
  const size = Buffer.byteLength(JSON.stringify(command));
  if (size > maxCommandBytes) {
    // It could never be replicated: every follower would refuse the message that carries it.
    throw new HttpError(413, { error: 'payload_too_large', reason: `the command is ${size} bytes; at most ${maxCommandBytes} can be replicated` });
  }
  try {
    const { result } = await node.propose(command as KvCommand);
    metrics.proposals.inc({ outcome: 'committed' });
    return result;
  } catch (error) {
    metrics.proposals.inc({ outcome: error instanceof RaftError ? error.code : 'error' });
    throw error;
  }
}

async function read(node: KvRaftNode, metrics: NodeMetrics, query: KvQuery): Promise<GetResult> {
  try {
    const result = (await node.read(query)) as GetResult | { ok: false; error: string };
    // An answer with `ok` is the state machine refusing the query (InvalidQueryResult).
    if ('ok' in result) throw new HttpError(400, { error: 'bad_request', reason: result.error });
    metrics.reads.inc({ outcome: 'served' });
    return result;
  } catch (error) {
    metrics.reads.inc({ outcome: error instanceof RaftError ? error.code : 'error' });
    throw error;
  }
}

/** GET /kv?prefix=&after=&limit=: one page of keys with their values, through ReadIndex. */
async function list(node: KvRaftNode, metrics: NodeMetrics, params: URLSearchParams): Promise<Record<string, unknown>> {
  for (const name of params.keys()) {
    if (!['prefix', 'after', 'limit'].includes(name))
      throw new HttpError(400, { error: 'bad_request', reason: `unknown parameter ${name}: GET /kv takes prefix, after and limit` });
  }
  const limitText = params.get('limit');
  const limit = limitText === null ? LIST_DEFAULT_LIMIT : /^\d{1,4}$/.test(limitText) ? Number(limitText) : NaN;
  if (!(limit >= 1 && limit <= MAX_LIST_LIMIT)) throw new HttpError(400, { error: 'bad_request', reason: `limit is a whole number from 1 to ${MAX_LIST_LIMIT}` });
  const prefix = params.get('prefix') ?? undefined;
  const after = params.get('after') ?? undefined;
  const result = await read(node, metrics, { type: 'list', limit, ...(prefix !== undefined ? { prefix } : {}), ...(after !== undefined ? { after } : {}) });
  const page = result as unknown as ListResult;
  const last = page.entries.at(-1);
  return { entries: page.entries, more: page.more, ...(page.more && last ? { next: last.key } : {}) };
}

function decodeKey(raw: string): string {
  let key: string;
  try {
    key = decodeURIComponent(raw);
  } catch {
    throw new HttpError(400, { error: 'bad_request', reason: 'the key is not valid percent-encoding' });
  }
  if (key.length === 0) throw new HttpError(400, { error: 'bad_request', reason: 'the key is empty: use /kv/<key> (GET /kv lists the keys)' });
  if (key.length > MAX_KEY_LENGTH) throw new HttpError(400, { error: 'bad_request', reason: `a key is 1 to ${MAX_KEY_LENGTH} characters` });
  return key;
}

/**
 * X-Fence-Lease or X-Fence-Task, with X-Fence-Token: the fence of a KV write made on behalf of a
 * lease or a claim (CoordStateMachine refuses it with stale_token once the token is not current).
 */
export function fenceOf(req: IncomingMessage): { fence?: Fence } {
  const lease = req.headers['x-fence-lease'];
  const task = req.headers['x-fence-task'];
  const token = req.headers['x-fence-token'];
  if (lease === undefined && task === undefined && token === undefined) return {};
  const usage = 'a fenced write carries X-Fence-Lease: <name> or X-Fence-Task: <id>, and X-Fence-Token: <n> (the token of the grant)';
  if ((lease === undefined) === (task === undefined)) throw new HttpError(400, { error: 'bad_request', reason: `${usage}; give exactly one of the two names` });
  if (typeof token !== 'string' || !/^[1-9]\d{0,15}$/.test(token) || !Number.isSafeInteger(Number(token))) {
    throw new HttpError(400, { error: 'bad_request', reason: `${usage}; X-Fence-Token is a whole number ≥ 1` });
  }
  const header = (lease ?? task) as string | string[];
  let named: string | undefined;
  try {
    // Percent-encoded like a path segment: a header value is Latin-1 only, and trimmed at its ends.
    named = typeof header === 'string' ? decodeURIComponent(header) : undefined;
  } catch {
    throw new HttpError(400, { error: 'bad_request', reason: `${usage}; the name is percent-encoded (encodeURIComponent), and this is not valid percent-encoding` });
  }
  if (named === undefined || named.length === 0 || named.length > MAX_NAME_LENGTH) {
    throw new HttpError(400, { error: 'bad_request', reason: `${usage}; the name is 1 to ${MAX_NAME_LENGTH} characters, percent-encoded` });
  }
  return { fence: lease !== undefined ? { lease: named, token: Number(token) } : { task: named, token: Number(token) } };
}

/** A fenced write refused: its token is not the current grant's. */
function isStale(result: unknown): result is StaleToken {
  return (result as { reason?: unknown } | null)?.reason === 'stale_token';
}

/** The 409 body of a stale fencing token (the refusal without its `ok` and `reason`). */
export function staleBody(refusal: StaleToken): Record<string, unknown> {
  const { ok: _ok, reason: _reason, ...rest } = refusal;
  return { error: 'stale_token', ...rest };
}

/** X-Client-Id + X-Request-Seq: the state machine applies a (client, seq) once and repeats its answer. */
export function clientOf(req: IncomingMessage): { client?: { id: string; seq: number } } {
  const id = req.headers['x-client-id'];
  const seq = req.headers['x-request-seq'];
  if (id === undefined && seq === undefined) return {};
  if (typeof id !== 'string' || id.length === 0 || id.length > MAX_CLIENT_ID_LENGTH || typeof seq !== 'string' || !/^\d{1,15}$/.test(seq)) {
    throw new HttpError(400, {
      error: 'bad_request',
      reason: `X-Client-Id (1 to ${MAX_CLIENT_ID_LENGTH} characters) and X-Request-Seq (a whole number) go together`,
    });
  }
  return { client: { id, seq: Number(seq) } };
}

export function parse<T>(schema: z.ZodType<T>, body: unknown): T {
  const result = schema.safeParse(body);
  if (!result.success) {
    const issue = result.error.issues[0];
    // JSON has no undefined: a field that fails because it is undefined is absent, and zod would only say "Invalid input".
    const field = issue?.path.length === 1 ? String(issue.path[0]) : undefined;
    if (field !== undefined && typeof body === 'object' && body !== null && !Object.hasOwn(body, field)) {
      throw new HttpError(400, { error: 'bad_request', reason: `${field} is missing: the body must have a "${field}" field holding a JSON value (null included)` });
    }
    throw new HttpError(400, { error: 'bad_request', reason: `${issue?.path.join('.') || 'body'}: ${issue?.message ?? 'invalid'}` });
  }
  return result.data;
}

export function methodNotAllowed(allow: string, reason?: string): HttpError {
  return new HttpError(405, { error: 'method_not_allowed', allow: allow.split(', '), ...(reason ? { reason } : {}) }, { allow });
}

function commandRefused(result: KvResult): HttpError {
  const reason = 'error' in result ? result.error : 'reason' in result ? String(result.reason) : 'refused';
  return new HttpError(400, { error: 'bad_request', reason });
}

/** The status and body a failed request is answered with (client, admin and debug routes alike). */
export function toHttpError(error: unknown, addressOf?: (id: string) => string | undefined): [number, Record<string, unknown>] {
  if (error instanceof HttpError) return [error.status, error.body];
  if (error instanceof NotLeaderError) {
    // We forward to a known leader, so this means none is known (or it refused): safe to retry.
    const leader = error.leaderId;
    return [503, { error: 'no_leader', ...(leader ? { leaderId: leader, leaderAddress: addressOf?.(leader) } : {}), retry: true }];
  }
  if (error instanceof ReadTimeoutError) return [503, { error: 'no_leader', reason: error.message, retry: true }];
  if (error instanceof OutcomeUnknownError) return [504, { error: 'timeout', outcome: 'unknown', reason: error.message }];
  if (error instanceof StoppedError) return [503, { error: 'stopping', retry: true }];
  // Membership (admin routes): the cluster's state is in the way, not this node. 409 rather than
  // 503, which clients read as "this node cannot serve: ask another one".
  if (error instanceof ConfigChangeInProgressError || error instanceof LeadershipTransferError) return [409, { error: error.code, reason: error.message, retry: true }];
  if (error instanceof RaftError) return [400, { error: error.code, reason: error.message }];
  return [500, { error: 'internal', reason: error instanceof Error ? error.message : String(error) }];
}
