/**
 * The coordination state machine: the KV store (src/kv/state-machine.ts) plus leases with fencing
 * tokens, task queues whose claims expire, and a journal of every change for watchers. It is what
 * every node of `xstate-raft node` runs.
 *
 * Commands (besides the KV's put / delete / cas, which may carry a `fence`):
 *   { type: 'lease.acquire',  name, holder, ttlMs }       → { ok: true, lease } | LeaseHeld
 *   { type: 'lease.renew',    name, token, ttlMs? }       → { ok: true, lease } | StaleToken
 *   { type: 'lease.release',  name, token }               → { ok: true } | StaleToken
 *   { type: 'task.post',      queue, task, id?, maxAttempts? } → { ok: true, id, index, duplicate } | { ok: false, reason: 'id_taken', queue }
 *   { type: 'task.claim',     queue, worker, ttlMs }      → { ok: true, claim: TaskClaim | null }
 *   { type: 'task.heartbeat', id, token, ttlMs?, queue? } → { ok: true, expiresAt } | StaleToken | NotFound  (queue: must be the task's)
 *   { type: 'task.complete',  id, token, result? }        → { ok: true } | StaleToken | NotFound
 *   { type: 'task.fail',      id, token, reason, retry? } → { ok: true, state } | StaleToken | NotFound
 *   { type: 'coord.tick' }                                → { ok: true, tick: true }  (the leader's: time passes)
 * Every command may carry `client: { id, seq }` (at most once, as in the KV) and `at`, the stamp.
 *
 * Time, decided in the log and nowhere else:
 * - The leader's runtime stamps each command with its wall clock as it enters the log (`stamp`),
 *   and appends a `coord.tick` once the earliest expiry is due (`nextDeadline`, `tick`).
 * - Applying an entry first advances this state machine's `now` to the entry's stamp — never
 *   backwards: a new leader whose clock is behind continues from the last stamp — then expires
 *   every lease and claim whose `expiresAt` ≤ now, then executes the command at that instant. No
 *   replica reads a clock while applying, so every replica expires the same things at the same entry.
 * - A fencing token is the index of the entry that granted the lease or claim: it only grows.
 *   An operation on behalf of a lease or claim carries its token and is refused (`stale_token`)
 *   unless it is the current grant's: a paused agent that wakes after its claim expired can
 *   neither complete, nor renew, nor write with it.
 *
 * Tasks: posted tasks are claimed oldest first. A claim that expires or fails with `retry` goes
 * back to the queue at its place, unless it has had `maxAttempts` claims: then it is dead. A
 * completed task stays (done, with its result and the token that completed it) so a repeated post
 * of its id is recognised; at most one claim is live per task, and it is completed at most once.
 *
 * Watch: the journal keeps the changes of the last `journalLimit` entries that changed something
 * (and never any older than the snapshot this replica restored): `changesFrom(index)` answers them,
 * or says the history was compacted.
 */
import { compareStrings, type JsonValue } from '../core/json.js';
import { isNoop, type LogEntry, type LogIndex } from '../core/types.js';
import type { StateMachine } from '../state-machine.js';
import {
  clientSeqSchema,
  deepFreeze,
  jsonValue,
  type GetResult,
  type KvCommand,
  type KvQuery,
  type KvQueryResult,
  type KvResult,
  KvStateMachine,
  MAX_LIST_LIMIT,
  parseKvCommand,
  safeParse,
} from '../kv/state-machine.js';
import { z } from 'zod';
import {
  type Change,
  type ChangeBatch,
  DEFAULT_MAX_ATTEMPTS,
  type Fence,
  type FencingToken,
  type LeaseGrant,
  type LeaseHeld,
  MAX_ATTEMPTS_LIMIT,
  MAX_NAME_LENGTH,
  MAX_REASON_LENGTH,
  MAX_TTL_MS,
  MIN_TTL_MS,
  type QueueView,
  type StaleToken,
  type TaskClaim,
  type TaskState,
  type TaskView,
} from './types.js';
import { DeadlineHeap } from './deadlines.js';

// ---------------------------------------------------------------- commands

/** The ids a post without one gets (`t<index>`): refused as a client's own id, so the two never meet. */
const AUTOMATIC_ID = /^t\d+$/;

const name = z.string().min(1, 'must not be empty').max(MAX_NAME_LENGTH, `is longer than ${MAX_NAME_LENGTH}`);
const ttlMs = z.number().int().min(MIN_TTL_MS, `ttlMs is at least ${MIN_TTL_MS}`).max(MAX_TTL_MS, `ttlMs is at most ${MAX_TTL_MS} (a day)`);
const token = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);
const stamp = z.number().finite().nonnegative().optional();
const common = { client: clientSeqSchema.optional(), at: stamp };

const coordSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('lease.acquire'), name, holder: name, ttlMs, ...common }),
  z.strictObject({ type: z.literal('lease.renew'), name, token, ttlMs: ttlMs.optional(), ...common }),
  z.strictObject({ type: z.literal('lease.release'), name, token, ...common }),
  z.strictObject({
    type: z.literal('task.post'),
    queue: name,
    task: jsonValue,
    id: name.refine((id) => !AUTOMATIC_ID.test(id), 'ids of the form t<number> are the ones the cluster gives; choose another').optional(),
    maxAttempts: z.number().int().min(1).max(MAX_ATTEMPTS_LIMIT).optional(),
    ...common,
  }),
  z.strictObject({ type: z.literal('task.claim'), queue: name, worker: name, ttlMs, ...common }),
  z.strictObject({ type: z.literal('task.heartbeat'), id: name, token, ttlMs: ttlMs.optional(), queue: name.optional(), ...common }),
  z.strictObject({ type: z.literal('task.complete'), id: name, token, result: jsonValue.optional(), queue: name.optional(), ...common }),
  z.strictObject({
    type: z.literal('task.fail'),
    id: name,
    queue: name.optional(),
    token,
    reason: z.string().max(MAX_REASON_LENGTH),
    retry: z.boolean().optional(),
    ...common,
  }),
  z.strictObject({ type: z.literal('coord.tick'), ...common }),
]);

export type LeaseCommand =
  | { readonly type: 'lease.acquire'; readonly name: string; readonly holder: string; readonly ttlMs: number }
  | { readonly type: 'lease.renew'; readonly name: string; readonly token: FencingToken; readonly ttlMs?: number }
  | { readonly type: 'lease.release'; readonly name: string; readonly token: FencingToken };
export type TaskCommand =
  | { readonly type: 'task.post'; readonly queue: string; readonly task: JsonValue; readonly id?: string; readonly maxAttempts?: number }
  | { readonly type: 'task.claim'; readonly queue: string; readonly worker: string; readonly ttlMs: number }
  | { readonly type: 'task.heartbeat'; readonly id: string; readonly token: FencingToken; readonly ttlMs?: number; readonly queue?: string }
  | { readonly type: 'task.complete'; readonly id: string; readonly token: FencingToken; readonly result?: JsonValue; readonly queue?: string }
  | { readonly type: 'task.fail'; readonly id: string; readonly token: FencingToken; readonly reason: string; readonly retry?: boolean; readonly queue?: string };
export type TickCommand = { readonly type: 'coord.tick' };
/** A KV write, optionally made on behalf of a lease or a claim. */
export type FencedKvCommand = KvCommand & { readonly fence?: Fence };
/** What every command may carry besides its own fields: the client's sequence number, the leader's stamp. */
type Carried = { readonly client?: { readonly id: string; readonly seq: number }; readonly at?: number };
export type CoordCommand = (FencedKvCommand | LeaseCommand | TaskCommand | TickCommand) & Carried;

export type NotFound = { readonly ok: false; readonly reason: 'not_found'; readonly detail: string };
export type CoordResult =
  | KvResult
  | { readonly ok: true; readonly lease: LeaseGrant }
  | { readonly ok: true; readonly id: string; readonly index: LogIndex; readonly duplicate: boolean }
  | { readonly ok: true; readonly claim: TaskClaim | null }
  | { readonly ok: true; readonly expiresAt: number }
  | { readonly ok: true; readonly state: TaskState }
  | { readonly ok: true; readonly tick: true }
  | { readonly ok: true }
  | LeaseHeld
  | StaleToken
  | NotFound
  | { readonly ok: false; readonly reason: 'id_taken'; readonly id: string; readonly queue: string; readonly detail: string };

const fenceSchema = z.union([z.strictObject({ lease: name, token }), z.strictObject({ task: name, token })]);

// ---------------------------------------------------------------- queries

export type CoordQuery =
  | KvQuery
  | { readonly type: 'lease.get'; readonly name: string }
  | { readonly type: 'lease.list' }
  | { readonly type: 'task.get'; readonly id: string }
  | { readonly type: 'task.list'; readonly queue: string; readonly limit?: number }
  | { readonly type: 'queue.list' }
  | { readonly type: 'coord.time' };
export type CoordQueryResult =
  | KvQueryResult
  | { readonly lease: LeaseGrant | null }
  | { readonly leases: readonly LeaseGrant[] }
  | { readonly task: TaskView | null }
  | QueueView
  | { readonly queues: readonly QueueView[] }
  | { readonly now: number; readonly index: LogIndex };

const coordQuerySchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('lease.get'), name }),
  z.strictObject({ type: z.literal('lease.list') }),
  z.strictObject({ type: z.literal('task.get'), id: name }),
  z.strictObject({ type: z.literal('task.list'), queue: name, limit: z.number().int().min(1).max(MAX_LIST_LIMIT).optional() }),
  z.strictObject({ type: z.literal('queue.list') }),
  z.strictObject({ type: z.literal('coord.time') }),
]);

// ---------------------------------------------------------------- state

interface Lease {
  readonly holder: string;
  readonly token: FencingToken;
  readonly expiresAt: number;
  readonly ttlMs: number;
}

interface Task {
  readonly id: string;
  readonly queue: string;
  readonly task: JsonValue;
  state: TaskState;
  attempts: number;
  readonly maxAttempts: number;
  readonly postedAt: LogIndex;
  claim?: { readonly worker: string; readonly token: FencingToken; readonly expiresAt: number; readonly ttlMs: number };
  result?: JsonValue;
  completedBy?: { readonly worker: string; readonly token: FencingToken };
  reason?: string;
  /** When it became done or dead (replicated time): it is forgotten taskRetentionMs later. */
  finishedAt?: number;
}

interface Session {
  readonly seq: number;
  readonly result: CoordResult;
  /** The replicated time of its last command: sessions idle for sessionRetentionMs are forgotten. */
  readonly at: number;
}

/** How long an idle client session (its last seq and result, for at-most-once retries) is kept. */
export const DEFAULT_SESSION_RETENTION_MS = 60 * 60 * 1000;
/** How long a done or dead task is kept (and its id recognised by a repeated post). */
export const DEFAULT_TASK_RETENTION_MS = 24 * 60 * 60 * 1000;
/** Forgetting happens at the first entry of each minute of replicated time. */
const SWEEP_EVERY_MS = 60_000;

/** Changes kept for watchers, in entries (each entry's changes are kept or dropped together). */
export const DEFAULT_JOURNAL_LIMIT = 10_000;
/** …and at most about this many bytes of them (their JSON), whichever limit comes first. */
export const DEFAULT_JOURNAL_MAX_BYTES = 64 * 1024 * 1024;

const instant = z.number().finite().nonnegative();
const grantSchema = z.strictObject({ worker: name, token, expiresAt: instant, ttlMs });
const taskSchema = z
  .strictObject({
    id: name,
    queue: name,
    task: jsonValue,
    state: z.enum(['queued', 'claimed', 'done', 'dead']),
    attempts: z.number().int().nonnegative(),
    maxAttempts: z.number().int().min(1).max(MAX_ATTEMPTS_LIMIT),
    postedAt: z.number().int().positive(),
    claim: grantSchema.optional(),
    result: jsonValue.optional(),
    completedBy: z.strictObject({ worker: name, token }).optional(),
    reason: z.string().optional(),
    finishedAt: instant.optional(),
  })
  .refine((t) => (t.state === 'claimed') === (t.claim !== undefined), 'a task has a claim exactly while it is claimed');
const snapshotSchema = z
  .strictObject({
    version: z.literal(2),
    now: instant,
    index: z.number().int().nonnegative(),
    kv: z.unknown(),
    sessions: z.array(z.tuple([z.string(), z.number().int().nonnegative(), z.unknown(), instant])),
    leases: z.array(z.tuple([name, z.strictObject({ holder: name, token, expiresAt: instant, ttlMs })])),
    tasks: z.array(taskSchema),
  })
  .refine((s) => new Set(s.tasks.map((t) => t.id)).size === s.tasks.length, 'task ids are unique')
  .refine((s) => new Set(s.leases.map(([n]) => n)).size === s.leases.length, 'lease names are unique');

export interface CoordStateMachineOptions {
  /** Entries whose changes the journal keeps for watchers (default DEFAULT_JOURNAL_LIMIT). */
  journalLimit?: number;
  /** Bytes (of their JSON) of changes the journal keeps at most (default DEFAULT_JOURNAL_MAX_BYTES): values written often and large do not pile up. */
  journalMaxBytes?: number;
  /** Idle client sessions are forgotten after this long (default DEFAULT_SESSION_RETENTION_MS). Every replica must use the same. */
  sessionRetentionMs?: number;
  /** Done and dead tasks are forgotten after this long (default DEFAULT_TASK_RETENTION_MS). Every replica must use the same. */
  taskRetentionMs?: number;
}

export class CoordStateMachine implements StateMachine<CoordCommand, CoordResult, CoordQuery, CoordQueryResult> {
  private kv = new KvStateMachine();
  private readonly leases = new Map<string, Lease>();
  private readonly tasks = new Map<string, Task>();
  /** Per queue, the ids of all its tasks (what `task.list` reads, without a pass over every queue's). */
  private readonly byQueue = new Map<string, Set<string>>();
  /** Per queue, the ids of its queued tasks, oldest post first. */
  private readonly queued = new Map<string, string[]>();
  private readonly sessions = new Map<string, Session>();
  private readonly deadlines = new DeadlineHeap();
  /** The replicated clock: the latest stamp applied. */
  private time = 0;
  /** The last entry applied (or restored), whatever it changed. */
  private lastIndex: LogIndex = 0;
  private journal: ChangeBatch[] = [];
  /** Changes at or below this index are not in the journal. */
  private journalFloor: LogIndex = 0;
  private readonly journalLimit: number;
  private readonly journalMaxBytes: number;
  /** The size of each journal entry (its changes' JSON), and their sum. */
  private journalSizes: number[] = [];
  private journalBytes = 0;
  /** Changes of the entry being applied. */
  private pending: Change[] = [];
  private readonly listeners = new Set<(batch: ChangeBatch) => void>();
  private readonly restoreListeners = new Set<(index: LogIndex) => void>();

  private readonly sessionRetentionMs: number;
  private readonly taskRetentionMs: number;

  constructor(options: CoordStateMachineOptions = {}) {
    this.journalLimit = options.journalLimit ?? DEFAULT_JOURNAL_LIMIT;
    this.journalMaxBytes = options.journalMaxBytes ?? DEFAULT_JOURNAL_MAX_BYTES;
    if (!Number.isInteger(this.journalMaxBytes) || this.journalMaxBytes < 1) throw new RangeError('journalMaxBytes is a whole number ≥ 1');
    this.sessionRetentionMs = options.sessionRetentionMs ?? DEFAULT_SESSION_RETENTION_MS;
    this.taskRetentionMs = options.taskRetentionMs ?? DEFAULT_TASK_RETENTION_MS;
    if (!Number.isInteger(this.journalLimit) || this.journalLimit < 1) throw new RangeError('journalLimit is a whole number ≥ 1');
    for (const [what, ms] of [
      ['sessionRetentionMs', this.sessionRetentionMs],
      ['taskRetentionMs', this.taskRetentionMs],
    ] as const) {
      if (!Number.isInteger(ms) || ms < SWEEP_EVERY_MS) throw new RangeError(`${what} is a whole number of ms ≥ ${SWEEP_EVERY_MS}`);
    }
  }

  // ------------------------------------------------------------ the leader's clock

  /** The command as the leader logs it: stamped with its clock. Called by the runtime on the leader only. */
  stamp(command: CoordCommand, now: number): CoordCommand {
    if (typeof command !== 'object' || command === null) return command;
    // Whatever `at` the client sent is replaced: only the leader's clock makes time.
    const { at: _sent, ...rest } = command as CoordCommand & { at?: unknown };
    return Object.freeze(Number.isFinite(now) ? { ...rest, at: Math.max(0, now) } : rest) as CoordCommand;
  }

  /** The earliest instant at which a lease or claim expires, on the replicated clock (undefined: none). */
  nextDeadline(): number | undefined {
    return this.deadlines.peek((d) => this.isLive(d.kind, d.key, d.token, d.expiresAt));
  }

  /** What the leader appends when nextDeadline() is due and nothing else is written. */
  tick(): CoordCommand {
    return { type: 'coord.tick' };
  }

  /** The replicated clock: the latest stamp applied. */
  get now(): number {
    return this.time;
  }

  // ------------------------------------------------------------ apply

  apply(command: unknown, entry: LogEntry<unknown>): CoordResult {
    const index = typeof entry?.index === 'number' ? entry.index : this.lastIndex + 1;
    this.lastIndex = Math.max(this.lastIndex, index);
    if (this.journalFloor === Number.MAX_SAFE_INTEGER) this.journalFloor = index - 1;
    this.pending = [];
    try {
      if (isNoop(command)) return NOOP_RESULT;
      const at = (command as { at?: unknown } | null)?.at;
      const before = this.time;
      if (typeof at === 'number' && Number.isFinite(at) && at > this.time) this.time = at;
      if (Math.floor(this.time / SWEEP_EVERY_MS) > Math.floor(before / SWEEP_EVERY_MS)) this.forgetOld();
      this.expireDue(index);
      return this.applyAt(command, index);
    } finally {
      this.record(index);
    }
  }

  private applyAt(command: unknown, index: LogIndex): CoordResult {
    const type = (command as { type?: unknown } | null)?.type;
    if (type === 'put' || type === 'delete' || type === 'cas') return this.applyKv(command as Record<string, unknown>, index);
    const parsed = safeParse(coordSchema, command);
    if (!parsed.ok) return invalid(parsed.error);
    const cmd = parsed.data;
    return this.once(cmd.client, () => this.execute(cmd as CoordCommand, index));
  }

  private applyKv(command: Record<string, unknown>, index: LogIndex): CoordResult {
    const { at: _at, fence, ...rest } = command;
    const parsedFence = fence === undefined ? undefined : safeParse(fenceSchema, fence);
    if (parsedFence !== undefined && !parsedFence.ok) return invalid(`fence: ${parsedFence.error}`);
    const parsed = parseKvCommand(rest);
    if (!parsed.ok) return parsed;
    const cmd = parsed.command;
    return this.once(cmd.client, () => {
      if (parsedFence?.ok) {
        const stale = this.checkFence(parsedFence.data);
        if (stale !== undefined) return stale;
      }
      const result = this.kv.execute(cmd, index);
      this.kvChanged(cmd, result, index, parsedFence?.ok ? parsedFence.data : undefined);
      return result;
    });
  }

  /** At most once per client sequence number, as the KV does (src/kv/state-machine.ts). */
  private once(client: { id: string; seq: number } | undefined, run: () => CoordResult): CoordResult {
    if (client === undefined) return run();
    const session = this.sessions.get(client.id);
    if (session !== undefined && client.seq === session.seq) return session.result;
    if (session !== undefined && client.seq < session.seq) {
      return freeze({
        ok: false,
        reason: 'stale',
        lastSeq: session.seq,
        error: `client ${JSON.stringify(client.id)} seq ${client.seq} is older than its last applied seq ${session.seq}; its result is no longer kept`,
      });
    }
    const result = run();
    this.sessions.set(client.id, { seq: client.seq, result, at: this.time });
    return result;
  }

  private execute(cmd: CoordCommand, index: LogIndex): CoordResult {
    // A task named with its queue (the HTTP routes /v1/queues/:queue/:id/…) must be in that queue.
    if ((cmd.type === 'task.heartbeat' || cmd.type === 'task.complete' || cmd.type === 'task.fail') && cmd.queue !== undefined) {
      const task = this.tasks.get(cmd.id);
      if (task !== undefined && task.queue !== cmd.queue)
        return freeze({ ok: false, reason: 'not_found', detail: `task ${JSON.stringify(cmd.id)} is not in queue ${JSON.stringify(cmd.queue)}` });
    }
    switch (cmd.type) {
      case 'lease.acquire':
        return this.acquire(cmd.name, cmd.holder, cmd.ttlMs, index);
      case 'lease.renew':
        return this.renew(cmd.name, cmd.token, cmd.ttlMs, index);
      case 'lease.release':
        return this.release(cmd.name, cmd.token, index);
      case 'task.post':
        return this.post(cmd, index);
      case 'task.claim':
        return this.claim(cmd.queue, cmd.worker, cmd.ttlMs, index);
      case 'task.heartbeat':
        return this.heartbeat(cmd.id, cmd.token, cmd.ttlMs, index);
      case 'task.complete':
        return this.complete(cmd.id, cmd.token, cmd.result, index);
      case 'task.fail':
        return this.fail(cmd.id, cmd.token, cmd.reason, cmd.retry ?? true, index);
      case 'coord.tick':
        return TICK_RESULT;
      default:
        return invalid(`unknown command type ${JSON.stringify((cmd as { type: unknown }).type)}`);
    }
  }

  // ------------------------------------------------------------ leases

  private acquire(leaseName: string, holder: string, ttl: number, index: LogIndex): CoordResult {
    const held = this.leases.get(leaseName);
    if (held !== undefined && held.holder !== holder) {
      return freeze({ ok: false, reason: 'lease_held', name: leaseName, holder: held.holder, token: held.token, expiresAt: held.expiresAt });
    }
    const lease: Lease = { holder, token: index, expiresAt: this.time + ttl, ttlMs: ttl };
    this.leases.set(leaseName, lease);
    this.deadlines.push({ kind: 'lease', key: leaseName, token: lease.token, expiresAt: lease.expiresAt });
    const grant = leaseGrant(leaseName, lease);
    this.change(index, 'lease', leaseName, 'acquired', grant);
    return freeze({ ok: true, lease: grant });
  }

  private renew(leaseName: string, presented: FencingToken, ttl: number | undefined, index: LogIndex): CoordResult {
    const held = this.leases.get(leaseName);
    if (held === undefined || held.token !== presented) return this.staleLease(leaseName, presented, held);
    const lease: Lease = { ...held, expiresAt: this.time + (ttl ?? held.ttlMs), ttlMs: ttl ?? held.ttlMs };
    this.leases.set(leaseName, lease);
    this.deadlines.push({ kind: 'lease', key: leaseName, token: lease.token, expiresAt: lease.expiresAt });
    const grant = leaseGrant(leaseName, lease);
    this.change(index, 'lease', leaseName, 'renewed', grant);
    return freeze({ ok: true, lease: grant });
  }

  private release(leaseName: string, presented: FencingToken, index: LogIndex): CoordResult {
    const held = this.leases.get(leaseName);
    if (held === undefined || held.token !== presented) return this.staleLease(leaseName, presented, held);
    this.leases.delete(leaseName);
    this.change(index, 'lease', leaseName, 'released');
    return OK;
  }

  private staleLease(leaseName: string, presented: FencingToken, held: Lease | undefined): StaleToken {
    const detail =
      held === undefined
        ? `lease ${JSON.stringify(leaseName)} is not held (it expired or was released)`
        : `lease ${JSON.stringify(leaseName)} was granted again since (to ${JSON.stringify(held.holder)}, token ${held.token})`;
    return staleToken(presented, detail, held);
  }

  // ------------------------------------------------------------ tasks

  private post(cmd: Extract<TaskCommand, { type: 'task.post' }>, index: LogIndex): CoordResult {
    const id = cmd.id ?? `t${index}`;
    const existing = this.tasks.get(id);
    if (existing !== undefined) {
      if (existing.queue === cmd.queue) return freeze({ ok: true, id, index: existing.postedAt, duplicate: true });
      return freeze({
        ok: false,
        reason: 'id_taken',
        id,
        queue: existing.queue,
        detail: `task id ${JSON.stringify(id)} is taken by a task of queue ${JSON.stringify(existing.queue)}; task ids are unique across queues`,
      });
    }
    const task: Task = { id, queue: cmd.queue, task: cmd.task, state: 'queued', attempts: 0, maxAttempts: cmd.maxAttempts ?? DEFAULT_MAX_ATTEMPTS, postedAt: index };
    this.remember(task);
    this.enqueue(task);
    this.taskChanged(index, task, 'posted');
    return freeze({ ok: true, id, index, duplicate: false });
  }

  private claim(queue: string, worker: string, ttl: number, index: LogIndex): CoordResult {
    const ids = this.queued.get(queue);
    const id = ids?.shift();
    if (ids !== undefined && ids.length === 0) this.queued.delete(queue);
    const task = id === undefined ? undefined : this.tasks.get(id);
    if (task === undefined) return NO_CLAIM;
    task.state = 'claimed';
    task.attempts += 1;
    task.claim = { worker, token: index, expiresAt: this.time + ttl, ttlMs: ttl };
    this.deadlines.push({ kind: 'task', key: task.id, token: index, expiresAt: task.claim.expiresAt });
    this.taskChanged(index, task, 'claimed');
    return freeze({
      ok: true,
      claim: freeze({ id: task.id, queue, task: task.task, worker, token: index, expiresAt: task.claim.expiresAt, attempt: task.attempts }),
    });
  }

  private heartbeat(id: string, presented: FencingToken, ttl: number | undefined, index: LogIndex): CoordResult {
    const task = this.claimedWith(id, presented);
    if (!('claim' in task)) return task;
    const claim = task.claim;
    task.claim = { ...claim, expiresAt: this.time + (ttl ?? claim.ttlMs), ttlMs: ttl ?? claim.ttlMs };
    this.deadlines.push({ kind: 'task', key: id, token: presented, expiresAt: task.claim.expiresAt });
    this.taskChanged(index, task, 'heartbeat');
    return freeze({ ok: true, expiresAt: task.claim.expiresAt });
  }

  private complete(id: string, presented: FencingToken, result: JsonValue | undefined, index: LogIndex): CoordResult {
    const task = this.claimedWith(id, presented);
    if (!('claim' in task)) return task;
    task.state = 'done';
    task.finishedAt = this.time;
    task.result = result ?? null;
    task.completedBy = { worker: task.claim.worker, token: presented };
    dropClaim(task);
    this.taskChanged(index, task, 'completed');
    return OK;
  }

  private fail(id: string, presented: FencingToken, reason: string, retry: boolean, index: LogIndex): CoordResult {
    const task = this.claimedWith(id, presented);
    if (!('claim' in task)) return task;
    dropClaim(task);
    task.reason = reason;
    this.settleUnclaimed(task, retry, index, 'failed');
    return freeze({ ok: true, state: task.state });
  }

  /** The task, if it is claimed now under `presented`; otherwise why not. */
  private claimedWith(id: string, presented: FencingToken): (Task & { claim: NonNullable<Task['claim']> }) | StaleToken | NotFound {
    const task = this.tasks.get(id);
    if (task === undefined) return freeze({ ok: false, reason: 'not_found', detail: `no task ${JSON.stringify(id)}` });
    if (task.claim !== undefined && task.claim.token === presented) return task as Task & { claim: NonNullable<Task['claim']> };
    const current = task.claim === undefined ? undefined : { holder: task.claim.worker, token: task.claim.token, expiresAt: task.claim.expiresAt };
    const detail =
      task.state === 'claimed'
        ? `task ${JSON.stringify(id)} was claimed again since (by ${JSON.stringify(task.claim?.worker)}, token ${task.claim?.token})`
        : task.state === 'done'
          ? `task ${JSON.stringify(id)} is already done (completed with token ${task.completedBy?.token})`
          : task.state === 'dead'
            ? `task ${JSON.stringify(id)} is dead-lettered (${task.reason ?? 'no attempts left'})`
            : `task ${JSON.stringify(id)} is queued again: your claim expired or failed`;
    return staleToken(presented, detail, current);
  }

  /** A task that lost its claim: back to its queue, or dead once it used its attempts or must not retry. */
  private settleUnclaimed(task: Task, retry: boolean, index: LogIndex, op: 'failed' | 'requeued'): void {
    if (retry && task.attempts < task.maxAttempts) {
      task.state = 'queued';
      this.enqueue(task);
      this.taskChanged(index, task, op);
      return;
    }
    task.state = 'dead';
    task.finishedAt = this.time;
    if (retry) task.reason = `${task.reason}; no attempts left after ${task.attempts} claims`;
    this.taskChanged(index, task, 'dead');
  }

  private remember(task: Task): void {
    this.tasks.set(task.id, task);
    let ids = this.byQueue.get(task.queue);
    if (ids === undefined) {
      ids = new Set();
      this.byQueue.set(task.queue, ids);
    }
    ids.add(task.id);
  }

  private forget(task: Task): void {
    this.tasks.delete(task.id);
    const ids = this.byQueue.get(task.queue);
    ids?.delete(task.id);
    if (ids?.size === 0) this.byQueue.delete(task.queue);
  }

  /** Into its queue at its place (oldest post first). */
  private enqueue(task: Task): void {
    let ids = this.queued.get(task.queue);
    if (ids === undefined) {
      ids = [];
      this.queued.set(task.queue, ids);
    }
    let at = ids.length;
    while (at > 0 && (this.tasks.get(ids[at - 1] as string)?.postedAt ?? 0) > task.postedAt) at--;
    ids.splice(at, 0, task.id);
  }

  // ------------------------------------------------------------ time

  /**
   * Forget idle sessions and long-finished tasks. Decided by replicated time and state alone (both
   * in the snapshot), at the first entry of each minute: every replica forgets the same things at
   * the same entry.
   */
  private forgetOld(): void {
    for (const [id, session] of this.sessions) if (session.at < this.time - this.sessionRetentionMs) this.sessions.delete(id);
    for (const task of this.tasks.values()) {
      if (task.finishedAt !== undefined && task.finishedAt < this.time - this.taskRetentionMs) this.forget(task);
    }
  }

  /** Expire every lease and claim due at `now`, as part of the entry at `index`. */
  private expireDue(index: LogIndex): void {
    for (let due = this.deadlines.popDue(this.time); due !== undefined; due = this.deadlines.popDue(this.time)) {
      if (!this.isLive(due.kind, due.key, due.token, due.expiresAt)) continue;
      if (due.kind === 'lease') {
        this.leases.delete(due.key);
        this.change(index, 'lease', due.key, 'expired');
      } else {
        const task = this.tasks.get(due.key) as Task;
        dropClaim(task);
        task.reason = `claim ${due.token} expired`;
        this.settleUnclaimed(task, true, index, 'requeued');
      }
    }
  }

  /** Whether a deadline still stands: the grant it was set for is current and not extended since. */
  private isLive(kind: 'lease' | 'task', key: string, grant: FencingToken, expiresAt: number): boolean {
    if (kind === 'lease') {
      const lease = this.leases.get(key);
      return lease !== undefined && lease.token === grant && lease.expiresAt === expiresAt;
    }
    const claim = this.tasks.get(key)?.claim;
    return claim !== undefined && claim.token === grant && claim.expiresAt === expiresAt;
  }

  private checkFence(fence: Fence): StaleToken | undefined {
    if ('lease' in fence) {
      const held = this.leases.get(fence.lease);
      return held !== undefined && held.token === fence.token ? undefined : this.staleLease(fence.lease, fence.token, held);
    }
    const task = this.claimedWith(fence.task, fence.token);
    if ('claim' in task) return undefined;
    return task.reason === 'stale_token' ? task : staleToken(fence.token, task.detail, undefined);
  }

  // ------------------------------------------------------------ journal

  private kvChanged(cmd: KvCommand, result: KvResult, index: LogIndex, fence: Fence | undefined): void {
    if (cmd.type === 'put') this.change(index, 'kv', cmd.key, 'put', cmd.value, fence);
    else if (cmd.type === 'delete' && (result as { existed?: boolean }).existed) this.change(index, 'kv', cmd.key, 'delete', undefined, fence);
    else if (cmd.type === 'cas' && result.ok) this.change(index, 'kv', cmd.key, 'put', cmd.to, fence);
  }

  private taskChanged(index: LogIndex, task: Task, op: string): void {
    this.change(index, 'task', `${task.queue}/${task.id}`, op, taskView(task) as unknown as JsonValue);
  }

  private change(index: LogIndex, kind: Change['kind'], key: string, op: string, value?: LeaseGrant | JsonValue, fence?: Fence): void {
    this.pending.push(
      freeze({ index, kind, key, op, ...(value !== undefined ? { value: value as JsonValue } : {}), ...(fence !== undefined ? { fence: freeze({ ...fence }) } : {}) }),
    );
  }

  private record(index: LogIndex): void {
    if (this.pending.length === 0) return;
    const batch: ChangeBatch = freeze({ index, changes: freeze(this.pending) });
    this.pending = [];
    const size = journalSize(batch.changes);
    this.journal.push(batch);
    this.journalSizes.push(size);
    this.journalBytes += size;
    if (this.journal.length > this.journalLimit * 2 || this.journalBytes > this.journalMaxBytes) this.trimJournal();
    for (const listener of this.listeners) {
      try {
        listener(batch);
      } catch {
        // A watcher's failure is the watcher's: the entry is applied on every replica alike.
      }
    }
  }

  /** Down to journalLimit entries and journalMaxBytes, dropping the oldest (the newest entry always stays). */
  private trimJournal(): void {
    let drop = Math.max(0, this.journal.length - this.journalLimit);
    let bytes = this.journalBytes;
    for (let i = 0; i < drop; i++) bytes -= this.journalSizes[i] as number;
    while (bytes > this.journalMaxBytes && drop < this.journal.length - 1) bytes -= this.journalSizes[drop++] as number;
    if (drop <= 0) return;
    this.journalFloor = (this.journal[drop - 1] as ChangeBatch).index;
    this.journal = this.journal.slice(drop);
    this.journalSizes = this.journalSizes.slice(drop);
    this.journalBytes = bytes;
  }

  /**
   * The changes of entries at `from` and after, oldest first — or `compacted` when some of them
   * are no longer kept (this replica restored a snapshot past them, or the journal dropped them):
   * the watcher must re-read the state and watch from `index`.
   */
  changesFrom(from: LogIndex): { ok: true; batches: readonly ChangeBatch[]; index: LogIndex } | { ok: false; reason: 'compacted'; index: LogIndex } {
    this.trimJournal();
    if (from <= this.journalFloor) return { ok: false, reason: 'compacted', index: this.lastIndex + 1 };
    let lo = 0;
    let hi = this.journal.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((this.journal[mid] as ChangeBatch).index < from) lo = mid + 1;
      else hi = mid;
    }
    return { ok: true, batches: this.journal.slice(lo), index: this.lastIndex };
  }

  /**
   * Called when a snapshot replaces the whole state (this replica restored one): a watcher must
   * treat what it saw as compacted. Returns the unsubscribe.
   */
  onRestore(listener: (index: LogIndex) => void): () => void {
    this.restoreListeners.add(listener);
    return () => this.restoreListeners.delete(listener);
  }

  /** Called with each entry's changes as it is applied; returns the unsubscribe. */
  onChanges(listener: (batch: ChangeBatch) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The last entry this state machine applied or restored. */
  get appliedIndex(): LogIndex {
    return this.lastIndex;
  }

  // ------------------------------------------------------------ queries

  /** The KV's own readers (src/kv/state-machine.ts). */
  get(key: string): GetResult {
    return this.kv.get(key);
  }

  keys(prefix = ''): readonly string[] {
    return this.kv.keys(prefix);
  }

  dump(): Readonly<Record<string, JsonValue>> {
    return this.kv.dump();
  }

  get size(): number {
    return this.kv.size;
  }

  query(query: unknown): CoordQueryResult {
    const type = (query as { type?: unknown } | null)?.type;
    if (typeof type !== 'string' || !/^(lease|task|queue|coord)\./.test(type)) return this.kv.query(query);
    const parsed = safeParse(coordQuerySchema, query);
    if (!parsed.ok) return freeze({ ok: false, reason: 'invalid_query', error: parsed.error });
    const q = parsed.data;
    switch (q.type) {
      case 'lease.get': {
        const lease = this.leases.get(q.name);
        return freeze({ lease: lease === undefined ? null : leaseGrant(q.name, lease) });
      }
      case 'lease.list':
        return freeze({ leases: freeze([...this.leases.entries()].sort(([a], [b]) => compareStrings(a, b)).map(([n, l]) => leaseGrant(n, l))) });
      case 'task.get': {
        const task = this.tasks.get(q.id);
        return freeze({ task: task === undefined ? null : taskView(task) });
      }
      case 'task.list':
        return this.queueView(q.queue, q.limit ?? MAX_LIST_LIMIT);
      case 'queue.list': {
        const names = [...this.byQueue.keys()].sort(compareStrings);
        return freeze({ queues: freeze(names.map((n) => this.queueView(n, MAX_LIST_LIMIT))) });
      }
      case 'coord.time':
        return freeze({ now: this.time, index: this.lastIndex });
    }
  }

  private queueView(queue: string, limit: number): QueueView {
    const counts: Record<TaskState, number> = { queued: 0, claimed: 0, done: 0, dead: 0 };
    const tasks: TaskView[] = [];
    for (const id of this.byQueue.get(queue) ?? []) {
      const task = this.tasks.get(id) as Task;
      counts[task.state]++;
      tasks.push(taskView(task));
    }
    tasks.sort((a, b) => a.postedAt - b.postedAt);
    return freeze({ queue, counts: freeze(counts), tasks: freeze(tasks.slice(0, limit)) });
  }

  // ------------------------------------------------------------ snapshots

  snapshot(): JsonValue {
    const sessions = [...this.sessions.entries()].sort(([a], [b]) => compareStrings(a, b)).map(([id, x]) => [id, x.seq, x.result as unknown as JsonValue, x.at]);
    const leases = [...this.leases.entries()].sort(([a], [b]) => compareStrings(a, b)).map(([n, l]) => [n, { ...l }]);
    // Fields in one order whatever the task went through, so equal states give equal snapshots.
    const tasks = [...this.tasks.values()]
      .sort((a, b) => a.postedAt - b.postedAt)
      .map((t) =>
        stripUndefined({
          id: t.id,
          queue: t.queue,
          task: t.task,
          state: t.state,
          attempts: t.attempts,
          maxAttempts: t.maxAttempts,
          postedAt: t.postedAt,
          claim: t.claim && { worker: t.claim.worker, token: t.claim.token, expiresAt: t.claim.expiresAt, ttlMs: t.claim.ttlMs },
          result: t.result,
          completedBy: t.completedBy && { worker: t.completedBy.worker, token: t.completedBy.token },
          reason: t.reason,
          finishedAt: t.finishedAt,
        }),
      );
    return { version: 2, now: this.time, index: this.lastIndex, kv: this.kv.snapshot(), sessions, leases, tasks } as unknown as JsonValue;
  }

  /**
   * Replace the whole state by a snapshot's. Everything is checked before anything is replaced: a
   * snapshot that is not one of ours throws and leaves the state as it was. A version-1 snapshot is
   * a KV store's (a data directory from before leases and tasks): its data and sessions are kept.
   */
  restore(snapshot: JsonValue | Uint8Array): void {
    const kv = new KvStateMachine();
    if ((snapshot as { version?: unknown } | null)?.version === 1) {
      kv.restore(snapshot);
      const legacy = (snapshot as { sessions: [string, number, unknown][] }).sessions;
      this.clear(kv);
      // Their last use is unknown: they are kept until the first forgetting (at most a minute of replicated time).
      for (const [id, seq, result] of legacy) this.sessions.set(id, { seq, result: deepFreeze(result as JsonValue) as unknown as CoordResult, at: 0 });
      this.journalFloor = Number.MAX_SAFE_INTEGER; // no history is known until the next entry
      this.announceRestore();
      return;
    }
    const parsed = snapshotSchema.safeParse(snapshot);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new RangeError(`not a coordination snapshot: ${issue?.path.join('.') ?? ''} ${issue?.message ?? 'invalid'}`);
    }
    const data = parsed.data;
    kv.restore(data.kv as JsonValue);
    this.clear(kv);
    this.time = data.now;
    this.lastIndex = data.index;
    this.journalFloor = data.index;
    for (const [id, seq, result, at] of data.sessions) this.sessions.set(id, { seq, result: deepFreeze(result as JsonValue) as unknown as CoordResult, at });
    for (const [n, l] of data.leases) {
      this.leases.set(n, { holder: l.holder, token: l.token, expiresAt: l.expiresAt, ttlMs: l.ttlMs });
      this.deadlines.push({ kind: 'lease', key: n, token: l.token, expiresAt: l.expiresAt });
    }
    for (const t of data.tasks) {
      const task = stripUndefined({ ...t }) as Task;
      this.remember(task);
      if (task.state === 'queued') this.enqueue(task);
      if (task.claim !== undefined) this.deadlines.push({ kind: 'task', key: task.id, token: task.claim.token, expiresAt: task.claim.expiresAt });
    }
    this.announceRestore();
  }

  private announceRestore(): void {
    for (const listener of this.restoreListeners) {
      try {
        listener(this.lastIndex);
      } catch {
        // the watcher's
      }
    }
  }

  private clear(kv: KvStateMachine): void {
    this.kv = kv;
    this.leases.clear();
    this.tasks.clear();
    this.byQueue.clear();
    this.queued.clear();
    this.sessions.clear();
    this.deadlines.clear();
    this.time = 0;
    this.lastIndex = 0;
    this.journal = [];
    this.journalSizes = [];
    this.journalBytes = 0;
    this.journalFloor = 0;
  }
}

// ---------------------------------------------------------------- helpers

const NOOP_RESULT = Object.freeze({ ok: true, noop: true }) as CoordResult;
const TICK_RESULT: CoordResult = Object.freeze({ ok: true, tick: true });
const OK: CoordResult = Object.freeze({ ok: true });
const NO_CLAIM: CoordResult = Object.freeze({ ok: true, claim: null });

function invalid(error: string): CoordResult {
  return freeze({ ok: false, reason: 'invalid_command', error });
}

function staleToken(presented: FencingToken, detail: string, current: { holder?: string; worker?: string; token: FencingToken; expiresAt: number } | undefined): StaleToken {
  if (current === undefined) return freeze({ ok: false, reason: 'stale_token', token: presented, detail });
  const holder = (current.holder ?? current.worker) as string;
  return freeze({ ok: false, reason: 'stale_token', token: presented, detail, current: freeze({ holder, token: current.token, expiresAt: current.expiresAt }) });
}

function leaseGrant(leaseName: string, lease: Lease): LeaseGrant {
  return freeze({ name: leaseName, holder: lease.holder, token: lease.token, expiresAt: lease.expiresAt, ttlMs: lease.ttlMs });
}

function taskView(task: Task): TaskView {
  return freeze(
    stripUndefined({
      id: task.id,
      queue: task.queue,
      task: task.task,
      state: task.state,
      attempts: task.attempts,
      maxAttempts: task.maxAttempts,
      postedAt: task.postedAt,
      claim: task.claim === undefined ? undefined : freeze({ worker: task.claim.worker, token: task.claim.token, expiresAt: task.claim.expiresAt }),
      result: task.result,
      completedBy: task.completedBy,
      reason: task.reason,
    }) as TaskView,
  );
}

/**
 * About the size of changes' JSON, for the journal's byte bound: a string value (the common KV
 * put) is counted by its length, without writing it out again on every replica for every entry;
 * anything else by its JSON.
 */
function journalSize(changes: readonly Change[]): number {
  let size = 0;
  for (const change of changes) {
    const { value } = change;
    size += 64 + change.key.length + (value === undefined ? 0 : typeof value === 'string' ? value.length + 2 : JSON.stringify(value).length);
  }
  return size;
}

function dropClaim(task: Task): void {
  delete task.claim;
}

function stripUndefined<T extends object>(value: T): T {
  for (const key of Object.keys(value) as (keyof T)[]) if (value[key] === undefined) delete value[key];
  return value;
}

function freeze<T>(value: T): T {
  return Object.freeze(value);
}
