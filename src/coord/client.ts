/**
 * `CoordClient` over any way of reaching the cluster's state machine: in process (a KvClient over
 * RaftNodes, see `coordClient`) or over HTTP (`connect`, src/client/connect.ts). Each call is one
 * command or one linearizable read; a write is numbered (client id + sequence number) by the
 * KvClient underneath, so a call retried after an unknown outcome is applied at most once — a
 * claim retried on another node never claims a second task.
 *
 * The state machine's refusals become errors a caller can branch on: `lease_held` → LeaseHeldError,
 * `stale_token` → StaleTokenError, `not_found` → NotFoundError, a refused command →
 * InvalidRequestError.
 */
import type { JsonValue } from '../core/json.js';
import type { LogIndex } from '../core/types.js';
import { InvalidRequestError, LeaseHeldError, NotFoundError, RaftError, StaleTokenError } from '../errors.js';
import { KvClient, type KvCluster, type KvNode } from '../kv/client.js';
import type { Clock } from '../runtime/clock.js';
import type { RaftNode } from '../runtime/raft-node.js';
import { type Journal, watchJournal } from './watch.js';
import type { CoordCommand, CoordQuery, CoordResult } from './state-machine.js';
import type { CasResult, GetResult, ListResult } from '../kv/state-machine.js';
import type { CoordClient, Fence, FencingToken, LeaseGrant, QueueView, TaskClaim, TaskState, TaskView, WatchMessage, WatchOptions } from './types.js';

/** How a CoordClient reaches the cluster: commands, linearizable reads, and a watch. */
export interface CoordTransport {
  command(command: CoordCommand): Promise<CoordResult>;
  query<T>(query: CoordQuery): Promise<T>;
  watch(prefix: string, options?: WatchOptions): AsyncIterable<WatchMessage>;
}

/** A KvClient (one operation at a time) as the command and query half of a CoordTransport. */
export function kvClientCommands(client: KvClient): Pick<CoordTransport, 'command' | 'query'> {
  return { command: (command) => client.command<CoordResult>(command), query: (query) => client.query(query) };
}

/** KV writes that may be made on behalf of a lease or a claim: refused with StaleTokenError once its token is not current. */
export interface FencedKvApi {
  /** A linearizable read. */
  get(key: string): Promise<GetResult>;
  /** Every key starting with `prefix` (default: all), with its value, in key order: a linearizable read per page. */
  list(prefix?: string): Promise<{ key: string; value: JsonValue }[]>;
  put(key: string, value: JsonValue, options?: { readonly fence?: Fence }): Promise<{ index: LogIndex }>;
  delete(key: string, options?: { readonly fence?: Fence }): Promise<{ existed: boolean }>;
  /** A failed precondition is an answer (`ok: false`), not an error. */
  cas(key: string, from: JsonValue, to: JsonValue, options?: { readonly fence?: Fence }): Promise<CasResult>;
}

export function coordClient(transport: CoordTransport): CoordClient & { readonly kv: FencedKvApi } {
  const run = async <T>(command: CoordCommand): Promise<T> => {
    const result = await transport.command(command);
    return orThrow(result) as T;
  };
  /** Queues the last claim found empty (see tasks.claim). */
  const emptyQueues = new Set<string>();
  const fenced = (options: { readonly fence?: Fence } | undefined) => (options?.fence !== undefined ? { fence: options.fence } : {});
  return {
    kv: {
      get: (key) => transport.query<GetResult>({ type: 'get', key }),
      list: async (prefix = '') => {
        const entries: { key: string; value: JsonValue }[] = [];
        for (let after: string | undefined; ; ) {
          const page = await transport.query<ListResult>({ type: 'list', prefix, ...(after !== undefined ? { after } : {}) });
          entries.push(...page.entries);
          const last = page.entries[page.entries.length - 1];
          if (!page.more || last === undefined) return entries;
          after = last.key;
        }
      },
      put: async (key, value, options) => {
        const { index } = await run<{ index: LogIndex }>({ type: 'put', key, value, ...fenced(options) });
        return { index };
      },
      delete: async (key, options) => {
        const { existed } = await run<{ existed: boolean }>({ type: 'delete', key, ...fenced(options) });
        return { existed };
      },
      cas: async (key, from, to, options) => {
        const result = await transport.command({ type: 'cas', key, from, to, ...fenced(options) });
        if ((result as { reason?: unknown }).reason === 'precondition_failed' || (result as { reason?: unknown }).reason === 'not_found') return result as CasResult;
        return orThrow(result) as CasResult;
      },
    },
    leases: {
      acquire: async (name, { holder, ttlMs }) => (await run<{ lease: LeaseGrant }>({ type: 'lease.acquire', name, holder, ttlMs })).lease,
      renew: async (name, token, options = {}) =>
        (await run<{ lease: LeaseGrant }>({ type: 'lease.renew', name, token, ...(options.ttlMs !== undefined ? { ttlMs: options.ttlMs } : {}) })).lease,
      release: async (name, token) => {
        await run({ type: 'lease.release', name, token });
      },
      get: async (name) => (await transport.query<{ lease: LeaseGrant | null }>({ type: 'lease.get', name })).lease ?? undefined,
      list: async () => [...(await transport.query<{ leases: readonly LeaseGrant[] }>({ type: 'lease.list' })).leases],
    },
    tasks: {
      post: async (queue, task, options = {}) => {
        const command = {
          type: 'task.post',
          queue,
          task,
          ...(options.id !== undefined ? { id: options.id } : {}),
          ...(options.maxAttempts !== undefined ? { maxAttempts: options.maxAttempts } : {}),
        } as const;
        const result = await run<{ id: string; duplicate: boolean; index: number }>(command);
        return { id: result.id, index: result.index, duplicate: result.duplicate };
      },
      claim: async (queue, { worker, ttlMs }) => {
        // A claim is a log entry. After finding `queue` empty, look (a linearizable read: one
        // heartbeat round, no disk write) before claiming again, so a worker polling an idle queue
        // does not fill the log; a busy queue is claimed straight away.
        if (emptyQueues.has(queue)) {
          const view = await transport.query<QueueView>({ type: 'task.list', queue, limit: 1 });
          if (view.counts.queued === 0) return undefined;
        }
        const claim = (await run<{ claim: TaskClaim | null }>({ type: 'task.claim', queue, worker, ttlMs })).claim ?? undefined;
        if (claim === undefined) emptyQueues.add(queue);
        else emptyQueues.delete(queue);
        return claim;
      },
      heartbeat: async (id, token, options = {}) =>
        run<{ expiresAt: number }>({ type: 'task.heartbeat', id, token, ...(options.ttlMs !== undefined ? { ttlMs: options.ttlMs } : {}) }).then(({ expiresAt }) => ({
          expiresAt,
        })),
      complete: async (id, token, result) => {
        await run({ type: 'task.complete', id, token, ...(result !== undefined ? { result } : {}) });
      },
      fail: async (id, token, reason, options = {}) =>
        run<{ state: TaskState }>({ type: 'task.fail', id, token, reason, ...(options.retry !== undefined ? { retry: options.retry } : {}) }).then(({ state }) => ({ state })),
      get: async (id) => (await transport.query<{ task: TaskView | null }>({ type: 'task.get', id })).task ?? undefined,
      list: (queue, options = {}) => transport.query<QueueView>({ type: 'task.list', queue, ...(options.limit !== undefined ? { limit: options.limit } : {}) }),
    },
    watch: (prefix, options) => transport.watch(prefix, options),
  };
}

/** The result of a command that succeeded, or the error its refusal means. */
export function orThrow(result: CoordResult): CoordResult {
  if (typeof result !== 'object' || result === null) throw new RaftError('internal', `the cluster answered ${JSON.stringify(result)}, not the result of a coordination command`);
  if (result.ok !== false) return result;
  const refusal = result as { reason: string } & Record<string, unknown>;
  switch (refusal.reason) {
    case 'lease_held':
      throw new LeaseHeldError(refusal.name as string, refusal.holder as string, refusal.expiresAt as number, refusal.token as number);
    case 'stale_token':
      throw new StaleTokenError(refusal.token as FencingToken, refusal.detail as string, refusal.current as StaleTokenError['current']);
    case 'not_found':
      throw new NotFoundError((refusal.detail as string | undefined) ?? 'not found');
    default:
      throw new InvalidRequestError((refusal.detail as string | undefined) ?? (refusal.error as string | undefined) ?? JSON.stringify(result as JsonValue));
  }
}

export interface LocalCoordClientOptions {
  /** Names this client's session in the dedup table (a random suffix is added). Default `local`. */
  readonly clientId?: string;
  /** The state machine whose journal `watch` reads (any node's: each has every committed change). Without it, `watch` throws. */
  readonly journal?: Journal;
  readonly clock?: Clock;
  /** Give up on a call after this many ms (default 5000). */
  readonly timeout?: number;
}

/**
 * A CoordClient of in-process nodes (createRaftNode with a CoordStateMachine): it finds the leader,
 * retries across elections, and numbers its writes, like KvClient — one call at a time per client
 * (make one per agent for concurrency).
 */
export function localCoordClient(nodes: readonly Pick<RaftNode, 'id' | 'propose' | 'read'>[], options: LocalCoordClientOptions = {}): CoordClient & { readonly kv: FencedKvApi } {
  const byId = new Map(nodes.map((node) => [node.id, node as unknown as KvNode]));
  const cluster: KvCluster = { ids: [...byId.keys()], node: (id) => byId.get(id) };
  const kv = new KvClient(cluster, { clientId: options.clientId ?? 'local', ...(options.clock ? { clock: options.clock } : {}), timeout: options.timeout ?? 5000 });
  const { journal } = options;
  return coordClient({
    ...kvClientCommands(kv),
    watch: (prefix, watchOptions) => {
      if (journal === undefined) throw new InvalidRequestError("localCoordClient: pass { journal } (a node's CoordStateMachine) to watch");
      return watchJournal(journal, prefix, watchOptions);
    },
  });
}
