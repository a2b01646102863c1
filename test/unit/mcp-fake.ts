/**
 * An in-memory cluster for the MCP tools' tests: the KV, leases and task queues with the
 * semantics of the coordination state machine (src/coord/state-machine.ts) that the tools rely
 * on — every grant and claim gets the next "log index" as its fencing token, so tokens only grow;
 * a lease held by another is LeaseHeldError; a token that is not the current one is
 * StaleTokenError (with who holds it now); an unknown task is NotFoundError; a fenced write with
 * a stale token is refused and writes nothing. Time is a number the test moves (`advance`).
 */
import type { JsonValue } from '../../src/core/json.js';
import type { Fence, FencingToken, LeaseApi, LeaseGrant, TaskApi, TaskClaim, TaskState, TaskView } from '../../src/coord/types.js';
import { DEFAULT_MAX_ATTEMPTS } from '../../src/coord/types.js';
import { InvalidRequestError, LeaseHeldError, NotFoundError, StaleTokenError } from '../../src/errors.js';
import type { CasResult, GetResult } from '../../src/kv/state-machine.js';
import type { McpClusterClient, McpKvApi } from '../../src/mcp/server.js';

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

export class FakeCluster implements McpClusterClient {
  /** The replicated clock, ms. */
  time: number;
  /** The last "log index": every write takes the next one. */
  private index = 0;
  private readonly values = new Map<string, JsonValue>();
  private readonly held = new Map<string, LeaseGrant>();
  private readonly all = new Map<string, Task>();
  /** When set, every call rejects with it (a cluster that is down, a missing token, …). */
  failWith: Error | undefined;

  constructor(start = Date.UTC(2030, 0, 1)) {
    this.time = start;
  }

  advance(ms: number): void {
    this.time += ms;
  }

  private next(): number {
    if (this.failWith !== undefined) throw this.failWith;
    this.expire();
    return ++this.index;
  }

  private read(): void {
    if (this.failWith !== undefined) throw this.failWith;
    this.expire();
  }

  /** What the leader's tick does: drop every lease and claim past its expiry. */
  private expire(): void {
    for (const [name, lease] of this.held) if (lease.expiresAt <= this.time) this.held.delete(name);
    for (const task of this.all.values()) {
      if (task.claim === undefined || task.claim.expiresAt > this.time) continue;
      task.reason = `claim ${task.claim.token} expired`;
      delete task.claim;
      task.state = task.attempts < task.maxAttempts ? 'queued' : 'dead';
    }
  }

  private staleLease(name: string, token: FencingToken): StaleTokenError {
    const held = this.held.get(name);
    return held === undefined
      ? new StaleTokenError(token, `lease ${JSON.stringify(name)} is not held (it expired or was released)`)
      : new StaleTokenError(token, `lease ${JSON.stringify(name)} was granted again since (to ${JSON.stringify(held.holder)}, token ${held.token})`, {
          holder: held.holder,
          token: held.token,
          expiresAt: held.expiresAt,
        });
  }

  /** The task if `token` is its current claim; else the error the state machine answers. */
  private claimed(id: string, token: FencingToken): Task & { claim: NonNullable<Task['claim']> } {
    const task = this.all.get(id);
    if (task === undefined) throw new NotFoundError(`no task ${JSON.stringify(id)}`);
    if (task.claim !== undefined && task.claim.token === token) return task as Task & { claim: NonNullable<Task['claim']> };
    const detail =
      task.state === 'claimed'
        ? `task ${JSON.stringify(id)} was claimed again since (by ${JSON.stringify(task.claim?.worker)}, token ${task.claim?.token})`
        : task.state === 'done'
          ? `task ${JSON.stringify(id)} is already done (completed with token ${task.completedBy?.token})`
          : task.state === 'dead'
            ? `task ${JSON.stringify(id)} is dead-lettered (${task.reason ?? 'no attempts left'})`
            : `task ${JSON.stringify(id)} is queued again: your claim expired or failed`;
    const c = task.claim;
    throw new StaleTokenError(token, detail, c !== undefined ? { holder: c.worker, token: c.token, expiresAt: c.expiresAt } : undefined);
  }

  private checkFence(fence: Fence | undefined): void {
    if (fence === undefined) return;
    if ('lease' in fence) {
      if (this.held.get(fence.lease)?.token !== fence.token) throw this.staleLease(fence.lease, fence.token);
    } else this.claimed(fence.task, fence.token);
  }

  readonly kv: McpKvApi = {
    get: async (key): Promise<GetResult> => {
      this.read();
      return this.values.has(key) ? { found: true, value: this.values.get(key) as JsonValue } : { found: false };
    },
    put: async (key, value, options) => {
      const index = this.next();
      this.checkFence(options?.fence);
      this.values.set(key, value);
      return { ok: true, index };
    },
    cas: async (key, from, to, options): Promise<CasResult> => {
      this.next();
      this.checkFence(options?.fence);
      if (!this.values.has(key)) return { ok: false, reason: 'not_found' };
      const value = this.values.get(key) as JsonValue;
      if (JSON.stringify(value) !== JSON.stringify(from)) return { ok: false, reason: 'precondition_failed', value };
      this.values.set(key, to);
      return { ok: true };
    },
    list: async (prefix = '') => {
      this.read();
      return [...this.values.entries()]
        .filter(([key]) => key.startsWith(prefix))
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([key, value]) => ({ key, value }));
    },
  };

  readonly leases: LeaseApi = {
    acquire: async (name, { holder, ttlMs }) => {
      const index = this.next();
      const held = this.held.get(name);
      if (held !== undefined && held.holder !== holder) throw new LeaseHeldError(name, held.holder, held.expiresAt, held.token);
      const grant: LeaseGrant = { name, holder, token: index, expiresAt: this.time + ttlMs, ttlMs };
      this.held.set(name, grant);
      return grant;
    },
    renew: async (name, token, options = {}) => {
      this.next();
      const held = this.held.get(name);
      if (held === undefined || held.token !== token) throw this.staleLease(name, token);
      const ttlMs = options.ttlMs ?? held.ttlMs;
      const grant: LeaseGrant = { ...held, expiresAt: this.time + ttlMs, ttlMs };
      this.held.set(name, grant);
      return grant;
    },
    release: async (name, token) => {
      this.next();
      if (this.held.get(name)?.token !== token) throw this.staleLease(name, token);
      this.held.delete(name);
    },
    get: async (name) => {
      this.read();
      return this.held.get(name);
    },
    list: async () => {
      this.read();
      return [...this.held.values()];
    },
  };

  readonly tasks: TaskApi = {
    post: async (queue, task, options = {}) => {
      const index = this.next();
      const id = options.id ?? `t${index}`;
      const existing = this.all.get(id);
      if (existing !== undefined) {
        if (existing.queue !== queue) throw new InvalidRequestError(`task id ${JSON.stringify(id)} is taken by a task of queue ${JSON.stringify(existing.queue)}`);
        return { id, index: existing.postedAt, duplicate: true };
      }
      this.all.set(id, { id, queue, task, state: 'queued', attempts: 0, maxAttempts: options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS, postedAt: index });
      return { id, index, duplicate: false };
    },
    claim: async (queue, { worker, ttlMs }): Promise<TaskClaim | undefined> => {
      const index = this.next();
      const task = [...this.all.values()].filter((t) => t.queue === queue && t.state === 'queued').sort((a, b) => a.postedAt - b.postedAt)[0];
      if (task === undefined) return undefined;
      task.state = 'claimed';
      task.attempts++;
      task.claim = { worker, token: index, expiresAt: this.time + ttlMs, ttlMs };
      return { id: task.id, queue, task: task.task, worker, token: index, expiresAt: task.claim.expiresAt, attempt: task.attempts };
    },
    heartbeat: async (id, token, options = {}) => {
      this.next();
      const task = this.claimed(id, token);
      task.claim.ttlMs = options.ttlMs ?? task.claim.ttlMs;
      task.claim.expiresAt = this.time + task.claim.ttlMs;
      return { expiresAt: task.claim.expiresAt };
    },
    complete: async (id, token, result) => {
      this.next();
      const task = this.claimed(id, token);
      task.state = 'done';
      task.result = result ?? null;
      task.completedBy = { worker: task.claim.worker, token };
      delete (task as Task).claim;
    },
    fail: async (id, token, reason, options = {}) => {
      this.next();
      const task = this.claimed(id, token);
      delete (task as Task).claim;
      task.reason = reason;
      task.state = (options.retry ?? true) && task.attempts < task.maxAttempts ? 'queued' : 'dead';
      return { state: task.state };
    },
    get: async (id) => {
      this.read();
      const task = this.all.get(id);
      return task === undefined ? undefined : view(task);
    },
    list: async (queue, options = {}) => {
      this.read();
      const tasks = [...this.all.values()].filter((t) => t.queue === queue).sort((a, b) => a.postedAt - b.postedAt);
      const counts = { queued: 0, claimed: 0, done: 0, dead: 0 };
      for (const t of tasks) counts[t.state]++;
      return { queue, counts, tasks: tasks.slice(0, options.limit ?? 1000).map(view) };
    },
  };

  async status(): Promise<readonly object[]> {
    this.read();
    const node = (id: string, role: string) => ({ ok: true, address: `127.0.0.1:700${id.slice(1)}`, id, role, term: 3, leaderId: 'n1', commitIndex: this.index });
    return [node('n1', 'leader'), node('n2', 'follower'), { ok: false, address: '127.0.0.1:7003', error: 'connect ECONNREFUSED', refused: false }];
  }
}

function view(task: Task): TaskView {
  const { claim, ...rest } = task;
  return { ...rest, ...(claim !== undefined ? { claim: { worker: claim.worker, token: claim.token, expiresAt: claim.expiresAt } } : {}) };
}
