/**
 * The SQLite writer thread of BackgroundSqliteStorage (sqlite-background.ts): it owns the node's
 * only connection to raft.db (SqliteStorage, locking_mode EXCLUSIVE) and serves what the node's
 * thread asks, in order. Writes that queued while it was committing are committed together: one
 * transaction, one fsync (SqliteStorage.writeGroup). Every answer is posted, then counted in
 * `signal[0]` and notified, so the node's thread can also wait for one synchronously (Atomics.wait).
 */
import { type MessagePort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import { SqliteStorage, StorageError } from './sqlite.js';
import type { SqliteStorageOptions } from './sqlite-schema.js';
import type { PersistBatch } from './storage.js';
import type { WriterAnswer, WriterRequest, WriterStats } from './sqlite-background.js';

const { dataDir, options, port, signal } = workerData as { dataDir: string; options: SqliteStorageOptions; port: MessagePort; signal: Int32Array };

function answer(message: WriterAnswer): void {
  port.postMessage(message);
  Atomics.add(signal, 0, 1);
  Atomics.notify(signal, 0);
}

function wire(error: unknown): { code?: string; message: string; path?: string } {
  if (error instanceof StorageError) return { code: error.code, message: error.message, path: error.path };
  return { message: error instanceof Error ? error.message : String(error) };
}

let storage: SqliteStorage | undefined;
try {
  storage = SqliteStorage.open(dataDir, options);
  answer({ type: 'opened', stats: stats(storage) });
} catch (error) {
  answer({ type: 'failed', error: wire(error) });
}

function stats(s: SqliteStorage): WriterStats {
  const { entryCount, lastIndex, lastTerm, currentTerm, snapshotIndex, snapshotTerm, snapshotLength, writes } = s.stats();
  return { entryCount, lastIndex, lastTerm, currentTerm, snapshotIndex, snapshotTerm, snapshotLength, writes };
}

/** Batches this thread refused so far: a write built before the node's thread heard of the last one is refused too. */
let refusals = 0;

type Write = { id: number; batch: PersistBatch; after: number };

/**
 * The writes queued in a row, committed as one group; then the answer that they are on disk (or
 * why not). A write whose `after` (the refusals the node's thread had seen when it submitted it)
 * is behind `refusals` was built on a batch that was refused: it is refused unwritten, never
 * written on a log that lacks what it continues.
 */
function commit(group: Write[]): void {
  if (group.length === 0 || storage === undefined) return;
  const through = (group.at(-1) as Write).id;
  if (group.every((w) => w.after === refusals)) {
    try {
      storage.writeGroup(group.map((w) => w.batch));
      answer({ type: 'written', through, batches: group.length, stats: stats(storage) });
      return;
    } catch (error) {
      if (!(error instanceof StorageError && error.code === 'storage_batch_invalid')) return answer({ type: 'writeFailed', through, error: wire(error) });
    }
  }
  // One was refused (so none was written) or was built on a refused one: one at a time.
  for (const { id, batch, after } of group) {
    if (after !== refusals) {
      answer({
        type: 'refused',
        id,
        refusals,
        error: { code: 'storage_batch_invalid', message: 'storage: refused a batch (nothing was written): it was submitted after a batch that was refused' },
      });
      continue;
    }
    try {
      storage.write(batch);
      answer({ type: 'written', through: id, batches: 1, stats: stats(storage) });
    } catch (alone) {
      if (!(alone instanceof StorageError && alone.code === 'storage_batch_invalid')) return answer({ type: 'writeFailed', through, error: wire(alone) });
      refusals++;
      answer({ type: 'refused', id, refusals, error: wire(alone) });
    }
  }
}

function serve(request: WriterRequest, group: Write[]): void {
  if (request.type === 'write') {
    group.push({ id: request.id, batch: request.batch, after: request.after });
    return;
  }
  // Anything else is answered after the writes before it.
  commit(group.splice(0));
  const s = storage;
  try {
    if (s === undefined) throw new Error('the writer thread has no open storage');
    if (request.type === 'load') answer({ type: 'reply', id: request.id, value: s.load() });
    else if (request.type === 'close') {
      s.close();
      storage = undefined;
      answer({ type: 'reply', id: request.id, value: null });
      port.close();
    }
  } catch (error) {
    answer({ type: 'reply', id: request.id, error: wire(error) });
  }
}

port.on('message', (first: WriterRequest) => {
  const group: Write[] = [];
  serve(first, group);
  // Whatever queued while the last group was being committed joins this one.
  for (let next = receiveMessageOnPort(port); next !== undefined; next = receiveMessageOnPort(port)) serve(next.message as WriterRequest, group);
  commit(group);
});
