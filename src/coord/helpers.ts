/**
 * Helpers for agents on top of a CoordClient: do something while holding a lease (`withLease`),
 * and work through a task queue (`processTasks`). Both keep what they hold alive in the
 * background and tell the work, through an AbortSignal, the moment it is lost — after that any
 * write under its fencing token is refused, so the work should stop (see keep-alive.ts for when a
 * lease or a claim counts as lost).
 */
import type { JsonValue } from '../core/json.js';
import { InvalidRequestError } from '../errors.js';
import { ClaimLostError, Deadline, globalTimers, hasCode, isClaimGone, isStale, keepAlive, keepClaim, LeaseLostError, pause, type Timers } from './keep-alive.js';
import { type CoordClient, type FencingToken, MAX_REASON_LENGTH, type TaskClaim, type TaskState } from './types.js';

export { ClaimLostError, globalTimers, LeaseLostError, type Timers } from './keep-alive.js';

export interface WithLeaseOptions {
  readonly holder: string;
  readonly ttlMs: number;
  /** Between renewals; default ttlMs / 3. */
  readonly renewEveryMs?: number;
  /** After a renewal that failed without being refused (no leader, a network error); default renewEveryMs / 4. */
  readonly retryMs?: number;
  /** Aborts `fn`'s signal with this signal's reason; the lease is released once `fn` settles. */
  readonly signal?: AbortSignal;
  readonly timers?: Timers;
  /** Renewals that failed and will be retried. */
  readonly onError?: (error: unknown) => void;
}

export interface HeldLease {
  readonly token: FencingToken;
  /** Aborts (with a LeaseLostError, or the caller's signal's reason) when `fn` should stop acting under `token`. */
  readonly signal: AbortSignal;
}

/**
 * Acquires lease `name` (LeaseHeldError if someone else holds it), runs `fn` while renewing it in
 * the background, and releases it when `fn` settles. If the lease is lost meanwhile, `fn`'s signal
 * aborts with a LeaseLostError; `fn` resolving anyway is its own decision (its value is returned),
 * `fn` rejecting makes withLease reject with the abort reason rather than `fn`'s error (which is
 * then usually an AbortError). A release refused as stale is ignored (the lease was lost); any
 * other release error is thrown: the work is done, and the lease expires by itself.
 */
export async function withLease<T>(client: CoordClient, name: string, options: WithLeaseOptions, fn: (lease: HeldLease) => Promise<T>): Promise<T> {
  const { holder, ttlMs, signal, timers = globalTimers, onError } = options;
  const renewEveryMs = options.renewEveryMs ?? ttlMs / 3;
  const retryMs = options.retryMs ?? renewEveryMs / 4;
  signal?.throwIfAborted();
  const deadline = new Deadline(timers, ttlMs);
  let grant: Awaited<ReturnType<CoordClient['leases']['acquire']>>;
  try {
    grant = await client.leases.acquire(name, { holder, ttlMs });
  } catch (error) {
    deadline.cancel();
    throw error;
  }
  const { token } = grant;
  if (signal?.aborted) {
    // The caller gave up while the lease was being acquired: hand it back rather than start fn.
    deadline.cancel();
    await client.leases.release(name, token).catch(() => undefined);
    throw signal.reason;
  }
  const controller = new AbortController();
  const abortWithCaller = () => controller.abort(signal?.reason);
  signal?.addEventListener('abort', abortWithCaller, { once: true });
  const keeper = keepAlive({
    timers,
    ttlMs,
    everyMs: renewEveryMs,
    retryMs,
    deadline,
    extend: () => client.leases.renew(name, token),
    isLoss: isStale,
    onLost: (cause) => controller.abort(new LeaseLostError(name, token, cause)),
    ...(onError ? { onError } : {}),
  });
  let outcome: { ok: true; value: T } | { ok: false; error: unknown };
  try {
    outcome = { ok: true, value: await fn({ token, signal: controller.signal }) };
  } catch (error) {
    outcome = { ok: false, error: controller.signal.aborted ? controller.signal.reason : error };
  }
  keeper.stop();
  signal?.removeEventListener('abort', abortWithCaller);
  try {
    await client.leases.release(name, token);
  } catch (error) {
    // Stale: the lease was lost (or expired) already. Another error after a failed fn: fn's error says more.
    if (!isStale(error) && outcome.ok) throw error;
  }
  if (!outcome.ok) throw outcome.error;
  return outcome.value;
}

export interface ProcessTasksOptions {
  readonly worker: string;
  readonly ttlMs: number;
  /** Between claims while the queue is empty (or a claim failed); default 1000. */
  readonly pollMs?: number;
  /** Between heartbeats; default ttlMs / 3. */
  readonly heartbeatEveryMs?: number;
  /** After a heartbeat, complete or fail that failed without being refused; default heartbeatEveryMs / 4. */
  readonly retryMs?: number;
  /** Stops claiming; running handlers' signals abort with its reason. */
  readonly signal?: AbortSignal;
  /** Tasks handled at once; default 1. */
  readonly concurrency?: number;
  readonly timers?: Timers;
  /** Errors that did not stop the loop: a claim, heartbeat, complete or fail that failed and was retried or given up. */
  readonly onError?: (error: unknown) => void;
}

export type TaskHandler = (task: TaskClaim, signal: AbortSignal) => Promise<JsonValue>;

/**
 * Claims tasks of `queue` and runs `handler` on each: completes the task with the handler's result,
 * fails it (back to the queue while attempts remain) with the handler's error. While the handler
 * runs the claim is heartbeated; if it is lost (a heartbeat refused: StaleTokenError or
 * NotFoundError, or none in time) the handler's signal aborts with a ClaimLostError and its outcome
 * is dropped — the task is someone else's now. Resolves once `signal` has aborted and every running
 * handler has settled (their signals abort too; one that still resolves completes its task, one
 * that rejects fails it with retry). Never rejects: errors that the loop survives go to `onError`.
 */
export async function processTasks(client: CoordClient, queue: string, options: ProcessTasksOptions, handler: TaskHandler): Promise<void> {
  const { worker, ttlMs, signal, timers = globalTimers, onError } = options;
  const pollMs = options.pollMs ?? 1000;
  const heartbeatEveryMs = options.heartbeatEveryMs ?? ttlMs / 3;
  const retryMs = options.retryMs ?? heartbeatEveryMs / 4;
  const concurrency = options.concurrency ?? 1;
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new InvalidRequestError(`processTasks: concurrency is a whole number ≥ 1, not ${concurrency}`);
  const report = (error: unknown) => onError?.(error);

  const handle = async (claim: TaskClaim, deadline: Deadline) => {
    const controller = new AbortController();
    const stopWithCaller = () => controller.abort(signal?.reason);
    signal?.addEventListener('abort', stopWithCaller, { once: true });
    let lost = false;
    const keeper = keepClaim(client, claim, {
      timers,
      ttlMs,
      everyMs: heartbeatEveryMs,
      retryMs,
      deadline,
      onLost: (cause) => {
        lost = true;
        controller.abort(new ClaimLostError(claim.id, claim.token, cause));
      },
      onError: report,
    });
    try {
      let outcome: { ok: true; result: JsonValue } | { ok: false; reason: string };
      try {
        outcome = { ok: true, result: await handler(claim, controller.signal) };
      } catch (error) {
        outcome = { ok: false, reason: reasonOf(error) };
      }
      // The heartbeats go on until the outcome is recorded: a slow complete must not lose the claim.
      if (!lost) {
        const recorded = await settleClaim(client, claim, outcome, { timers, retryMs, isLost: () => lost, onError: report });
        if (!recorded.settled && recorded.cause !== undefined) report(recorded.cause);
      }
    } finally {
      keeper.stop();
      signal?.removeEventListener('abort', stopWithCaller);
    }
  };

  const slot = async () => {
    while (!signal?.aborted) {
      const deadline = new Deadline(timers, ttlMs);
      let claim: TaskClaim | undefined;
      try {
        claim = await client.tasks.claim(queue, { worker, ttlMs });
      } catch (error) {
        report(error);
      }
      if (claim === undefined) {
        deadline.cancel();
        await pause(timers, pollMs, signal);
        continue;
      }
      if (signal?.aborted) {
        // Stopped while the claim was in flight: hand the task back rather than start it.
        deadline.cancel();
        await settleClaim(client, claim, { ok: false, reason: `worker ${worker} stopped`, retry: true }, { timers, retryMs, isLost: () => true, onError: report });
        break;
      }
      await handle(claim, deadline);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, slot));
}

/** What a handler's rejection is recorded as. */
function reasonOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export type ClaimOutcome = { readonly ok: true; readonly result: JsonValue } | { readonly ok: false; readonly reason: string; readonly retry?: boolean };

/**
 * Records a claim's outcome: complete or fail, retried every `retryMs` while it fails without being
 * refused and the claim is not lost. Answers settled with the task's state after it, or not
 * settled when the claim was refused (`cause`) or lost (`cause` undefined) first (a
 * completion refused as stale after an earlier attempt whose outcome was unknown counts as settled
 * when the task is done under this very token).
 */
export async function settleClaim(
  client: CoordClient,
  claim: TaskClaim,
  outcome: ClaimOutcome,
  options: { readonly timers: Timers; readonly retryMs: number; readonly isLost: () => boolean; readonly onError?: (error: unknown) => void },
): Promise<{ settled: true; state: TaskState } | { settled: false; cause: unknown }> {
  // The cluster refuses a longer reason; a refusal that no retry can change must not loop.
  if (!outcome.ok) outcome = { ...outcome, reason: outcome.reason.slice(0, MAX_REASON_LENGTH) };
  for (;;) {
    try {
      if (!outcome.ok) return { settled: true, state: (await client.tasks.fail(claim.id, claim.token, outcome.reason, { retry: outcome.retry ?? true })).state };
      await client.tasks.complete(claim.id, claim.token, outcome.result);
      return { settled: true, state: 'done' };
    } catch (error) {
      if (isClaimGone(error)) {
        if (outcome.ok && (await completedUnder(client, claim))) return { settled: true, state: 'done' };
        return { settled: false, cause: error };
      }
      if (hasCode(error, 'invalid_request') || hasCode(error, 'invalid_command')) {
        // Refused as it is (a result the cluster cannot store, too large, too deep): sending it
        // again changes nothing. A result becomes a failure (back to the queue while attempts
        // remain); a refused failure is given up, and the claim left to expire.
        if (!outcome.ok) return { settled: false, cause: error };
        options.onError?.(error);
        outcome = { ok: false, reason: `the result was refused: ${(error as Error).message}`.slice(0, MAX_REASON_LENGTH), retry: true };
        continue;
      }
      options.onError?.(error);
    }
    if (options.isLost()) return { settled: false, cause: undefined };
    await pause(options.timers, options.retryMs);
    if (options.isLost()) return { settled: false, cause: undefined };
  }
}

async function completedUnder(client: CoordClient, claim: TaskClaim): Promise<boolean> {
  try {
    const view = await client.tasks.get(claim.id);
    return view?.state === 'done' && view.completedBy?.token === claim.token;
  } catch {
    return false;
  }
}
