/**
 * A client of the replicated key-value store. It finds the leader by itself (following
 * NotLeaderError's hint, or trying the next node when none is known), retries while there is no
 * leader, and numbers its writes (client id + sequence number) so that a write retried after an
 * unknown outcome is applied at most once: the state machine remembers each client's last
 * sequence number and answers a repeat with the first answer.
 *
 * One client has one operation in flight at a time (calls queue up), which is what makes the
 * sequence numbers meaningful; use several clients for concurrency.
 */
import { randomUUID } from 'node:crypto';
import { jsonValueError, type JsonValue } from '../core/json.js';
import type { NodeId } from '../core/types.js';
import { InvalidRequestError, NotLeaderError, OutcomeUnknownError, RaftError, ReadTimeoutError } from '../errors.js';
import { systemClock, within, type Clock } from '../runtime/clock.js';
import type { RaftNode } from '../runtime/raft-node.js';
import {
  MAX_KEY_LENGTH,
  MAX_VALUE_DEPTH,
  type CasResult,
  type DeleteResult,
  type GetResult,
  type KvCommand,
  type KvQuery,
  type KvQueryResult,
  type KvResult,
  type ListQuery,
  type ListResult,
  type PutResult,
} from './state-machine.js';

export type KvNode = Pick<RaftNode<KvCommand, KvResult, KvQuery, KvQueryResult>, 'propose' | 'read'>;

/** Where the client can reach nodes; `node(id)` is undefined while that node is down. */
export interface KvCluster {
  readonly ids: readonly NodeId[];
  node(id: NodeId): KvNode | undefined;
}

export interface KvClientOptions {
  /**
   * Names the client in logs and in the dedup table. Each KvClient instance is its own session
   * (the id is suffixed with a random session id), so a client created again after a restart
   * never has its new writes mistaken for retries of the old ones.
   */
  clientId: string;
  /**
   * The session id to number writes under, instead of `clientId` + a random suffix. Only for a
   * caller that guarantees no other client instance ever uses it (the simulator: a seed must
   * replay to the byte).
   */
  session?: string;
  clock?: Clock;
  /** Pause before retrying when no leader is known, ms. Default 50. */
  retryDelay?: number;
  /** Give up after this long, ms. Default 5000. A write that may have been applied then fails with OutcomeUnknownError. */
  timeout?: number;
  /**
   * Try the next node when one has not answered within this many ms (default: the whole timeout).
   * A node that lost its leadership without knowing yet holds writes until it finds out; a
   * shorter wait moves on to the real leader. A write retried elsewhere keeps its sequence
   * number, so it is still applied at most once.
   */
  attemptTimeout?: number;
}

export class KvClient {
  private seq = 0;
  /** clientId + a per-instance session id: sequence numbers are only meaningful within one instance. */
  private readonly session: string;
  private leaderHint: NodeId | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly clock: Clock;

  constructor(
    private readonly cluster: KvCluster,
    private readonly options: KvClientOptions,
  ) {
    if (cluster.ids.length === 0) throw new RangeError('a KV client needs at least one node');
    this.clock = options.clock ?? systemClock;
    this.session = options.session ?? `${options.clientId}#${randomUUID()}`;
  }

  /** Rejects at once with InvalidRequestError, asking no node, if `key` is not 1 to MAX_KEY_LENGTH characters. */
  get(key: string): Promise<GetResult> {
    return refuseBadKey(key) ?? this.enqueue(() => this.call<GetResult>((node) => node.read({ type: 'get', key }) as Promise<GetResult>, false));
  }

  /** One page of the keys starting with `prefix`, after `after`, in key order (a linearizable read). */
  list(prefix?: string, page: { after?: string; limit?: number } = {}): Promise<ListResult> {
    const query: ListQuery = { type: 'list', ...(prefix !== undefined ? { prefix } : {}), ...page };
    return this.enqueue(() => this.call<ListResult>((node) => node.read(query) as Promise<ListResult>, false));
  }

  /** Rejects at once with InvalidRequestError, asking no node, if `value` is not a JSON value. */
  put(key: string, value: JsonValue): Promise<PutResult> {
    return refuseBadKey(key) ?? refuseNonJson({ value }) ?? this.write<PutResult>({ type: 'put', key, value });
  }

  delete(key: string): Promise<DeleteResult> {
    return refuseBadKey(key) ?? this.write<DeleteResult>({ type: 'delete', key });
  }

  /** Rejects at once with InvalidRequestError, asking no node, if `from` or `to` is not a JSON value. */
  cas(key: string, from: JsonValue, to: JsonValue): Promise<CasResult> {
    return refuseBadKey(key) ?? refuseNonJson({ from, to }) ?? this.write<CasResult>({ type: 'cas', key, from, to });
  }

  /**
   * Any command of the cluster's state machine (a coordination command: src/coord/state-machine.ts),
   * numbered for at-most-once like every write; resolves with the state machine's result.
   */
  command<T>(command: { readonly type: string }): Promise<T> {
    return this.write<T>(command as KvCommand);
  }

  /** Any query of the cluster's state machine, as a linearizable read. */
  query<T>(query: { readonly type: string }): Promise<T> {
    return this.enqueue(() => this.call<T>((node) => node.read(query as KvQuery) as Promise<T>, false));
  }

  private write<T>(command: KvCommand): Promise<T> {
    return this.enqueue(async () => {
      const numbered = { ...command, client: { id: this.session, seq: ++this.seq } } as KvCommand;
      const { result } = await this.call((node) => node.propose(numbered), true);
      if (typeof result === 'object' && result !== null && 'reason' in result && (result.reason === 'invalid_command' || result.reason === 'stale')) {
        throw new RaftError(result.reason, (result as { error: string }).error);
      }
      return result as T;
    });
  }

  private enqueue<T>(operation: () => Promise<T>): Promise<T> {
    const run = this.queue.then(operation, operation);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Try nodes until one answers as leader, or the timeout passes. */
  private async call<T>(attempt: (node: KvNode) => Promise<T>, isWrite: boolean): Promise<T> {
    const deadline = this.clock.now() + (this.options.timeout ?? 5000);
    const ids = this.cluster.ids;
    let target = this.leaderHint ?? (ids[0] as NodeId);
    let mayHaveApplied = false;
    let hops = 0;
    let lastError: unknown;
    while (this.clock.now() < deadline) {
      const node = this.cluster.node(target);
      if (node !== undefined) {
        try {
          const attemptDeadline = Math.min(deadline, this.clock.now() + (this.options.attemptTimeout ?? Infinity));
          const value = await this.before(attemptDeadline, attempt(node), isWrite);
          this.leaderHint = target;
          return value;
        } catch (error) {
          lastError = error;
          // A refusal that no other node, and no later try, would answer differently. If an
          // earlier try may have reached a log, the write's outcome is still unknown, though.
          if (error instanceof InvalidRequestError || (error instanceof RaftError && error.code === 'unauthorized')) {
            if (mayHaveApplied) throw new OutcomeUnknownError(`an earlier try may have applied the write, then a node refused it (${error.message})`);
            throw error;
          }
          if (error instanceof NotLeaderError && error.leaderId !== undefined && error.leaderId !== target) {
            target = error.leaderId; // go straight to the leader it named
            // …at once the first time; after that, two nodes naming each other must not spin.
            if (hops++ > 0) await this.sleep(this.options.retryDelay ?? 50);
            continue;
          }
          // Not a plain refusal: the write may have reached a log (and may yet commit).
          if (isWrite && !(error instanceof NotLeaderError)) mayHaveApplied = true;
        }
      }
      target = ids[(ids.indexOf(target) + 1) % ids.length] as NodeId;
      this.leaderHint = undefined;
      await this.sleep(this.options.retryDelay ?? 50);
    }
    if (mayHaveApplied) throw new OutcomeUnknownError(`the write did not complete within ${this.options.timeout ?? 5000} ms`);
    throw lastError instanceof RaftError ? lastError : new NotLeaderError(undefined);
  }

  /** `attempt`, or a rejection once the deadline passes (an attempt may hang on a node that lost its leader). */
  private before<T>(deadline: number, attempt: Promise<T>, isWrite: boolean): Promise<T> {
    const late = () => (isWrite ? new OutcomeUnknownError('the node did not answer before the deadline') : new ReadTimeoutError(this.options.timeout ?? 5000));
    return within(this.clock, attempt, Math.max(0, deadline - this.clock.now()), late);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.clock.setTimeout(resolve, ms));
  }
}

/**
 * A rejection if one of `values` is not a JSON value the store keeps (at most MAX_VALUE_DEPTH
 * deep): such a write could never apply as given, so no node is asked and no sequence number used.
 */
/** A rejection if `key` is not a key the store keeps: no node is asked, no sequence number used. */
function refuseBadKey(key: unknown): Promise<never> | undefined {
  if (typeof key === 'string' && key.length >= 1 && key.length <= MAX_KEY_LENGTH) return undefined;
  const what = typeof key !== 'string' ? `a ${typeof key}` : key.length === 0 ? 'empty' : `${key.length} characters long`;
  return Promise.reject(new InvalidRequestError(`a key is a string of 1 to ${MAX_KEY_LENGTH} characters; this one is ${what}`));
}

function refuseNonJson(values: Record<string, unknown>): Promise<never> | undefined {
  for (const [name, value] of Object.entries(values)) {
    const error = jsonValueError(value, name, MAX_VALUE_DEPTH);
    if (error !== undefined) return Promise.reject(new InvalidRequestError(error));
  }
  return undefined;
}
