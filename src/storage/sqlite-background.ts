/**
 * BackgroundSqliteStorage: SqliteStorage with its writes off the event loop (issue 13). A writer
 * thread (sqlite-writer.ts) owns the only connection to raft.db and commits each batch the node
 * submits — together with whatever queued while it was busy, in one transaction, one fsync — and
 * answers when they are on disk; the node performs each batch's messages and answers then, in
 * order (Storage.submit; src/runtime/raft-node.ts). The node's thread meanwhile keeps receiving,
 * stepping and sending.
 *
 * - Opening is SqliteStorage.open's, on this thread, with the same checks and errors; what the
 *   directory holds is loaded then (the node's one `load()` at start), and the connection closed
 *   so the writer can open its own (the file is locked EXCLUSIVE while open).
 * - `write`, `load`, `settle` and `close` are synchronous: they wait (Atomics.wait) for the
 *   writer's answer, having run every `done` of the writes before them, in order.
 * - Snapshots go whole in their batch (no `stageSnapshot`): the writer writes them off this thread.
 * - A refused batch (one no log could hold) fails alone, as SqliteStorage.write throws for it; a
 *   failed commit fails every write submitted after it (none of them is written) and the storage
 *   refuses further use, as SqliteStorage does.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MessageChannel, type MessagePort, receiveMessageOnPort, Worker } from 'node:worker_threads';
import { SqliteStorage, type SqliteStorageStats, StorageError, type StorageErrorCode } from './sqlite.js';
import { fileSize, type SqliteStorageOptions } from './sqlite-schema.js';
import type { PersistBatch, PersistedState, Storage } from './storage.js';

/** How long a synchronous call waits for the writer before it gives up (a wedged disk). */
const WAIT_MS = 60_000;

export type WriterStats = Omit<SqliteStorageStats, 'databaseBytes' | 'walBytes'>;
type WireError = { code?: string; message: string; path?: string };
export type WriterRequest = { type: 'write'; id: number; batch: PersistBatch; after: number } | { type: 'load'; id: number } | { type: 'close'; id: number };
export type WriterAnswer =
  | { type: 'opened'; stats: WriterStats }
  | { type: 'failed'; error: WireError }
  | { type: 'written'; through: number; batches: number; stats: WriterStats }
  | { type: 'writeFailed'; through: number; error: WireError }
  | { type: 'refused'; id: number; refusals: number; error: WireError }
  | { type: 'reply'; id: number; value?: unknown; error?: WireError };

/**
 * The writer thread's module: the compiled sqlite-writer.js beside this file. Run from the
 * TypeScript source (the tests, tsx), it is bundled once per content with esbuild (a
 * devDependency) into node_modules/.cache/xstate-raft — a TypeScript loader in the thread would
 * load it through Node's loader-hooks thread, which waits on this thread while it blocks for the
 * writer's first answer.
 */
let bundled: string | undefined;
function writerModule(): string {
  const js = fileURLToPath(new URL('./sqlite-writer.js', import.meta.url));
  if (existsSync(js)) return js;
  if (bundled !== undefined) return bundled;
  const source = fileURLToPath(new URL('./sqlite-writer.ts', import.meta.url));
  const require = createRequire(import.meta.url);
  const esbuild = require('esbuild') as typeof import('esbuild');
  const out = esbuild.buildSync({ entryPoints: [source], bundle: true, platform: 'node', format: 'esm', packages: 'external', write: false, logLevel: 'silent' });
  const code = (out.outputFiles[0] as { text: string }).text;
  const dir = join(dirname(source), '..', '..', 'node_modules', '.cache', 'xstate-raft');
  const file = join(dir, `sqlite-writer-${createHash('sha256').update(code).digest('hex').slice(0, 16)}.mjs`);
  if (!existsSync(file)) {
    mkdirSync(dir, { recursive: true });
    const temporary = `${file}.${process.pid}.tmp`;
    writeFileSync(temporary, code);
    renameSync(temporary, file);
  }
  bundled = file;
  return file;
}

export class BackgroundSqliteStorage<C = unknown> implements Storage<C> {
  readonly storesSnapshots = true;

  /**
   * Open the node's data directory as SqliteStorage.open does (same checks, same errors), then
   * hand it to a writer thread. Returns once the writer holds it.
   */
  static open<C = unknown>(dataDir: string, options: SqliteStorageOptions): BackgroundSqliteStorage<C> {
    return BackgroundSqliteStorage.handOver(SqliteStorage.open<C>(dataDir, options));
  }

  /** Take over an open SqliteStorage (nothing written through it since): load it, close it, give its directory to a writer thread. */
  static handOver<C = unknown>(foreground: SqliteStorage<C>): BackgroundSqliteStorage<C> {
    let loaded: PersistedState<C>;
    try {
      loaded = foreground.load();
    } finally {
      foreground.close();
    }
    return new BackgroundSqliteStorage<C>(foreground.dataDir, foreground.file, { nodeId: foreground.nodeId, clusterId: foreground.clusterId }, loaded);
  }

  readonly nodeId: string;
  readonly clusterId: string;
  private readonly worker: Worker;
  private readonly port: MessagePort;
  /** signal[0]: answers the writer has posted. */
  private readonly signal = new Int32Array(new SharedArrayBuffer(4));
  private answersSeen = 0;
  private nextId = 1;
  /** Refused batches heard of: each write carries it, so the writer refuses writes built on a refused one. */
  private refusals = 0;
  /** Submitted writes not yet answered, in order. */
  private readonly pending: { id: number; done: (error: unknown) => void }[] = [];
  private readonly replies = new Map<number, { value?: unknown; error?: WireError }>();
  /** What the directory held at open: the first load()'s answer, without asking the writer. */
  private initial: PersistedState<C> | undefined;
  private latest: WriterStats = { entryCount: 0, lastIndex: 0, lastTerm: 0, currentTerm: 0, snapshotIndex: 0, snapshotTerm: 0, snapshotLength: 0, writes: 0 };
  /** The writer's first answer: it holds the file ('opened'), or why not. */
  private opened: WriterAnswer | undefined;
  private failure: StorageError | undefined;
  private isClosed = false;

  private constructor(
    readonly dataDir: string,
    readonly file: string,
    options: SqliteStorageOptions,
    loaded: PersistedState<C>,
  ) {
    this.nodeId = options.nodeId;
    this.clusterId = options.clusterId;
    this.initial = loaded;
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    this.worker = new Worker(writerModule(), { workerData: { dataDir, options, port: port2, signal: this.signal }, transferList: [port2] });
    // A node that is stopped without closing its storage must not keep its process alive.
    this.worker.unref();
    this.worker.on('error', (error: Error) => this.broken(new StorageError('storage_failed', `the SQLite writer thread of ${dataDir} failed: ${error.message}`, dataDir, error)));
    // A writer that exits before it was closed answers nothing more: every pending write fails.
    this.worker.on('exit', (code: number) => {
      if (!this.isClosed) this.broken(new StorageError('storage_failed', `the SQLite writer thread of ${dataDir} exited (code ${code})`, dataDir));
    });
    this.port.on('message', (answer: WriterAnswer) => this.handle(answer));
    this.port.unref();
    this.waitFor(() => this.opened !== undefined);
    const opened = this.opened as WriterAnswer;
    if (opened.type !== 'opened') {
      void this.worker.terminate();
      throw opened.type === 'failed' ? this.error(opened.error) : (this.failure as StorageError);
    }
    this.latest = opened.stats;
  }

  load(): PersistedState<C> {
    this.usable();
    const initial = this.initial;
    if (initial !== undefined && this.nextId === 1) return initial;
    return this.call({ type: 'load', id: this.nextId++ }) as PersistedState<C>;
  }

  submit(batch: PersistBatch<C>, done: (error: unknown) => void): void {
    this.usable();
    this.initial = undefined;
    const id = this.nextId++;
    // Posted first: a batch that cannot be sent (not cloneable) throws with nothing pending.
    this.port.postMessage({ type: 'write', id, batch, after: this.refusals } satisfies WriterRequest);
    // While a write is pending its answer keeps the process alive (its done must run).
    if (this.pending.length === 0) this.port.ref();
    this.pending.push({ id, done });
  }

  write(batch: PersistBatch<C>): void {
    let failed: unknown;
    this.submit(batch, (error) => {
      failed = error;
    });
    this.settle();
    if (failed !== undefined) throw failed;
  }

  settle(): void {
    while (this.pending.length > 0 && this.failure === undefined) this.waitFor(() => this.pending.length === 0);
  }

  /** Idempotent. Waits for the writes submitted before it, then the writer closes the file (checkpoint, lock released). */
  close(): void {
    if (this.isClosed) return;
    try {
      if (this.failure === undefined) {
        this.settle();
        this.call({ type: 'close', id: this.nextId++ });
      }
    } finally {
      this.isClosed = true;
      void this.worker.terminate();
    }
  }

  get closed(): boolean {
    return this.isClosed;
  }

  stats(): SqliteStorageStats {
    this.usable();
    return { ...this.latest, databaseBytes: fileSize(this.file), walBytes: fileSize(`${this.file}-wal`) };
  }

  private usable(): void {
    if (this.isClosed) {
      throw new StorageError('storage_closed', `the storage of ${this.dataDir} is closed; open it again with BackgroundSqliteStorage.open`, this.dataDir);
    }
    if (this.failure !== undefined) throw this.failure;
  }

  private handle(answer: WriterAnswer): void {
    this.answersSeen++;
    switch (answer.type) {
      case 'written': {
        this.latest = answer.stats;
        while (this.pending[0] !== undefined && this.pending[0].id <= answer.through) (this.pending.shift() as { done: (error: unknown) => void }).done(undefined);
        if (this.pending.length === 0) this.port.unref();
        break;
      }
      case 'writeFailed':
        this.broken(this.error(answer.error));
        break;
      case 'refused': {
        // That batch is refused (nothing of it written) and so is every one submitted before we
        // heard (the writer refuses them); later ones are written, as after write() threw.
        if (this.pending[0]?.id !== answer.id) break; // failed already (broken)
        this.refusals = answer.refusals;
        const refused = this.pending.shift() as { id: number; done: (error: unknown) => void };
        if (this.pending.length === 0) this.port.unref();
        refused.done(this.error(answer.error));
        break;
      }
      case 'reply':
        this.replies.set(answer.id, answer);
        break;
      default:
        this.opened = answer;
        break;
    }
  }

  /** After a failed write nothing more is trusted: every write still waiting fails with it. */
  private broken(error: StorageError): void {
    this.failure ??= error;
    const waiting = this.pending.splice(0);
    this.port.unref();
    for (const { done } of waiting) done(error);
  }

  private error(wire: WireError): StorageError {
    return new StorageError((wire.code ?? 'storage_failed') as StorageErrorCode, wire.message, wire.path ?? this.dataDir);
  }

  /** A synchronous request: everything answered before it handled first (writes' dones in order). */
  private call(request: Exclude<WriterRequest, { type: 'write' }>): unknown {
    this.port.postMessage(request);
    this.waitFor(() => this.replies.has(request.id));
    const reply = this.replies.get(request.id) as { value?: unknown; error?: WireError };
    this.replies.delete(request.id);
    if (reply.error !== undefined) throw this.error(reply.error);
    return reply.value;
  }

  /** Handle the writer's answers, in order, waiting for more, until `until()` holds or the storage failed. */
  private waitFor(until: () => boolean): void {
    const deadline = performance.now() + WAIT_MS;
    while (!until() && this.failure === undefined) {
      const next = receiveMessageOnPort(this.port);
      if (next !== undefined) {
        this.handle(next.message as WriterAnswer);
        continue;
      }
      const left = deadline - performance.now();
      if (left <= 0) {
        const error = new StorageError('storage_failed', `the SQLite writer thread of ${this.dataDir} did not answer within ${WAIT_MS} ms`, this.dataDir);
        this.broken(error);
        throw error;
      }
      // Sleep until the writer posts its next answer (signal[0] moves past the answers handled).
      Atomics.wait(this.signal, 0, this.answersSeen, left);
    }
  }
}
