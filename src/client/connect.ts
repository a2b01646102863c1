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
 *
 * Coordination (src/coord): `leases` and `tasks` are coordClient (src/coord/client.ts) over the
 * same lanes — each call one numbered command or one linearizable read on the /v1 routes, a 409
 * answered as the state machine's refusal, so it throws LeaseHeldError / StaleTokenError. A KV
 * write may carry `{ fence }` (X-Fence-* headers): StaleTokenError once its token is not current.
 * `watch(prefix)` reads GET /v1/watch (Server-Sent Events) from one node; when the connection
 * drops it asks the next node from the last index seen + 1 (Last-Event-ID), so no batch is missed
 * or repeated; it ends after yielding `compacted`, or when `signal` aborts.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { coordClient, orThrow } from '../coord/client.js';
import type { CoordCommand, CoordQuery, CoordResult, FencedKvCommand } from '../coord/state-machine.js';
import type { ChangeBatch, CoordClient, Fence, LeaseApi, TaskApi, WatchMessage, WatchOptions } from '../coord/types.js';
import type { JsonValue } from '../core/json.js';
import type { LogIndex } from '../core/types.js';
import { InvalidRequestError, NotLeaderError, OutcomeUnknownError, RaftError, ReadTimeoutError } from '../errors.js';
import { KvClient, type KvCluster, type KvNode } from '../kv/client.js';
import { NOT_CONNECTED } from '../runtime/forwarding.js';
import type { CasResult, DeleteResult, GetResult, KvResult, ListResult, PutResult } from '../kv/state-machine.js';
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

/** A KV write made on behalf of a lease or a claim: refused with StaleTokenError once its token is not current. */
export interface WriteOptions {
  readonly fence?: Fence;
}

/** The replicated key-value store. */
export interface KvApi {
  get(key: string): Promise<GetResult>;
  /** @throws StaleTokenError when `fence` is given and its token is not current (nothing written). */
  put(key: string, value: JsonValue, options?: WriteOptions): Promise<PutResult>;
  /** @throws StaleTokenError when `fence` is given and its token is not current (nothing deleted). */
  delete(key: string, options?: WriteOptions): Promise<DeleteResult>;
  /** Set `key` to `to` only if it holds `from` now: `{ ok: false, reason: 'precondition_failed', value }` otherwise. @throws StaleTokenError (fenced) */
  cas(key: string, from: JsonValue, to: JsonValue, options?: WriteOptions): Promise<CasResult>;
  /** Every key starting with `prefix` (default: all), with its value, in key order — a linearizable read per page. */
  list(prefix?: string): Promise<{ key: string; value: JsonValue }[]>;
}

/** The KV's calls (also as `kv`), the coordination API (`leases`, `tasks`, `watch`), and the nodes' status. */
export interface ClusterClient extends KvApi, CoordClient {
  readonly kv: KvApi;
  readonly leases: LeaseApi;
  readonly tasks: TaskApi;
  /**
   * Every change whose key starts with `prefix` (a KV key, a lease name, `<queue>/<task id>`), one
   * batch per log entry in index order, from `options.from` (default: from now on). It survives
   * the loss of the node it reads from (it resumes on another from the last index seen + 1),
   * yields `compacted` and ends when the history it needs is gone, and ends when `signal` aborts.
   */
  watch(prefix: string, options?: WatchOptions): AsyncIterable<WatchMessage>;
  /** Every node's /status, in the order of `peers` (a node that does not answer is `{ address, error }`). */
  status(): Promise<NodeReport[]>;
}

const LIST_PAGE = 1000;

export function connect(options: ConnectOptions): ClusterClient {
  const token = options.token;
  if (token !== undefined && !/^[\x21-\x7e]+$/.test(token)) throw new InvalidRequestError('connect: token must be 1 or more visible ASCII characters (no spaces, no line breaks)');
  const clientId = options.clientId ?? 'connect';
  // It travels in the X-Client-Id header: printable ASCII, and no space at its start (HTTP trims it).
  if (clientId.length === 0 || clientId.length > MAX_CLIENT_ID || !/^[\x21-\x7e][\x20-\x7e]*$/.test(clientId)) {
    throw new InvalidRequestError(`connect: clientId is 1 to ${MAX_CLIENT_ID} printable ASCII characters, not starting with a space`);
  }
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
  /** A KV write with a fence: a command of the coordination state machine; stale_token → StaleTokenError. */
  const fenced = <T>(command: FencedKvCommand): Promise<T> =>
    lane(async (c) => {
      const result = await c.command<CoordResult>(command);
      if ((result as { reason?: unknown }).reason === 'stale_token') orThrow(result);
      return result as T;
    });
  const kv: KvApi = {
    get: (key) => lane((c) => c.get(key)),
    put: (key, value, write = {}) => (write.fence === undefined ? lane((c) => c.put(key, value)) : fenced({ type: 'put', key, value, fence: write.fence })),
    delete: (key, write = {}) => (write.fence === undefined ? lane((c) => c.delete(key)) : fenced({ type: 'delete', key, fence: write.fence })),
    cas: (key, from, to, write = {}) => (write.fence === undefined ? lane((c) => c.cas(key, from, to)) : fenced({ type: 'cas', key, from, to, fence: write.fence })),
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
  };
  const coord = coordClient({
    command: (command) => lane((c) => c.command<CoordResult>(command)),
    query: <T>(query: CoordQuery) => lane((c) => c.query<T>(query)),
    watch: (prefix, watchOptions) => nodes.watch(prefix, watchOptions ?? {}, timeout),
  });
  return {
    ...kv,
    kv,
    leases: coord.leases,
    tasks: coord.tasks,
    watch: coord.watch,
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
      propose: async (command) => ({ index: 0, term: 0, result: (await this.write(url, command as CoordCommand)) as KvResult }),
      read: async (query) => (await this.query(url, query as CoordQuery)) as never,
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

  private async write(url: string, command: CoordCommand): Promise<CoordResult> {
    const fence = 'fence' in command ? command.fence : undefined;
    const headers: Record<string, string> = {
      ...(command.client ? { 'x-client-id': command.client.id, 'x-request-seq': String(command.client.seq) } : {}),
      // Percent-encoded like a path segment: a header holds only Latin-1 and loses spaces at its ends.
      ...(fence === undefined ? {} : 'lease' in fence ? { 'x-fence-lease': encodeURIComponent(fence.lease) } : { 'x-fence-task': encodeURIComponent(fence.task) }),
      ...(fence === undefined ? {} : { 'x-fence-token': String(fence.token) }),
    };
    const send = (method: string, path: string, body?: unknown) =>
      this.request(url, method, path, body, headers).catch((error: unknown) => {
        // Refused: the request never left, so nothing happened. Anything else: it may have arrived.
        if (error instanceof InvalidRequestError) throw error;
        throw neverSent(error) ? new NotLeaderError(undefined) : new OutcomeUnknownError(`${url}: ${(error as Error).message}`);
      });
    /** A 409 or 404 of the coordination routes is the state machine's refusal: its result, for orThrow. */
    const refusal = (answer: Answer, reasons: readonly string[]): CoordResult | undefined => {
      const reason = answer.body.error;
      if ((answer.status !== 409 && answer.status !== 404) || typeof reason !== 'string' || !reasons.includes(reason)) return undefined;
      const { error: _error, ...rest } = answer.body;
      return { ok: false, reason, ...rest } as unknown as CoordResult;
    };
    const ok = (answer: Answer, field?: string): Record<string, unknown> => {
      const { body } = this.refuse(answer, true, url);
      if (field !== undefined && !(field in body)) throw notTheNode(url, true);
      return body;
    };
    switch (command.type) {
      case 'put': {
        const answer = await send('PUT', kvPath(command.key), { value: command.value });
        const refused = refusal(answer, ['stale_token']);
        if (refused !== undefined) return refused;
        const { index } = ok(answer, 'index');
        if (typeof index !== 'number') throw notTheNode(url, true);
        return { ok: true, index };
      }
      case 'delete': {
        const answer = await send('DELETE', kvPath(command.key));
        const refused = refusal(answer, ['stale_token']);
        if (refused !== undefined) return refused;
        const { existed } = ok(answer, 'existed');
        if (typeof existed !== 'boolean') throw notTheNode(url, true);
        return { ok: true, existed };
      }
      case 'cas': {
        const answer = await send('POST', `${kvPath(command.key)}/cas`, { from: command.from, to: command.to });
        if (answer.status === 409 && answer.body.error === 'precondition_failed' && 'value' in answer.body)
          return { ok: false, reason: 'precondition_failed', value: answer.body.value as JsonValue };
        if (answer.status === 404 && answer.body.error === 'not_found') return { ok: false, reason: 'not_found' };
        const refused = refusal(answer, ['stale_token']);
        if (refused !== undefined) return refused;
        if (ok(answer).ok !== true) throw notTheNode(url, true);
        return { ok: true };
      }
      case 'lease.acquire':
      case 'lease.renew':
      case 'lease.release': {
        const path = `/v1/leases/${encodeURIComponent(command.name)}`;
        const answer =
          command.type === 'lease.acquire'
            ? await send('PUT', path, { holder: command.holder, ttlMs: command.ttlMs })
            : command.type === 'lease.renew'
              ? await send('POST', path, { token: command.token, ...(command.ttlMs !== undefined ? { ttlMs: command.ttlMs } : {}) })
              : await send('DELETE', path, { token: command.token });
        const refused = refusal(answer, ['lease_held', 'stale_token']);
        if (refused !== undefined) return refused;
        if (command.type === 'lease.release') return (ok(answer), { ok: true });
        return { ok: true, lease: ok(answer, 'lease').lease } as CoordResult;
      }
      case 'task.post': {
        const { type: _type, queue, client: _client, at: _at, ...body } = command;
        const answer = await send('POST', `/v1/queues/${encodeURIComponent(queue)}`, body);
        const refused = refusal(answer, ['id_taken']);
        if (refused !== undefined) return refused;
        const { id, index, duplicate } = ok(answer, 'id');
        return { ok: true, id: id as string, index: index as LogIndex, duplicate: duplicate === true };
      }
      case 'task.claim': {
        const answer = await send('POST', `/v1/queues/${encodeURIComponent(command.queue)}/claim`, { worker: command.worker, ttlMs: command.ttlMs });
        if (answer.status === 204) return { ok: true, claim: null };
        return { ok: true, claim: ok(answer, 'claim').claim } as CoordResult;
      }
      case 'task.heartbeat':
      case 'task.complete':
      case 'task.fail': {
        const { type, id, client: _client, at: _at, ...body } = command;
        const answer = await send('POST', `/v1/tasks/${encodeURIComponent(id)}/${type.slice('task.'.length)}`, body);
        const refused = refusal(answer, ['stale_token', 'not_found']);
        if (refused !== undefined) return refused;
        const answered = ok(answer);
        if (type === 'task.heartbeat') return { ok: true, expiresAt: answered.expiresAt as number };
        if (type === 'task.fail') return { ok: true, state: answered.state } as CoordResult;
        return { ok: true };
      }
      default:
        throw new InvalidRequestError(`connect: the HTTP API has no ${command.type} command`);
    }
  }

  private async query(url: string, query: CoordQuery): Promise<unknown> {
    const ask = (path: string) =>
      this.request(url, 'GET', path, undefined, {}).catch((error: unknown) => {
        if (error instanceof InvalidRequestError) throw error;
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
    /** A 2xx answer's body holding `field`, or null for a 404 not_found. */
    const read = async (path: string, field: string): Promise<Record<string, unknown> | null> => {
      const answer = await ask(path);
      if (answer.status === 404 && answer.body.error === 'not_found') return null;
      const { body } = this.refuse(answer, false, url);
      if (!(field in body)) throw notTheNode(url, false);
      return body;
    };
    switch (query.type) {
      case 'lease.get':
        return { lease: (await read(`/v1/leases/${encodeURIComponent(query.name)}`, 'lease'))?.lease ?? null };
      case 'lease.list':
        return { leases: (await read('/v1/leases', 'leases'))?.leases ?? [] };
      case 'task.get':
        return { task: (await read(`/v1/tasks/${encodeURIComponent(query.id)}`, 'task'))?.task ?? null };
      case 'task.list':
        return read(`/v1/queues/${encodeURIComponent(query.queue)}${query.limit !== undefined ? `?limit=${query.limit}` : ''}`, 'tasks');
      case 'queue.list':
        return { queues: (await read('/v1/queues', 'queues'))?.queues ?? [] };
    }
    throw new InvalidRequestError(`connect: the HTTP API has no ${query.type} query`);
  }

  /**
   * GET /v1/watch on one node, then (the connection dropped or went quiet) on the next, each time
   * from the last index seen + 1 (Last-Event-ID; the server also sends it in keep-alives, so a
   * filtered watch resumes past entries it was not sent). A batch at or below the last one
   * yielded is never yielded again. Gives up when no node has answered for `timeout` ms.
   */
  async *watch(prefix: string, options: WatchOptions, timeout: number): AsyncGenerator<WatchMessage> {
    const { from, kinds, signal } = options;
    if (from !== undefined && !(Number.isSafeInteger(from) && from >= 1)) throw new InvalidRequestError('watch: from is a log index, a whole number ≥ 1');
    if (typeof prefix !== 'string') throw new InvalidRequestError('watch: prefix is a string');
    /** Where to resume: every batch up to here was yielded (or filtered out by the node). */
    let last: LogIndex | undefined = from === undefined ? undefined : from - 1;
    let yielded: LogIndex = last ?? 0;
    let failingSince: number | undefined;
    let lastError = 'no node answered';
    // After an attempt that moved nothing on, wait before the next: 200 ms, doubling to 2 s.
    let pause: number = WATCH_PAUSE_MS[0];
    const aborted = () => signal?.aborted === true;
    for (let attempt = 0; !aborted(); attempt++) {
      const before = last;
      const url = this.urls.get(this.ids[attempt % this.ids.length] as string) as string;
      const controller = new AbortController();
      const abort = () => controller.abort();
      signal?.addEventListener('abort', abort, { once: true });
      // Until the node answers: the attempt timeout; after that, silence longer than a few keep-alives.
      let quiet = setTimeout(abort, this.attemptTimeout);
      const heard = () => {
        clearTimeout(quiet);
        quiet = setTimeout(abort, WATCH_SILENCE_MS);
      };
      let connected = false;
      try {
        const params = new URLSearchParams({ prefix, ...(kinds !== undefined && kinds.length > 0 ? { kinds: kinds.join(',') } : {}) });
        const res = await fetch(`${url}/v1/watch?${params}`, {
          headers: {
            accept: 'text/event-stream',
            ...(last !== undefined ? { 'last-event-id': String(last) } : {}),
            ...(this.token !== undefined ? { authorization: `Bearer ${this.token}` } : {}),
          },
          signal: controller.signal,
        });
        if (res.status !== 200 || res.body === null) {
          const text = await res.text().catch(() => '');
          let body: Record<string, unknown> = {};
          try {
            body = JSON.parse(text) as Record<string, unknown>;
          } catch {
            // not the node's JSON
          }
          const reason = typeof body.reason === 'string' ? body.reason : typeof body.error === 'string' ? body.error : `HTTP ${res.status}`;
          if (res.status === 401) throw new UnauthorizedError(`${reason} (pass the cluster's client token: connect({ peers, token }))`);
          if (res.status === 400) throw new InvalidRequestError(reason);
          throw new Error(`HTTP ${res.status}: ${reason}`);
        }
        connected = true;
        failingSince = undefined;
        heard();
        for await (const event of serverSentEvents(res.body, heard)) {
          // The position moves only once the event is understood: a batch whose JSON did not parse
          // (cut short) is asked for again on the next connection.
          const id = event.id !== undefined && /^\d{1,15}$/.test(event.id) ? Number(event.id) : undefined;
          if (event.event === 'changes') {
            const batch = JSON.parse(event.data) as ChangeBatch;
            last = Math.max(last ?? 0, id ?? 0, batch.index);
            if (batch.index <= yielded) continue;
            yielded = batch.index;
            yield { type: 'changes', index: batch.index, changes: batch.changes };
          } else if (event.event === 'compacted') {
            const told = JSON.parse(event.data) as { index: LogIndex; detail: string };
            yield { type: 'compacted', index: told.index, detail: told.detail };
            return;
          } else if (id !== undefined) last = Math.max(last ?? 0, id);
        }
        lastError = `${url}: the node ended the watch`;
      } catch (error) {
        if (error instanceof UnauthorizedError || error instanceof InvalidRequestError) throw error;
        if (aborted()) return;
        lastError = `${url}: ${(error as Error).message}`;
      } finally {
        clearTimeout(quiet);
        controller.abort();
        signal?.removeEventListener('abort', abort);
      }
      if (!connected) {
        failingSince ??= Date.now();
        if (Date.now() - failingSince > timeout) throw new RaftError('watch_unavailable', `watch: no node answered GET /v1/watch for ${timeout} ms (${lastError})`);
      }
      if (last !== before) pause = WATCH_PAUSE_MS[0];
      else {
        // Nothing delivered (a node down, or one that ends the watch at once): do not spin.
        await sleep(pause, signal);
        pause = Math.min(pause * 2, WATCH_PAUSE_MS[1]);
      }
    }
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

  /** One HTTP request. InvalidRequestError when it cannot even be sent (a header fetch refuses): nothing left. */
  private async request(url: string, method: string, path: string, body: unknown, headers: Record<string, string>): Promise<Answer> {
    const all = { 'content-type': 'application/json', ...headers, ...(this.token !== undefined ? { authorization: `Bearer ${this.token}` } : {}) };
    try {
      new Headers(all);
    } catch (error) {
      throw new InvalidRequestError(`connect: cannot send ${method} ${path}: ${(error as Error).message}`);
    }
    const payload = body !== undefined ? JSON.stringify(body) : undefined;
    let status: number;
    let text: string;
    if (hasDotSegment(path)) {
      // fetch (WHATWG URL) would resolve a segment `.` or `..` (even %2E%2E) away: a task or key
      // named so is reached only with the path sent as it is.
      ({ status, text } = await rawRequest(url, method, path, all, payload, this.attemptTimeout));
    } else {
      const res = await fetch(`${url}${path}`, { method, headers: all, ...(payload !== undefined ? { body: payload } : {}), signal: AbortSignal.timeout(this.attemptTimeout) });
      status = res.status;
      text = await res.text();
    }
    let parsed: unknown = {};
    try {
      parsed = text === '' ? {} : JSON.parse(text);
    } catch {
      parsed = { error: 'not_json', reason: text.slice(0, 200) };
    }
    return { status, body: (typeof parsed === 'object' && parsed !== null ? parsed : {}) as Record<string, unknown> };
  }
}

/** Whether a path (before `?`) has a segment that URL would resolve: `.` or `..`, also percent-encoded. */
function hasDotSegment(path: string): boolean {
  const query = path.indexOf('?');
  return (query < 0 ? path : path.slice(0, query)).split('/').some((segment) => /^(\.|%2e){1,2}$/i.test(segment));
}

/** A request with its path sent as given (node:http, not fetch); a connection error keeps its code as `cause`, as fetch's does. */
function rawRequest(
  base: string,
  method: string,
  path: string,
  headers: Record<string, string>,
  body: string | undefined,
  timeoutMs: number,
): Promise<{ status: number; text: string }> {
  const target = new URL(base);
  const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send({ host: target.hostname.replace(/^\[(.*)\]$/, '$1'), port: target.port, method, path, headers, signal: AbortSignal.timeout(timeoutMs) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', (error) => reject(new Error(error.message, { cause: error })));
    });
    req.on('error', (error) => reject(new Error(error.message, { cause: error })));
    req.end(body);
  });
}

/** A watch connection silent this long (the node sends a keep-alive every 15 s) is taken for dead. */
const WATCH_SILENCE_MS = 45_000;
/** The first and the longest pause between watch attempts that delivered nothing. */
const WATCH_PAUSE_MS = [200, 2000] as const;

/** Wait `ms`, or less if `signal` aborts. */
function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

function kvPath(key: string): string {
  return `/kv/${encodeURIComponent(key)}`;
}

/** The Server-Sent Events of a response body: `id`, `event` and `data` of each dispatched block (comments skipped). */
async function* serverSentEvents(body: ReadableStream<Uint8Array>, heard: () => void): AsyncGenerator<{ id?: string; event: string; data: string }> {
  const decoder = new TextDecoder();
  let buffer = '';
  let id: string | undefined;
  let event = '';
  let data: string[] = [];
  for await (const chunk of body) {
    heard();
    buffer += decoder.decode(chunk, { stream: true });
    for (let nl = buffer.search(/\r\n|\r|\n/); nl >= 0; nl = buffer.search(/\r\n|\r|\n/)) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + (buffer.startsWith('\r\n', nl) ? 2 : 1));
      if (line === '') {
        // A block: an id alone moves the position (the node's resume point) without an event.
        if (data.length > 0 || id !== undefined) yield { ...(id !== undefined ? { id } : {}), event: event || 'message', data: data.join('\n') };
        id = undefined;
        event = '';
        data = [];
        continue;
      }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'id') id = value;
      else if (field === 'event') event = value;
      else if (field === 'data') data.push(value);
    }
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
