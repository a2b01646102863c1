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
 * writes. The pool grows to the most calls ever in flight at once, and so does the state
 * machine's dedup table (one row per lane).
 *
 * How answers map to errors (all RaftError, `code` stable):
 * - 503 no_leader, a refused connection (nothing was sent): NotLeaderError, retried until `timeout`;
 * - 504, a connection lost after the request was sent: OutcomeUnknownError for a write (retried
 *   with the same sequence number; if time runs out the write may or may not have applied);
 * - 400: InvalidRequestError, 401: UnauthorizedError — neither is retried.
 */
import { randomUUID } from 'node:crypto';
import type { JsonValue } from '../core/json.js';
import { InvalidRequestError, NotLeaderError, OutcomeUnknownError, RaftError, ReadTimeoutError } from '../errors.js';
import { KvClient, type KvCluster, type KvNode } from '../kv/client.js';
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
  /** Give up on a call after this many ms (default 5000). */
  timeout?: number;
  /** Try the next node when one has not answered within this many ms (default 2000). */
  attemptTimeout?: number;
  /** Names this client's sessions in the nodes' dedup table (a random suffix is added per lane). Default `connect`. */
  clientId?: string;
}

/** One node's /status, or why it could not be read. */
export type NodeReport = ({ address: string } & NodeStatus & Record<string, unknown>) | { address: string; error: string };

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
  const nodes = new HttpNodes(normalizePeers(options.peers), options.token, options.attemptTimeout ?? 2000);
  const clientId = options.clientId ?? 'connect';
  const idle: KvClient[] = [];
  const lane = async <T>(call: (client: KvClient) => Promise<T>): Promise<T> => {
    const client = idle.pop() ?? new KvClient(nodes, { clientId: `${clientId}-${randomUUID().slice(0, 8)}`, timeout: options.timeout ?? 5000, attemptTimeout: options.attemptTimeout ?? 2000, retryDelay: 100 });
    try {
      return await call(client);
    } finally {
      idle.push(client);
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

function baseUrl(address: string): string {
  const withScheme = /^https?:\/\//.test(address) ? address : `http://${address}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new InvalidRequestError(`connect: expected host:port, id=host:port or http(s)://host:port, got "${address}"`);
  }
  if (url.port === '' || (url.pathname !== '/' && url.pathname !== '') || url.search !== '') {
    throw new InvalidRequestError(`connect: expected host:port, id=host:port or http(s)://host:port, got "${address}"`);
  }
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
    const address = url.replace(/^https?:\/\//, '');
    try {
      const answer = await this.request(url, 'GET', '/status', undefined, {});
      if (answer.status !== 200) return { address, error: `HTTP ${answer.status} ${String(answer.body.error ?? '')}${answer.body.reason ? `: ${String(answer.body.reason)}` : ''}` };
      return { address, ...(answer.body as unknown as NodeStatus) };
    } catch (error) {
      return { address, error: (error as Error).message };
    }
  }

  private async write(url: string, command: KvCommand): Promise<KvResult> {
    const key = `/kv/${encodeURIComponent(command.key)}`;
    const headers: Record<string, string> = command.client ? { 'x-client-id': command.client.id, 'x-request-seq': String(command.client.seq) } : {};
    const send = (method: string, path: string, body?: unknown) =>
      this.request(url, method, path, body, headers).catch((error: unknown) => {
        // Refused: the request never left, so nothing happened. Anything else: it may have arrived.
        throw refusedConnection(error) ? new NotLeaderError(undefined) : new OutcomeUnknownError(`${url}: ${(error as Error).message}`);
      });
    switch (command.type) {
      case 'put': {
        const answer = this.refuse(await send('PUT', key, { value: command.value }), true);
        return { ok: true, index: answer.body.index as number };
      }
      case 'delete': {
        const answer = this.refuse(await send('DELETE', key), true);
        return { ok: true, existed: answer.body.existed as boolean };
      }
      case 'cas': {
        const answer = await send('POST', `${key}/cas`, { from: command.from, to: command.to });
        if (answer.status === 409) return { ok: false, reason: 'precondition_failed', value: answer.body.value as JsonValue };
        if (answer.status === 404) return { ok: false, reason: 'not_found' };
        this.refuse(answer, true);
        return { ok: true };
      }
    }
  }

  private async query(url: string, query: KvQuery): Promise<GetResult | ListResult> {
    const ask = (path: string) =>
      this.request(url, 'GET', path, undefined, {}).catch((error: unknown) => {
        throw refusedConnection(error) ? new NotLeaderError(undefined) : new ReadTimeoutError(this.attemptTimeout, `${url}: ${(error as Error).message}`);
      });
    if (query.type === 'get') {
      const answer = await ask(`/kv/${encodeURIComponent(query.key)}`);
      if (answer.status === 404) return { found: false };
      return { found: true, value: this.refuse(answer, false).body.value as JsonValue };
    }
    if (query.type === 'list') {
      const params = new URLSearchParams({ limit: String(query.limit ?? LIST_PAGE), ...(query.prefix ? { prefix: query.prefix } : {}), ...(query.after !== undefined ? { after: query.after } : {}) });
      const body = this.refuse(await ask(`/kv?${params}`), false).body;
      return { entries: body.entries as ListResult['entries'], more: body.more === true };
    }
    throw new InvalidRequestError(`connect: the HTTP API has no ${query.type} query`);
  }

  /** The answer if it is a 2xx; otherwise the error it means. */
  private refuse(answer: Answer, isWrite: boolean): Answer {
    const { status, body } = answer;
    if (status >= 200 && status < 300) return answer;
    const reason = typeof body.reason === 'string' ? body.reason : typeof body.error === 'string' ? body.error : `HTTP ${status}`;
    if (status === 503) {
      const leaderId = typeof body.leaderId === 'string' ? body.leaderId : undefined;
      if (leaderId !== undefined && typeof body.leaderAddress === 'string') this.learned.set(leaderId, baseUrl(body.leaderAddress));
      throw new NotLeaderError(leaderId, typeof body.leaderAddress === 'string' ? body.leaderAddress : undefined);
    }
    if (status === 504) throw isWrite ? new OutcomeUnknownError(reason) : new ReadTimeoutError(this.attemptTimeout, reason);
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

/** fetch's error for a connection the peer refused (ECONNREFUSED): the request was never sent. */
function refusedConnection(error: unknown): boolean {
  const cause = (error as { cause?: { code?: string } } | undefined)?.cause;
  return cause?.code === 'ECONNREFUSED';
}
