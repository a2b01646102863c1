/**
 * `connect({ peers })`: a client of a running cluster over its HTTP API, so nobody writes fetch
 * calls by hand.
 *
 *   const kv = connect({ peers: ['127.0.0.1:7001', '127.0.0.1:7002', '127.0.0.1:7003'] });
 *   await kv.put('tasks/deploy', { owner: 'agent-7' });
 *   const got = await kv.get('tasks/deploy');     // { found: true, value: { owner: 'agent-7' } }
 *
 * It is KvClient (src/kv/client.ts) over HTTP "nodes": it asks any node (every node forwards to
 * the leader), follows a named leader, retries while there is none, and numbers its writes
 * (X-Client-Id, X-Request-Seq) so that a write retried after an unknown outcome is applied at
 * most once. KvClient keeps one operation in flight per session; this client keeps a pool of
 * sessions ("lanes") so that concurrent calls run concurrently, each lane numbering its own
 * writes. The pool grows to the most calls in flight at once, at most `maxInFlight` (default
 * 32; more calls wait their turn), and so does the state machine's dedup table (one row per lane).
 *
 * How answers map to errors (all RaftError, `code` stable):
 * - 503 no_leader or stopping, a connection that could not be made (nothing was sent):
 *   NotLeaderError, retried until `timeout`;
 * - 504, a connection lost after the request was sent, an answer that is not the node's:
 *   OutcomeUnknownError for a write (retried with the same sequence number; if time runs out
 *   the write may or may not have applied);
 * - 400: InvalidRequestError, 401: UnauthorizedError — neither is retried (but once an earlier try
 *   may have applied the write, the call ends in OutcomeUnknownError: it may have).
 */
import type { JsonValue } from '../core/json.js';
import { InvalidRequestError, NotLeaderError, OutcomeUnknownError, RaftError, ReadTimeoutError } from '../errors.js';
import { KvClient, type KvCluster, type KvNode } from '../kv/client.js';
import { NOT_CONNECTED } from '../runtime/forwarding.js';
import type { CasResult, DeleteResult, GetResult, KvCommand, KvQuery, KvResult, ListResult, PutResult } from '../kv/state-machine.js';
import type { NodeStatus } from '../runtime/raft-node.js';

/** The node refused the request's credentials (HTTP 401): pass the cluster's client token as `token`. */
export class UnauthorizedError extends RaftError {
  constructor(reason: string) {
    super('unauthorized', reason);
  }
}

export interface ConnectOptions {
  /**
   * The nodes to ask: `host:port`, `id=host:port` or `http(s)://host:port` each, as a list, one
   * comma-separated string (what `--peers` takes), or an object from id to address.
   */
  peers: readonly string[] | string | Readonly<Record<string, string>>;
  /** The cluster's client token (`--client-token`), sent as `Authorization: Bearer <token>`. */
  token?: string;
  /** Give up on a call after this many ms (default 10 000). */
  timeout?: number;
  /**
   * Try the next node when one has not answered within this many ms (default 5000). A write
   * retried elsewhere keeps its sequence number, so it is still applied at most once.
   */
  attemptTimeout?: number;
  /** Most calls in flight at once (default 32); more wait their turn. Each is one session in the nodes' dedup table. */
  maxInFlight?: number;
  /** Names this client's sessions in the nodes' dedup table, 1 to 64 characters (a random suffix is added per lane). Default `connect`. */
  clientId?: string;
}

/** One node's /status (`ok: true`), or why it could not be read (`refused`: it answered 401). */
export type NodeReport = ({ ok: true; address: string; ready?: boolean } & NodeStatus) | { ok: false; address: string; error: string; refused: boolean };

const MAX_CLIENT_ID = 64;

export interface ClusterClient {
  get(key: string): Promise<GetResult>;
  put(key: string, value: JsonValue): Promise<PutResult>;
  delete(key: string): Promise<DeleteResult>;
  /** Set `key` to `to` only if it holds `from` now: `{ ok: false, reason: 'precondition_failed', value }` otherwise. */
  cas(key: string, from: JsonValue, to: JsonValue): Promise<CasResult>;
  /** Every key starting with `prefix` (default: all), with its value, in key order — a linearizable read per page. */
  list(prefix?: string): Promise<{ key: string; value: JsonValue }[]>;
  /** Every node's /status, in the order of `peers` (a node that does not answer is `{ address, error }`). */
  status(): Promise<NodeReport[]>;
}

const LIST_PAGE = 1000;

export function connect(options: ConnectOptions): ClusterClient {
  const token = options.token;
  if (token !== undefined && !/^[\x21-\x7e]+$/.test(token)) throw new InvalidRequestError('connect: token must be 1 or more visible ASCII characters (no spaces, no line breaks)');
  const clientId = options.clientId ?? 'connect';
  if (clientId.length === 0 || clientId.length > MAX_CLIENT_ID) throw new InvalidRequestError(`connect: clientId is 1 to ${MAX_CLIENT_ID} characters`);
  const maxInFlight = options.maxInFlight ?? 32;
  if (!Number.isInteger(maxInFlight) || maxInFlight < 1) throw new InvalidRequestError('connect: maxInFlight is a whole number ≥ 1');
  const timeout = options.timeout ?? 10_000;
  const attemptTimeout = options.attemptTimeout ?? 5000;
  const nodes = new HttpNodes(normalizePeers(options.peers), token, attemptTimeout);
  const idle: KvClient[] = [];
  let lanes = 0;
  const waiting: ((client: KvClient) => void)[] = [];
  const acquire = (): Promise<KvClient> => {
    const free = idle.pop();
    if (free !== undefined) return Promise.resolve(free);
    if (lanes < maxInFlight) {
      lanes++;
      return Promise.resolve(new KvClient(nodes, { clientId, timeout, attemptTimeout, retryDelay: 100 }));
    }
    return new Promise((resolve) => waiting.push(resolve));
  };
  const release = (client: KvClient) => {
    const next = waiting.shift();
    if (next !== undefined) next(client);
    else idle.push(client);
  };
  const lane = async <T>(call: (client: KvClient) => Promise<T>): Promise<T> => {
    const client = await acquire();
    try {
      return await call(client);
    } finally {
      release(client);
    }
  };
  return {
    get: (key) => lane((c) => c.get(key)),
    put: (key, value) => lane((c) => c.put(key, value)),
    delete: (key) => lane((c) => c.delete(key)),
    cas: (key, from, to) => lane((c) => c.cas(key, from, to)),
    list: (prefix = '') =>
      lane(async (c) => {
        const entries: { key: string; value: JsonValue }[] = [];
        let after: string | undefined;
        for (;;) {
          const page = await c.list(prefix, { limit: LIST_PAGE, ...(after !== undefined ? { after } : {}) });
          entries.push(...page.entries);
          const last = page.entries.at(-1);
          if (!page.more || last === undefined) return entries;
          after = last.key;
        }
      }),
    status: () => Promise.all(nodes.ids.map((id) => nodes.status(id))),
  };
}

/** The peers as id → base URL (`http://host:port`); an entry without an id is named by its address. */
export function normalizePeers(peers: ConnectOptions['peers']): Map<string, string> {
  const entries: [string | undefined, string][] =
    typeof peers === 'string' || Array.isArray(peers)
      ? (typeof peers === 'string' ? peers.split(',') : (peers as readonly string[]))
          .map((p) => p.trim())
          .filter((p) => p !== '')
          .map((p) => {
            const eq = p.indexOf('=');
            return eq > 0 && !p.slice(0, eq).includes('/') ? [p.slice(0, eq), p.slice(eq + 1)] : [undefined, p];
          })
      : Object.entries(peers as Record<string, string>);
  const result = new Map<string, string>();
  for (const [id, address] of entries) {
    const url = baseUrl(address);
    const name = id ?? address;
    if (result.has(name)) throw new InvalidRequestError(`connect: ${name} appears twice in peers`);
    result.set(name, url);
  }
  if (result.size === 0) throw new InvalidRequestError('connect: peers is empty; give at least one node, like 127.0.0.1:7001');
  return result;
}

/** `http://host:port` (or https, when `address` says so or `scheme` is https) for "host:port" or a URL. */
function baseUrl(address: string, scheme: 'http:' | 'https:' = 'http:'): string {
  const withScheme = /^https?:\/\//.test(address) ? address : `${scheme}//${address}`;
  const refused = () => new InvalidRequestError(`connect: expected host:port, id=host:port or http(s)://host:port, got "${address}"`);
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw refused();
  }
  // A port is needed (URL drops a default one, so look at the text), and nothing but host and port.
  const hasPort = url.port !== '' || /:\d+\/?$/.test(withScheme);
  if (!hasPort || (url.pathname !== '/' && url.pathname !== '') || url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '') throw refused();
  return `${url.protocol}//${url.host}`;
}

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

/** The cluster as KvClient sees it: each node a KvNode whose propose and read are HTTP requests. */
class HttpNodes implements KvCluster {
  readonly ids: readonly string[];
  /** Leaders the nodes named with an address, by id (a hint may name a node not in `peers`). */
  private readonly learned = new Map<string, string>();

  constructor(
    private readonly urls: ReadonlyMap<string, string>,
    private readonly token: string | undefined,
    private readonly attemptTimeout: number,
  ) {
    this.ids = [...urls.keys()];
  }

  node(id: string): KvNode | undefined {
    const url = this.urls.get(id) ?? this.learned.get(id);
    if (url === undefined) return undefined;
    return {
      propose: async (command) => ({ index: 0, term: 0, result: await this.write(url, command as KvCommand) }),
      read: async (query) => (await this.query(url, query as KvQuery)) as never,
    };
  }

  async status(id: string): Promise<NodeReport> {
    const url = this.urls.get(id) as string;
    const address = url.replace(/^http:\/\//, '');
    try {
      const answer = await this.request(url, 'GET', '/status', undefined, {});
      const { status, body } = answer;
      if (status !== 200 || typeof body.role !== 'string') {
        return { ok: false, address, refused: status === 401, error: `HTTP ${status} ${String(body.error ?? '')}${body.reason ? `: ${String(body.reason)}` : ''}` };
      }
      return { ...(body as unknown as NodeStatus & { ready?: boolean }), ok: true, address };
    } catch (error) {
      return { ok: false, address, refused: false, error: (error as Error).message };
    }
  }

  private async write(url: string, command: KvCommand): Promise<KvResult> {
    const key = `/kv/${encodeURIComponent(command.key)}`;
    const headers: Record<string, string> = command.client ? { 'x-client-id': command.client.id, 'x-request-seq': String(command.client.seq) } : {};
    const send = (method: string, path: string, body?: unknown) =>
      this.request(url, method, path, body, headers).catch((error: unknown) => {
        // Refused: the request never left, so nothing happened. Anything else: it may have arrived.
        throw neverSent(error) ? new NotLeaderError(undefined) : new OutcomeUnknownError(`${url}: ${(error as Error).message}`);
      });
    switch (command.type) {
      case 'put': {
        const { body } = this.refuse(await send('PUT', key, { value: command.value }), true, url);
        if (typeof body.index !== 'number') throw notTheNode(url, true);
        return { ok: true, index: body.index };
      }
      case 'delete': {
        const { body } = this.refuse(await send('DELETE', key), true, url);
        if (typeof body.existed !== 'boolean') throw notTheNode(url, true);
        return { ok: true, existed: body.existed };
      }
      case 'cas': {
        const answer = await send('POST', `${key}/cas`, { from: command.from, to: command.to });
        if (answer.status === 409 && answer.body.error === 'precondition_failed' && 'value' in answer.body)
          return { ok: false, reason: 'precondition_failed', value: answer.body.value as JsonValue };
        if (answer.status === 404 && answer.body.error === 'not_found') return { ok: false, reason: 'not_found' };
        if (this.refuse(answer, true, url).body.ok !== true) throw notTheNode(url, true);
        return { ok: true };
      }
    }
  }

  private async query(url: string, query: KvQuery): Promise<GetResult | ListResult> {
    const ask = (path: string) =>
      this.request(url, 'GET', path, undefined, {}).catch((error: unknown) => {
        throw neverSent(error) ? new NotLeaderError(undefined) : new ReadTimeoutError(this.attemptTimeout, `${url}: ${(error as Error).message}`);
      });
    if (query.type === 'get') {
      const answer = await ask(`/kv/${encodeURIComponent(query.key)}`);
      if (answer.status === 404 && answer.body.error === 'not_found') return { found: false };
      const { body } = this.refuse(answer, false, url);
      if (!('value' in body)) throw notTheNode(url, false);
      return { found: true, value: body.value as JsonValue };
    }
    if (query.type === 'list') {
      const params = new URLSearchParams({
        limit: String(query.limit ?? LIST_PAGE),
        ...(query.prefix ? { prefix: query.prefix } : {}),
        ...(query.after !== undefined ? { after: query.after } : {}),
      });
      const { body } = this.refuse(await ask(`/kv?${params}`), false, url);
      if (!Array.isArray(body.entries)) throw notTheNode(url, false);
      return { entries: body.entries as ListResult['entries'], more: body.more === true };
    }
    throw new InvalidRequestError(`connect: the HTTP API has no ${query.type} query`);
  }

  /** The answer if it is a 2xx; otherwise the error it means. */
  private refuse(answer: Answer, isWrite: boolean, url?: string): Answer {
    const { status, body } = answer;
    if (status >= 200 && status < 300) return answer;
    const reason = typeof body.reason === 'string' ? body.reason : typeof body.error === 'string' ? body.error : `HTTP ${status}`;
    // Only the node's own 503s mean "nothing happened" (a proxy's 503 means nothing of the kind).
    if (status === 503 && (body.error === 'no_leader' || body.error === 'stopping')) {
      const leaderId = typeof body.leaderId === 'string' ? body.leaderId : undefined;
      const leaderAddress = typeof body.leaderAddress === 'string' ? body.leaderAddress : undefined;
      if (leaderId !== undefined && leaderAddress !== undefined) {
        try {
          // Nodes name their peers as host:port: reach the leader the way we reached this node.
          this.learned.set(leaderId, baseUrl(leaderAddress, url?.startsWith('https:') ? 'https:' : 'http:'));
        } catch {
          // an address we cannot use: no hint
        }
      }
      throw new NotLeaderError(leaderId, leaderAddress);
    }
    if (status === 504 || status === 503) throw isWrite ? new OutcomeUnknownError(reason) : new ReadTimeoutError(this.attemptTimeout, reason);
    if (status === 401) throw new UnauthorizedError(`${reason} (pass the cluster's client token: connect({ peers, token }))`);
    if (status === 400 || status === 413) throw new InvalidRequestError(reason);
    throw new RaftError(typeof body.error === 'string' ? body.error : 'http_error', `HTTP ${status}: ${reason}`);
  }

  private async request(url: string, method: string, path: string, body: unknown, headers: Record<string, string>): Promise<Answer> {
    const res = await fetch(`${url}${path}`, {
      method,
      headers: { 'content-type': 'application/json', ...headers, ...(this.token !== undefined ? { authorization: `Bearer ${this.token}` } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(this.attemptTimeout),
    });
    const text = await res.text();
    let parsed: unknown = {};
    try {
      parsed = text === '' ? {} : JSON.parse(text);
    } catch {
      parsed = { error: 'not_json', reason: text.slice(0, 200) };
    }
    return { status: res.status, body: (typeof parsed === 'object' && parsed !== null ? parsed : {}) as Record<string, unknown> };
  }
}

/** fetch's error for a connection that was never made (refused, no route, no such host): nothing was sent. */
function neverSent(error: unknown): boolean {
  const code = (error as { cause?: { code?: unknown } } | undefined)?.cause?.code;
  return typeof code === 'string' && NOT_CONNECTED.has(code);
}

/** A 2xx whose body is not what a node answers (peers point at something else): a write may have gone anywhere. */
function notTheNode(url: string, isWrite: boolean): RaftError {
  const reason = `${url} answered, but not as an xstate-raft node does: check peers`;
  return isWrite ? new OutcomeUnknownError(reason) : new ReadTimeoutError(0, reason);
}
