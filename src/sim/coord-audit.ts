/**
 * The coordination guarantees, checked from what the replicas did rather than from what the state
 * machine says it does. Every CoordStateMachine of a simulation reports each entry's changes here
 * (`attach`); the first replica to apply an index defines its changes, and every other replica must
 * report the same changes at that index (state-machine safety, at the level agents see). Over that
 * one history, a model of its own — kept apart from src/coord/state-machine.ts on purpose — checks:
 *
 * - a lease is acquired only when it is free (no two holders at once), and its token grows;
 * - a task is claimed only while queued, and completed at most once, by its live claim;
 * - a KV write made on behalf of a lease or a claim (its `fence`) is accepted only while that
 *   grant is the current one: no write with a stale token.
 *
 * A broken rule is recorded (the first one wins) and reported by `violation`.
 */
import type { LogIndex } from '../core/types.js';
import type { CoordStateMachine } from '../coord/state-machine.js';
import type { Change, ChangeBatch, FencingToken } from '../coord/types.js';

interface TaskModel {
  state: 'queued' | 'claimed' | 'done' | 'dead';
  token: FencingToken | undefined;
  completions: number;
}

export class CoordAudit {
  private readonly seen = new Map<LogIndex, string>();
  private lastIndex: LogIndex = 0;
  private readonly tasks = new Map<string, TaskModel>();
  private readonly leases = new Map<string, { holder: string; token: FencingToken }>();
  private lastLeaseToken = 0;
  /** The fence of each fenced KV write in the history, by index and key. */
  private readonly fences = new Map<string, { task?: string; lease?: string; token: FencingToken }>();
  /** Per completed task, the token of the claim that was live when it completed. */
  private readonly completedWith = new Map<string, FencingToken>();
  private failure: { rule: string; detail: string } | undefined;
  /** Fenced KV writes accepted, and completions seen in the history. */
  readonly counts = { fencedWrites: 0, completions: 0, claims: 0, expiries: 0, leaseGrants: 0 };

  /** Report every change this replica applies from now on. */
  attach(machine: CoordStateMachine): void {
    machine.onChanges((batch) => this.see(batch));
  }

  /** The token of the claim live when `id` completed, per the replicas' history (undefined: not completed). */
  completionToken(id: string): FencingToken | undefined {
    return this.completedWith.get(id);
  }

  /** The fence the history shows for the write of `key` at `index` (undefined: not a fenced write there). */
  fenceAt(index: LogIndex, key: string): { task?: string; lease?: string; token: FencingToken } | undefined {
    return this.fences.get(`${index} ${key}`);
  }

  get violation(): { rule: string; detail: string } | undefined {
    return this.failure;
  }

  private fail(rule: string, detail: string): void {
    this.failure ??= { rule, detail };
  }

  private see(batch: ChangeBatch): void {
    const text = JSON.stringify(batch.changes);
    const known = this.seen.get(batch.index);
    if (known !== undefined) {
      if (known !== text) this.fail('replicas-agree', `two replicas made different changes at index ${batch.index}: ${known} and ${text}`);
      return;
    }
    this.seen.set(batch.index, text);
    if (batch.index < this.lastIndex) {
      // A replica reports an index nobody reported before, below one already modelled: an entry
      // whose changes another replica did not make (it had none there).
      this.fail('replicas-agree', `changes at index ${batch.index} reported after index ${this.lastIndex}, by a replica alone`);
      return;
    }
    this.lastIndex = batch.index;
    for (const change of batch.changes) this.model(change);
  }

  private model(change: Change): void {
    if (change.kind === 'lease') return this.lease(change);
    if (change.kind === 'task') return this.task(change);
    if (change.fence !== undefined) this.fenced(change);
  }

  private lease(change: Change): void {
    const value = change.value as { holder: string; token: FencingToken } | undefined;
    const held = this.leases.get(change.key);
    switch (change.op) {
      case 'acquired':
        if (value === undefined) return this.fail('lease', `lease ${change.key} acquired without a grant at ${change.index}`);
        if (held !== undefined && held.holder !== value.holder) {
          return this.fail('lease-exclusive', `lease ${change.key} granted to ${value.holder} at ${change.index} while ${held.holder} held it (token ${held.token})`);
        }
        if (value.token <= this.lastLeaseToken) return this.fail('token-grows', `lease ${change.key} granted with token ${value.token} after token ${this.lastLeaseToken}`);
        this.lastLeaseToken = value.token;
        this.counts.leaseGrants++;
        this.leases.set(change.key, { holder: value.holder, token: value.token });
        return;
      case 'renewed':
        if (held === undefined || held.token !== value?.token) return this.fail('lease', `lease ${change.key} renewed at ${change.index} under a token that is not its grant's`);
        return;
      case 'released':
      case 'expired':
        if (held === undefined) return this.fail('lease', `lease ${change.key} ${change.op} at ${change.index} while not held`);
        this.leases.delete(change.key);
        return;
    }
  }

  private task(change: Change): void {
    // The key is `<queue>/<id>`, and either may hold '/': the id is the task's own.
    const view = change.value as { id: string; state: TaskModel['state']; claim?: { token: FencingToken } } | undefined;
    if (view === undefined) return this.fail('task', `task change ${change.key} at ${change.index} without the task`);
    const id = view.id;
    const task = this.tasks.get(id);
    if (change.op === 'posted') {
      if (task !== undefined) return this.fail('task', `task ${id} posted twice (at ${change.index})`);
      this.tasks.set(id, { state: 'queued', token: undefined, completions: 0 });
      return;
    }
    if (task === undefined) return this.fail('task', `task ${id} ${change.op} at ${change.index} before it was posted`);
    switch (change.op) {
      case 'claimed':
        if (task.state !== 'queued') return this.fail('claim-exclusive', `task ${id} claimed at ${change.index} while ${task.state}`);
        task.state = 'claimed';
        task.token = view?.claim?.token;
        this.counts.claims++;
        return;
      case 'heartbeat':
        if (task.state !== 'claimed' || view.claim?.token !== task.token)
          return this.fail('task', `task ${id} heartbeat at ${change.index} while ${task.state} (token ${task.token}, heartbeat for ${view.claim?.token})`);
        return;
      case 'completed':
        task.completions++;
        this.counts.completions++;
        if (task.completions > 1) return this.fail('complete-once', `task ${id} completed a second time at ${change.index}`);
        if (task.state !== 'claimed') return this.fail('complete-once', `task ${id} completed at ${change.index} while ${task.state}`);
        if (task.token !== undefined) this.completedWith.set(id, task.token);
        task.state = 'done';
        task.token = undefined;
        return;
      case 'failed':
      case 'requeued':
        if (task.state !== 'claimed') return this.fail('task', `task ${id} ${change.op} at ${change.index} while ${task.state}`);
        if (change.op === 'requeued') this.counts.expiries++;
        task.state = 'queued';
        task.token = undefined;
        return;
      case 'dead':
        // Dead-lettered when a claim ended (failed without retry, expired or failed after its last attempt).
        if (task.state !== 'claimed' && task.state !== 'queued') return this.fail('task', `task ${id} dead at ${change.index} while ${task.state}`);
        task.state = 'dead';
        task.token = undefined;
        return;
    }
  }

  private fenced(change: Change): void {
    const fence = change.fence as NonNullable<Change['fence']>;
    this.counts.fencedWrites++;
    this.fences.set(`${change.index} ${change.key}`, fence);
    if ('lease' in fence) {
      const held = this.leases.get(fence.lease);
      if (held === undefined || held.token !== fence.token) {
        this.fail(
          'stale-write',
          `KV ${change.key} written at ${change.index} with lease ${fence.lease} token ${fence.token}, but the lease is ${held ? `at token ${held.token}` : 'not held'}`,
        );
      }
      return;
    }
    const task = this.tasks.get(fence.task);
    if (task?.state !== 'claimed' || task.token !== fence.token) {
      this.fail(
        'stale-write',
        `KV ${change.key} written at ${change.index} with task ${fence.task} token ${fence.token}, but the task is ${task ? `${task.state} (token ${task.token})` : 'unknown'}`,
      );
    }
  }
}
