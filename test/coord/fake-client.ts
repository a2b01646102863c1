/**
 * An in-memory CoordClient for tests, with the contract's semantics (src/coord/types.ts): every
 * write is one "entry" with the next index; a fencing token is the index of the entry that
 * granted the lease or claim; a lease or claim is expired once `now() >= expiresAt`, decided when
 * the next request arrives (a tick entry is appended first when something is due, as the leader
 * does, so a watch sees the expiry at its own index); tasks count attempts and are dead-lettered
 * after `maxAttempts`; a watch is an async iterable that ends when its signal aborts.
 *
 * Time comes from an injected `now()` (a VirtualClock in the tests). `faults` makes the next calls
 * of an operation fail without any effect (as a request to a node that is not the leader would).
 */
import type { JsonValue } from '../../src/core/json.js';
import { LeaseHeldError, NotFoundError, StaleTokenError, InvalidRequestError } from '../../src/errors.js';
import {
  DEFAULT_MAX_ATTEMPTS,
  type AcquireOptions,
  type Change,
  type ChangeBatch,
  type ClaimOptions,
  type CoordClient,
  type FencingToken,
  type LeaseApi,
  type LeaseGrant,
  type PostOptions,
  type QueueView,
  type TaskApi,
  type TaskClaim,
  type TaskState,
  type TaskView,
  type WatchMessage,
  type WatchOptions,
} from '../../src/coord/types.js';

type Op = `leases.${keyof LeaseApi}` | `tasks.${keyof TaskApi}`;

interface Task {
  id: string;
  queue: string;
  task: JsonValue;
  state: TaskState;
  attempts: number;
  maxAttempts: number;
  postedAt: number;
  claim?: { worker: string; token: FencingToken; expiresAt: number; ttlMs: number };
  result?: JsonValue;
  completedBy?: { worker: string; token: FencingToken };
  reason?: string;
}

export class FakeCoordClient implements CoordClient {
  private index = 0;
  private readonly leaseTable = new Map<string, LeaseGrant>();
  private readonly taskTable = new Map<string, Task>();
  private readonly history: ChangeBatch[] = [];
  /** Batches at or below this index are gone (as after a snapshot). */
  private compactedThrough = 0;
  private readonly listeners = new Set<() => void>();
  /** Next calls of an operation fail with the error this returns (no effect); remove the entry to stop. */
  readonly faults = new Map<Op, () => unknown>();
  /** Every call, in order: `tasks.complete t1`. */
  readonly calls: string[] = [];

  constructor(private readonly now: () => number) {}

  get lastIndex(): number {
    return this.index;
  }

  /** Drop the history through `index`: a watch from at or below it gets `compacted`. */
  compact(index: number): void {
    this.compactedThrough = Math.max(this.compactedThrough, index);
    const kept = this.history.findIndex((b) => b.index > index);
    this.history.splice(0, kept === -1 ? this.history.length : kept);
  }

  /** Apply due expiries now, as the leader's tick entry would. */
  tick(): void {
    this.expireDue();
  }

  readonly leases: LeaseApi = {
    acquire: async (name: string, { holder, ttlMs }: AcquireOptions) => {
      this.begin('leases.acquire', name);
      const held = this.leaseTable.get(name);
      if (held !== undefined && held.holder !== holder) throw new LeaseHeldError(name, held.holder, held.expiresAt, held.token);
      const index = this.next();
      const grant: LeaseGrant = { name, holder, token: index, expiresAt: this.now() + ttlMs, ttlMs };
      this.leaseTable.set(name, grant);
      this.record(index, [{ index, kind: 'lease', key: name, op: 'acquired', value: grant as unknown as JsonValue }]);
      return grant;
    },
    renew: async (name: string, token: FencingToken, options?: { readonly ttlMs?: number }) => {
      this.begin('leases.renew', `${name} ${token}`);
      const held = this.currentLease(name, token);
      const index = this.next();
      const grant: LeaseGrant = { ...held, ttlMs: options?.ttlMs ?? held.ttlMs, expiresAt: this.now() + (options?.ttlMs ?? held.ttlMs) };
      this.leaseTable.set(name, grant);
      this.record(index, [{ index, kind: 'lease', key: name, op: 'renewed', value: grant as unknown as JsonValue }]);
      return grant;
    },
    release: async (name: string, token: FencingToken) => {
      this.begin('leases.release', `${name} ${token}`);
      this.currentLease(name, token);
      const index = this.next();
      this.leaseTable.delete(name);
      this.record(index, [{ index, kind: 'lease', key: name, op: 'released' }]);
    },
    get: async (name: string) => {
      this.begin('leases.get', name);
      return this.leaseTable.get(name);
    },
    list: async () => {
      this.begin('leases.list', '');
      return [...this.leaseTable.values()];
    },
  };

  readonly tasks: TaskApi = {
    post: async (queue: string, task: JsonValue, options?: PostOptions) => {
      this.begin('tasks.post', queue);
      const existing = options?.id === undefined ? undefined : this.taskTable.get(options.id);
      if (existing !== undefined) {
        if (existing.queue !== queue) throw new InvalidRequestError(`task id ${options?.id} is taken in queue ${existing.queue}`);
        return { id: existing.id, index: existing.postedAt, duplicate: true };
      }
      const index = this.next();
      const id = options?.id ?? `t${index}`;
      const t: Task = { id, queue, task, state: 'queued', attempts: 0, maxAttempts: options?.maxAttempts ?? DEFAULT_MAX_ATTEMPTS, postedAt: index };
      this.taskTable.set(id, t);
      this.record(index, [this.taskChange(index, t, 'posted')]);
      return { id, index, duplicate: false };
    },
    claim: async (queue: string, { worker, ttlMs }: ClaimOptions) => {
      this.begin('tasks.claim', queue);
      const t = [...this.taskTable.values()].filter((x) => x.queue === queue && x.state === 'queued').sort((a, b) => a.postedAt - b.postedAt)[0];
      if (t === undefined) return undefined;
      const index = this.next();
      t.state = 'claimed';
      t.attempts++;
      t.claim = { worker, token: index, expiresAt: this.now() + ttlMs, ttlMs };
      this.record(index, [this.taskChange(index, t, 'claimed')]);
      return { id: t.id, queue, task: t.task, worker, token: index, expiresAt: t.claim.expiresAt, attempt: t.attempts } satisfies TaskClaim;
    },
    heartbeat: async (id: string, token: FencingToken, options?: { readonly ttlMs?: number }) => {
      this.begin('tasks.heartbeat', `${id} ${token}`);
      const t = this.claimedTask(id, token);
      const claim = t.claim!;
      const index = this.next();
      claim.ttlMs = options?.ttlMs ?? claim.ttlMs;
      claim.expiresAt = this.now() + claim.ttlMs;
      this.record(index, [this.taskChange(index, t, 'heartbeat')]);
      return { expiresAt: claim.expiresAt };
    },
    complete: async (id: string, token: FencingToken, result?: JsonValue) => {
      this.begin('tasks.complete', `${id} ${token}`);
      const t = this.claimedTask(id, token);
      const index = this.next();
      t.state = 'done';
      t.result = result ?? null;
      t.completedBy = { worker: t.claim!.worker, token };
      delete t.claim;
      this.record(index, [this.taskChange(index, t, 'completed')]);
    },
    fail: async (id: string, token: FencingToken, reason: string, options?: { readonly retry?: boolean }) => {
      this.begin('tasks.fail', `${id} ${token}`);
      const t = this.claimedTask(id, token);
      const index = this.next();
      delete t.claim;
      t.reason = reason;
      t.state = (options?.retry ?? true) && t.attempts < t.maxAttempts ? 'queued' : 'dead';
      this.record(index, [this.taskChange(index, t, t.state === 'dead' ? 'dead' : 'failed')]);
      return { state: t.state };
    },
    get: async (id: string) => {
      this.begin('tasks.get', id);
      const t = this.taskTable.get(id);
      return t === undefined ? undefined : view(t);
    },
    list: async (queue: string, options?: { readonly limit?: number }) => {
      this.begin('tasks.list', queue);
      const tasks = [...this.taskTable.values()].filter((t) => t.queue === queue).sort((a, b) => a.postedAt - b.postedAt);
      const counts: Record<TaskState, number> = { queued: 0, claimed: 0, done: 0, dead: 0 };
      for (const t of tasks) counts[t.state]++;
      return { queue, counts, tasks: tasks.slice(0, options?.limit ?? 1000).map(view) } satisfies QueueView;
    },
  };

  watch(prefix: string, options: WatchOptions = {}): AsyncIterable<WatchMessage> {
    const self = this;
    const { signal, kinds } = options;
    const start = options.from ?? this.index + 1;
    return {
      async *[Symbol.asyncIterator]() {
        if (start <= self.compactedThrough) {
          // As the state machine answers: re-read the state now, then watch from the next index.
          yield { type: 'compacted', index: self.index + 1, detail: `the history through index ${self.compactedThrough} is compacted` };
          return;
        }
        let next = start;
        while (!signal?.aborted) {
          for (const batch of self.history) {
            if (batch.index < next) continue;
            next = batch.index + 1;
            const changes = batch.changes.filter((c) => c.key.startsWith(prefix) && (kinds === undefined || kinds.includes(c.kind)));
            if (changes.length > 0) yield { type: 'changes', index: batch.index, changes };
            if (signal?.aborted) return;
          }
          if (self.history.some((b) => b.index >= next)) continue;
          await new Promise<void>((resolve) => {
            const wake = () => {
              self.listeners.delete(wake);
              signal?.removeEventListener('abort', wake);
              resolve();
            };
            self.listeners.add(wake);
            signal?.addEventListener('abort', wake, { once: true });
          });
        }
      },
    };
  }

  // ---------------------------------------------------------------- internals

  /** Every request: a fault fails it with no effect; otherwise due expiries are applied first. */
  private begin(op: Op, detail: string): void {
    this.calls.push(`${op} ${detail}`.trimEnd());
    const fault = this.faults.get(op);
    if (fault !== undefined) throw fault();
    this.expireDue();
  }

  private next(): number {
    return ++this.index;
  }

  private expireDue(): void {
    const now = this.now();
    const due: Change[] = [];
    const index = this.index + 1;
    for (const [name, lease] of this.leaseTable) {
      if (now < lease.expiresAt) continue;
      this.leaseTable.delete(name);
      due.push({ index, kind: 'lease', key: name, op: 'expired' });
    }
    for (const t of this.taskTable.values()) {
      if (t.state !== 'claimed' || now < t.claim!.expiresAt) continue;
      delete t.claim;
      t.state = t.attempts < t.maxAttempts ? 'queued' : 'dead';
      if (t.state === 'dead') t.reason = `claim expired on attempt ${t.attempts} of ${t.maxAttempts}`;
      due.push(this.taskChange(index, t, t.state === 'dead' ? 'dead' : 'requeued'));
    }
    if (due.length === 0) return;
    this.next();
    this.record(index, due);
  }

  private currentLease(name: string, token: FencingToken): LeaseGrant {
    const held = this.leaseTable.get(name);
    if (held === undefined || held.token !== token) {
      throw new StaleTokenError(
        token,
        held === undefined ? `lease ${name} is not held` : `lease ${name} was granted again since`,
        held && { holder: held.holder, token: held.token, expiresAt: held.expiresAt },
      );
    }
    return held;
  }

  private claimedTask(id: string, token: FencingToken): Task {
    const t = this.taskTable.get(id);
    if (t === undefined) throw new NotFoundError(`no task ${id}`);
    if (t.claim?.token !== token) {
      throw new StaleTokenError(
        token,
        `task ${id} is ${t.state}${t.claim ? ` under token ${t.claim.token}` : ''}`,
        t.claim && { holder: t.claim.worker, token: t.claim.token, expiresAt: t.claim.expiresAt },
      );
    }
    return t;
  }

  private taskChange(index: number, t: Task, op: string): Change {
    return { index, kind: 'task', key: `${t.queue}/${t.id}`, op, value: view(t) as unknown as JsonValue };
  }

  private record(index: number, changes: Change[]): void {
    this.history.push({ index, changes });
    for (const wake of [...this.listeners]) wake();
  }
}

function view(t: Task): TaskView {
  return {
    id: t.id,
    queue: t.queue,
    task: t.task,
    state: t.state,
    attempts: t.attempts,
    maxAttempts: t.maxAttempts,
    postedAt: t.postedAt,
    ...(t.claim ? { claim: { worker: t.claim.worker, token: t.claim.token, expiresAt: t.claim.expiresAt } } : {}),
    ...(t.result !== undefined ? { result: t.result } : {}),
    ...(t.completedBy ? { completedBy: t.completedBy } : {}),
    ...(t.reason !== undefined ? { reason: t.reason } : {}),
  };
}
