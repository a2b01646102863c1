/**
 * The coordination vocabulary for agent teams: leases with fencing tokens, task queues whose
 * claims expire, and a watch of every change. The commands are replicated (see
 * src/coord/state-machine.ts); the client interface (`CoordClient`) is what every way in offers:
 * the in-process client, `connect({ peers })` over HTTP, the XState actors, the MCP tools.
 *
 * Time: `expiresAt` and every other instant are milliseconds on the cluster's replicated clock —
 * the leader stamps each entry with its wall clock, never below the stamp before it — so they are
 * comparable with `Date.now()` only as far as the leader's clock is right. An agent should act as
 * if it lost a lease or a claim a little before `expiresAt`; the fencing token is what makes a late
 * action harmless: it is refused once a later grant exists.
 */
import type { JsonValue } from '../core/json.js';
import type { LogIndex } from '../core/types.js';

/** The log index of the entry that granted a lease or a claim. Only grows, across leaders and restarts. */
export type FencingToken = LogIndex;

/** Shortest and longest TTL of a lease or a claim, ms. */
export const MIN_TTL_MS = 100;
export const MAX_TTL_MS = 24 * 60 * 60 * 1000;
/** Longest lease name, queue name, task id, holder or worker name. */
export const MAX_NAME_LENGTH = 256;
/** Attempts a task gets before it is dead-lettered, unless `post` says otherwise. */
export const DEFAULT_MAX_ATTEMPTS = 5;
/** Longest reason a failed task records (longer ones are cut by the helpers, refused by the cluster). */
export const MAX_REASON_LENGTH = 4096;
export const MAX_ATTEMPTS_LIMIT = 1000;

// ---------------------------------------------------------------- leases

export interface LeaseGrant {
  readonly name: string;
  readonly holder: string;
  readonly token: FencingToken;
  /** When the lease ends unless renewed (replicated clock, ms). */
  readonly expiresAt: number;
  readonly ttlMs: number;
}

/** Someone else holds it: who, with which token, until when. */
export interface LeaseHeld {
  readonly ok: false;
  readonly reason: 'lease_held';
  readonly name: string;
  readonly holder: string;
  readonly token: FencingToken;
  readonly expiresAt: number;
}

/**
 * A token that is no longer the current one: the lease or claim expired, was released or
 * completed, or was granted again since. `current` is who holds it now, when someone does.
 */
export interface StaleToken {
  readonly ok: false;
  readonly reason: 'stale_token';
  readonly token: FencingToken;
  readonly detail: string;
  readonly current?: { readonly holder: string; readonly token: FencingToken; readonly expiresAt: number };
}

// ---------------------------------------------------------------- tasks

export type TaskState = 'queued' | 'claimed' | 'done' | 'dead';

export interface TaskClaim {
  readonly id: string;
  readonly queue: string;
  readonly task: JsonValue;
  readonly worker: string;
  readonly token: FencingToken;
  readonly expiresAt: number;
  /** 1 for the first claim of this task, 2 after one expiry or retried failure, … */
  readonly attempt: number;
}

export interface TaskView {
  readonly id: string;
  readonly queue: string;
  readonly task: JsonValue;
  readonly state: TaskState;
  readonly attempts: number;
  readonly maxAttempts: number;
  /** The entry that posted it. */
  readonly postedAt: LogIndex;
  /** While claimed: by whom, with which token, until when. */
  readonly claim?: { readonly worker: string; readonly token: FencingToken; readonly expiresAt: number };
  /** Once done: the result, and the token of the claim that completed it. */
  readonly result?: JsonValue;
  readonly completedBy?: { readonly worker: string; readonly token: FencingToken };
  /** Once dead, or after a failure: why. */
  readonly reason?: string;
}

export interface QueueView {
  readonly queue: string;
  readonly counts: Readonly<Record<TaskState, number>>;
  readonly tasks: readonly TaskView[];
}

// ---------------------------------------------------------------- watch

export type WatchKind = 'kv' | 'lease' | 'task';

/**
 * One change. `key` is the KV key, the lease name, or `<queue>/<task id>`; `value` is the new KV
 * value, the lease (LeaseGrant), or the task (TaskView); absent for a delete. `op` says what
 * happened: kv `put | delete`; lease `acquired | renewed | released | expired`; task `posted |
 * claimed | heartbeat | completed | failed | requeued | dead`.
 */
export interface Change {
  readonly index: LogIndex;
  readonly kind: WatchKind;
  readonly key: string;
  readonly op: string;
  readonly value?: JsonValue;
  /** A KV write made on behalf of a lease or a claim: the fence it carried (accepted: it was current). */
  readonly fence?: Fence;
}

/** Every change one log entry made (an entry may expire leases and claims as well as do its own work). */
export interface ChangeBatch {
  readonly index: LogIndex;
  readonly changes: readonly Change[];
}

/** What a watch yields: a batch of changes, or that the history it asked for is gone (re-read, then watch from `index`). */
export type WatchMessage = ({ readonly type: 'changes' } & ChangeBatch) | { readonly type: 'compacted'; readonly index: LogIndex; readonly detail: string };

export interface WatchOptions {
  /** First index to deliver (inclusive). Default: changes from now on. Resume with the last index seen + 1. */
  readonly from?: LogIndex;
  /** Only these kinds (default: all). */
  readonly kinds?: readonly WatchKind[];
  readonly signal?: AbortSignal;
}

// ---------------------------------------------------------------- the client interface

/** Who holds a lease and for how long: `ttlMs` between MIN_TTL_MS and MAX_TTL_MS. */
export interface AcquireOptions {
  readonly holder: string;
  readonly ttlMs: number;
}

export interface LeaseApi {
  /** Take the lease if it is free, expired or already `holder`'s (then under a new token). @throws LeaseHeldError */
  acquire(name: string, options: AcquireOptions): Promise<LeaseGrant>;
  /** Extend it by its TTL (or `ttlMs`) from now. @throws StaleTokenError */
  renew(name: string, token: FencingToken, options?: { readonly ttlMs?: number }): Promise<LeaseGrant>;
  /** Give it up. @throws StaleTokenError */
  release(name: string, token: FencingToken): Promise<void>;
  /** The lease now (linearizable), or undefined when nobody holds it. */
  get(name: string): Promise<LeaseGrant | undefined>;
  /** Every lease held now, by name. */
  list(): Promise<LeaseGrant[]>;
}

export interface PostOptions {
  /** Makes posting idempotent: a second post with this id (in the same queue) returns the first. Default: `t<index>`. */
  readonly id?: string;
  /** Claims before the task is dead-lettered (default DEFAULT_MAX_ATTEMPTS). */
  readonly maxAttempts?: number;
}

export interface ClaimOptions {
  readonly worker: string;
  readonly ttlMs: number;
}

export interface TaskApi {
  post(queue: string, task: JsonValue, options?: PostOptions): Promise<{ id: string; index: LogIndex; duplicate: boolean }>;
  /** The oldest queued task of `queue`, now claimed by `worker`, or undefined when none is queued. */
  claim(queue: string, options: ClaimOptions): Promise<TaskClaim | undefined>;
  /** Extend the claim by its TTL (or `ttlMs`) from now. @throws StaleTokenError, NotFoundError */
  heartbeat(id: string, token: FencingToken, options?: { readonly ttlMs?: number }): Promise<{ expiresAt: number }>;
  /** Done, with its result. @throws StaleTokenError, NotFoundError */
  complete(id: string, token: FencingToken, result?: JsonValue): Promise<void>;
  /** Give up on it: back to the queue when `retry` (default true) and attempts remain, else dead. @throws StaleTokenError, NotFoundError */
  fail(id: string, token: FencingToken, reason: string, options?: { readonly retry?: boolean }): Promise<{ state: TaskState }>;
  get(id: string): Promise<TaskView | undefined>;
  /** The queue's tasks (oldest first, at most `limit`, default 1000) and counts by state. */
  list(queue: string, options?: { readonly limit?: number }): Promise<QueueView>;
}

/** A KV write made on behalf of a lease or a claim: refused with StaleTokenError once the token is not current. */
export type Fence = { readonly lease: string; readonly token: FencingToken } | { readonly task: string; readonly token: FencingToken };

export interface CoordClient {
  readonly leases: LeaseApi;
  readonly tasks: TaskApi;
  /** Every change whose key starts with `prefix`, in index order; see WatchOptions. Ends when `signal` aborts. */
  watch(prefix: string, options?: WatchOptions): AsyncIterable<WatchMessage>;
}
