/**
 * A disk that writes in the background, in virtual time: the simulator's stand-in for
 * BackgroundSqliteStorage (the SQLite writer thread), so the runtime's background path (Storage.submit;
 * src/runtime/raft-node.ts) is checked step by step and replayed from a seed.
 *
 * Batches submitted while the writer is busy are committed together when it next runs, as the
 * writer thread commits what queued in one transaction: one write of `delay()` virtual ms each
 * time, then every `done` of that group, in order. The durable state is `disk`, a MemoryStorage:
 * keep it across a crash (`crash()` drops what was submitted and not written yet, as a power cut
 * would) and restart the node on a new BackgroundMemoryStorage over the same disk.
 */
import type { Clock } from '../runtime/clock.js';
import { MemoryStorage } from '../storage/memory.js';
import type { PersistBatch, PersistedState, Storage } from '../storage/storage.js';

export class BackgroundMemoryStorage<C = unknown> implements Storage<C> {
  readonly storesSnapshots = true;
  /** Submitted, not yet written, in order. */
  private queue: { batch: PersistBatch<C>; done: (error: unknown) => void }[] = [];
  private timer: unknown;
  private failure: unknown;
  /** Groups written (one fsync each) and batches in them. */
  groups = 0;
  batches = 0;

  constructor(
    private readonly clock: Clock,
    /** Virtual ms one group's write takes (drawn per group). */
    private readonly delay: () => number,
    readonly disk: MemoryStorage<C> = new MemoryStorage<C>(),
  ) {}

  load(): PersistedState<C> {
    return this.disk.load();
  }

  /** Written at once, after everything submitted before it. */
  write(batch: PersistBatch<C>): void {
    this.settle();
    if (this.failure !== undefined) throw this.failure;
    this.disk.write(batch);
  }

  submit(batch: PersistBatch<C>, done: (error: unknown) => void): void {
    if (this.failure !== undefined) throw this.failure;
    this.queue.push({ batch, done });
    // The writer is busy with the group before (or starts now): this one joins the next group.
    this.timer ??= this.clock.setTimeout(() => this.writeGroup(), this.delay());
  }

  settle(): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    while (this.queue.length > 0) this.writeGroup();
  }

  /** A power cut: what was submitted and not written is lost; `disk` keeps the rest. */
  crash(): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.queue = [];
  }

  close(): void {
    this.settle();
  }

  /** Everything queued now, in one transaction: all of it or (a refused batch) none of it, then every done in order. */
  private writeGroup(): void {
    this.timer = undefined;
    const group = this.queue;
    this.queue = [];
    if (group.length === 0) return;
    const before = this.disk.load();
    const staging = new MemoryStorage<C>(before);
    let error: unknown;
    try {
      for (const { batch } of group) staging.write(batch);
    } catch (refused) {
      error = refused;
      this.failure = refused;
    }
    if (error === undefined) {
      for (const { batch } of group) this.disk.write(batch);
      this.groups++;
      this.batches += group.length;
    }
    for (const { done } of group) done(error);
    // What was submitted by those dones waits for the next group's write.
    if (this.queue.length > 0 && this.failure === undefined) this.timer ??= this.clock.setTimeout(() => this.writeGroup(), this.delay());
  }
}
