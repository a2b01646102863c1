/**
 * Actor logic for agents' own statecharts (XState v5, from 5.20 on): hold a lease, claim and keep a
 * task, follow a watch. Each is callback logic: it talks to the CoordClient, and tells its parent
 * what happened with events (`sendBack`); stopping it (leaving the state that invokes it) gives up
 * what it holds. See machines/agent.ts for a statechart that uses them.
 *
 * Events to the parent:
 * - leaseActor: `lease.acquired { token, expiresAt }`, `lease.lost { reason }` (then it tries to
 *   acquire again, and sends `lease.acquired` with a new token when it has).
 * - claimTaskActor: `task.claimed { claim }`, then one of `task.completed { id }`, `task.failed { id,
 *   state }`, `claim.lost { id, reason }`. It receives `task.complete { result }` and `task.fail {
 *   reason, retry? }`.
 * - watchActor: `watch.changes { index, changes }`, `watch.compacted { index, detail }` (then it
 *   stops watching: re-read, and watch again from `index`). A watch that breaks is resumed.
 */
import { fromCallback, type EventObject } from 'xstate';
import type { JsonValue } from '../core/json.js';
import { settleClaim } from './helpers.js';
import type { LogIndex } from '../core/types.js';
import { ClaimLostError, Deadline, globalTimers, isStale, keepAlive, keepClaim, LeaseLostError, pause, type Timers } from './keep-alive.js';
import type { Change, CoordClient, FencingToken, TaskClaim, TaskState, WatchKind } from './types.js';

// ---------------------------------------------------------------- leaseActor

export interface LeaseActorInput {
  readonly client: CoordClient;
  readonly name: string;
  readonly holder: string;
  readonly ttlMs: number;
  /** Between renewals; default ttlMs / 3. */
  readonly renewEveryMs?: number;
  /** Between attempts while someone else holds it, and after a failed request; default ttlMs / 3. */
  readonly retryMs?: number;
  readonly timers?: Timers;
}

export type LeaseActorEvent =
  | { readonly type: 'lease.acquired'; readonly token: FencingToken; readonly expiresAt: number }
  | { readonly type: 'lease.lost'; readonly reason: LeaseLostError };

/**
 * Holds lease `name` for as long as it runs: acquires it (retrying while it is held), renews it,
 * reports each grant and each loss, and after a loss tries again. Stopping it releases the lease.
 */
export const leaseActor = fromCallback<EventObject, LeaseActorInput>(({ input, sendBack }) => {
  const { client, name, holder, ttlMs, timers = globalTimers } = input;
  const renewEveryMs = input.renewEveryMs ?? ttlMs / 3;
  const retryMs = input.retryMs ?? ttlMs / 3;
  const stopped = new AbortController();
  let held: { token: FencingToken; stop(): void } | undefined;

  const acquire = async (): Promise<void> => {
    while (!stopped.signal.aborted) {
      const deadline = new Deadline(timers, ttlMs);
      try {
        const grant = await client.leases.acquire(name, { holder, ttlMs });
        if (stopped.signal.aborted) {
          deadline.cancel();
          return void client.leases.release(name, grant.token).catch(() => {});
        }
        const keeper = keepAlive({
          timers,
          ttlMs,
          everyMs: renewEveryMs,
          retryMs: renewEveryMs / 4,
          deadline,
          extend: () => client.leases.renew(name, grant.token),
          isLoss: isStale,
          onLost: (cause) => {
            held = undefined;
            sendBack({ type: 'lease.lost', reason: new LeaseLostError(name, grant.token, cause) } satisfies LeaseActorEvent);
            void acquire();
          },
        });
        held = { token: grant.token, stop: keeper.stop };
        sendBack({ type: 'lease.acquired', token: grant.token, expiresAt: grant.expiresAt } satisfies LeaseActorEvent);
        return;
      } catch {
        // Held by someone else (LeaseHeldError), or the request failed: try again later.
        deadline.cancel();
      }
      await pause(timers, retryMs, stopped.signal);
    }
  };
  void acquire();
  return () => {
    stopped.abort();
    if (held !== undefined) {
      held.stop();
      void client.leases.release(name, held.token).catch(() => {});
      held = undefined;
    }
  };
});

// ---------------------------------------------------------------- claimTaskActor

export interface ClaimTaskActorInput {
  readonly client: CoordClient;
  readonly queue: string;
  readonly worker: string;
  readonly ttlMs: number;
  /** Between claims while the queue is empty (or a claim failed). */
  readonly pollMs: number;
  /** Between heartbeats; default ttlMs / 3. */
  readonly heartbeatEveryMs?: number;
  readonly timers?: Timers;
}

/** What the parent tells a claimTaskActor once the work is over. */
export type ClaimTaskCommand = { readonly type: 'task.complete'; readonly result: JsonValue } | { readonly type: 'task.fail'; readonly reason: string; readonly retry?: boolean };

export type ClaimTaskActorEvent =
  | { readonly type: 'task.claimed'; readonly claim: TaskClaim }
  | { readonly type: 'task.completed'; readonly id: string }
  | { readonly type: 'task.failed'; readonly id: string; readonly state: TaskState }
  | { readonly type: 'claim.lost'; readonly id: string; readonly reason: ClaimLostError };

/**
 * Claims one task of `queue` (polling every `pollMs` while none is queued), reports it, and
 * heartbeats it until the parent says how it ended; then completes or fails it. A heartbeat, a
 * complete or a fail refused (stale token, task gone), or no heartbeat in time, is reported as
 * `claim.lost`. Stopped while it holds an unsettled claim, it fails the task with retry, so that
 * another worker gets it at once rather than after the claim expires.
 */
export const claimTaskActor = fromCallback<ClaimTaskCommand, ClaimTaskActorInput>(({ input, sendBack, receive }) => {
  const { client, queue, worker, ttlMs, pollMs, timers = globalTimers } = input;
  const heartbeatEveryMs = input.heartbeatEveryMs ?? ttlMs / 3;
  const retryMs = heartbeatEveryMs / 4;
  const stopped = new AbortController();
  /** The claim until it is settled or lost. */
  let open: { claim: TaskClaim; keeper: { stop(): void }; settling: boolean } | undefined;
  let lost = false;

  const lose = (claim: TaskClaim, cause: unknown) => {
    lost = true;
    open?.keeper.stop();
    open = undefined;
    sendBack({ type: 'claim.lost', id: claim.id, reason: new ClaimLostError(claim.id, claim.token, cause) } satisfies ClaimTaskActorEvent);
  };

  const claimOne = async () => {
    while (!stopped.signal.aborted) {
      const deadline = new Deadline(timers, ttlMs);
      let claim: TaskClaim | undefined;
      try {
        claim = await client.tasks.claim(queue, { worker, ttlMs });
      } catch {
        // No leader, a network error: poll again.
      }
      if (claim !== undefined && stopped.signal.aborted) {
        deadline.cancel();
        return void client.tasks.fail(claim.id, claim.token, 'the claiming actor was stopped', { retry: true }).catch(() => {});
      }
      if (claim !== undefined) {
        const got = claim;
        const keeper = keepClaim(client, got, {
          timers,
          ttlMs,
          everyMs: heartbeatEveryMs,
          retryMs,
          deadline,
          onLost: (cause) => lose(got, cause),
        });
        open = { claim: got, keeper, settling: false };
        sendBack({ type: 'task.claimed', claim: got } satisfies ClaimTaskActorEvent);
        return;
      }
      deadline.cancel();
      await pause(timers, pollMs, stopped.signal);
    }
  };

  const settle = async (command: ClaimTaskCommand) => {
    if (open === undefined || open.settling) return;
    open.settling = true;
    const { claim, keeper } = open;
    const outcome = command.type === 'task.complete' ? { ok: true as const, result: command.result } : { ok: false as const, reason: command.reason, retry: command.retry ?? true };
    const recorded = await settleClaim(client, claim, outcome, { timers, retryMs, isLost: () => lost || stopped.signal.aborted });
    if (lost || stopped.signal.aborted) return;
    keeper.stop();
    open = undefined;
    if (!recorded.settled) return lose(claim, recorded.cause);
    sendBack((recorded.state === 'done' ? { type: 'task.completed', id: claim.id } : { type: 'task.failed', id: claim.id, state: recorded.state }) satisfies ClaimTaskActorEvent);
  };

  receive((command) => void settle(command));
  void claimOne();
  return () => {
    stopped.abort();
    // A claim whose outcome is being recorded is left to that request.
    if (open !== undefined) {
      const { claim, keeper, settling } = open;
      keeper.stop();
      open = undefined;
      if (!settling) void client.tasks.fail(claim.id, claim.token, 'the claiming actor was stopped', { retry: true }).catch(() => {});
    }
  };
});

// ---------------------------------------------------------------- watchActor

export interface WatchActorInput {
  readonly client: CoordClient;
  readonly prefix: string;
  readonly from?: LogIndex;
  readonly kinds?: readonly WatchKind[];
  /** Before watching again, from the last index seen + 1, after the watch failed; default 1000. */
  readonly retryMs?: number;
  readonly timers?: Timers;
}

export type WatchActorEvent =
  | { readonly type: 'watch.changes'; readonly index: LogIndex; readonly changes: readonly Change[] }
  | { readonly type: 'watch.compacted'; readonly index: LogIndex; readonly detail: string };

/**
 * Follows `client.watch(prefix)` and sends each message to the parent. A watch that fails (the
 * connection broke) is resumed after `retryMs` from the last index seen + 1, so no change is missed
 * or repeated; after `watch.compacted` it stops. Stopping it aborts the watch.
 */
export const watchActor = fromCallback<EventObject, WatchActorInput>(({ input, sendBack }) => {
  const { client, prefix, kinds, timers = globalTimers } = input;
  const retryMs = input.retryMs ?? 1000;
  const stopped = new AbortController();
  let from = input.from;
  const follow = async () => {
    while (!stopped.signal.aborted) {
      try {
        for await (const message of client.watch(prefix, { ...(from === undefined ? {} : { from }), ...(kinds ? { kinds } : {}), signal: stopped.signal })) {
          if (stopped.signal.aborted) return;
          if (message.type === 'compacted') {
            sendBack({ type: 'watch.compacted', index: message.index, detail: message.detail } satisfies WatchActorEvent);
            return;
          }
          from = message.index + 1;
          sendBack({ type: 'watch.changes', index: message.index, changes: message.changes } satisfies WatchActorEvent);
        }
        // Ended without being aborted: the connection closed; resume below.
      } catch {
        // The watch failed (the connection broke): resume below.
      }
      if (stopped.signal.aborted) return;
      await pause(timers, retryMs, stopped.signal);
    }
  };
  void follow();
  return () => stopped.abort();
});
