/**
 * Keeping a lease or a claim alive from an agent: renew (or heartbeat) on a timer, and decide when
 * it is lost. Shared by the helpers (helpers.ts) and the actors (actors.ts); these run in agents,
 * never in the replicated core, so they use real timers — through an injectable `Timers` so that
 * tests drive them in virtual time.
 *
 * When is a lease lost? When a renewal is refused (a stale token: it expired, was released, or was
 * granted again since), or when no renewal has succeeded within `ttlMs` of sending the request that
 * last extended it. `expiresAt` is on the cluster's clock, which an agent cannot compare with its
 * own; but the leader stamps an entry after the request reached it, so `ttlMs` counted from the
 * moment the request was sent ends no later than `expiresAt` (up to clock drift) — a local deadline
 * that errs on the safe side, by the request's latency, as the contract asks (types.ts).
 */
import { RaftError } from '../errors.js';
import type { CoordClient, FencingToken, TaskClaim } from './types.js';

/** The two timer functions the agent-side code uses: the global ones by default, a virtual clock in tests. */
export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const globalTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/** Whether `error` is a RaftError with this `code` (by code, so that a copy of the class from another bundle counts too). */
export function hasCode(error: unknown, code: string): boolean {
  return error instanceof RaftError ? error.code === code : typeof error === 'object' && error !== null && (error as { code?: unknown }).code === code;
}

/** A renewal or heartbeat answer that means the token is no longer current. */
export const isStale = (error: unknown): boolean => hasCode(error, 'stale_token');
/** For claims also NotFoundError: the task is gone. */
export const isClaimGone = (error: unknown): boolean => isStale(error) || hasCode(error, 'not_found');

/**
 * The lease was lost while its holder was acting on it: a renewal was refused (`cause` is the
 * StaleTokenError), or none succeeded in time (`cause` undefined). Stop acting on `token`.
 */
export class LeaseLostError extends RaftError {
  constructor(
    readonly lease: string,
    readonly token: FencingToken,
    override readonly cause?: unknown,
  ) {
    super(
      'lease_lost',
      `lease ${JSON.stringify(lease)} (token ${token}) was lost: ${cause === undefined ? 'it could not be renewed before it expired' : `its renewal was refused (${String((cause as Error).message ?? cause)})`}; stop acting on it and acquire it again`,
    );
  }
}

/**
 * The claim on a task was lost: a heartbeat was refused (StaleTokenError, or NotFoundError: the task
 * is gone), or none succeeded in time (`cause` undefined). The task goes back to its queue (or is
 * dead); stop working on it — a completion under `token` would be refused.
 */
export class ClaimLostError extends RaftError {
  constructor(
    readonly task: string,
    readonly token: FencingToken,
    override readonly cause?: unknown,
  ) {
    super(
      'claim_lost',
      `the claim on task ${JSON.stringify(task)} (token ${token}) was lost: ${cause === undefined ? 'no heartbeat succeeded before it expired' : `a heartbeat was refused (${String((cause as Error).message ?? cause)})`}; stop working on it`,
    );
  }
}

/**
 * A timer of `ttlMs` started when a request that may extend a lease or claim is sent. The one of
 * the last successful request is the deadline; see the header.
 */
export class Deadline {
  private fired = false;
  private onFire: (() => void) | undefined;
  private readonly handle: unknown;

  constructor(
    private readonly timers: Timers,
    ttlMs: number,
  ) {
    this.handle = timers.setTimeout(() => {
      this.fired = true;
      this.onFire?.();
    }, ttlMs);
  }

  /** Call `fn` when the deadline passes (at once if it has). */
  whenPassed(fn: () => void): void {
    this.onFire = fn;
    if (this.fired) fn();
  }

  cancel(): void {
    this.onFire = undefined;
    this.timers.clearTimeout(this.handle);
  }
}

export interface KeepAliveOptions {
  readonly timers: Timers;
  readonly ttlMs: number;
  /** Between successful extensions. */
  readonly everyMs: number;
  /** After an extension that failed for another reason than a loss (no leader, a network error, an unknown outcome). */
  readonly retryMs: number;
  /** Started before sending the request that granted the lease or claim. */
  readonly deadline: Deadline;
  /** Renew or heartbeat. */
  readonly extend: () => Promise<unknown>;
  /** Whether an extension's error means the token is no longer current. */
  readonly isLoss: (error: unknown) => boolean;
  /** Called once: the cause of a refusal, or undefined when the deadline passed. */
  readonly onLost: (cause: unknown) => void;
  /** Extensions that failed and will be retried. */
  readonly onError?: (error: unknown) => void;
}

/** Heartbeats a claim on a timer until stopped or lost (a heartbeat refused, or none in time). */
export function keepClaim(client: CoordClient, claim: TaskClaim, options: Omit<KeepAliveOptions, 'extend' | 'isLoss'>): { stop(): void } {
  return keepAlive({ ...options, extend: () => client.tasks.heartbeat(claim.id, claim.token), isLoss: isClaimGone });
}

/** Extends on a timer until stopped or lost; at most one extension is in flight. */
export function keepAlive(options: KeepAliveOptions): { stop(): void } {
  const { timers, ttlMs, everyMs, retryMs, extend, isLoss, onLost, onError } = options;
  let deadline = options.deadline;
  let done = false;
  let timer: unknown;
  const lose = (cause: unknown) => {
    if (done) return;
    stop();
    onLost(cause);
  };
  const schedule = (ms: number) => {
    timer = timers.setTimeout(() => {
      timer = undefined;
      void once();
    }, ms);
  };
  const once = async () => {
    const candidate = new Deadline(timers, ttlMs);
    try {
      await extend();
    } catch (error) {
      candidate.cancel();
      if (done) return;
      if (isLoss(error)) return lose(error);
      onError?.(error);
      return schedule(retryMs);
    }
    if (done) return candidate.cancel();
    deadline.cancel();
    deadline = candidate;
    deadline.whenPassed(() => lose(undefined));
    schedule(everyMs);
  };
  function stop() {
    done = true;
    if (timer !== undefined) timers.clearTimeout(timer);
    deadline.cancel();
  }
  deadline.whenPassed(() => lose(undefined));
  schedule(everyMs);
  return { stop };
}

/** A promise that resolves after `ms` on `timers`, or at once when `signal` aborts. */
export function pause(timers: Timers, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      timers.clearTimeout(handle);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const handle = timers.setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
