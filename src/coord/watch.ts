/**
 * A watch over a replica's journal (CoordStateMachine.changesFrom / onChanges): the history from
 * an index, then every new entry's changes as it is applied, filtered by key prefix and kind, in
 * index order. Each yielded batch is one entry's changes (never split), so a watcher that resumes
 * from the last index it saw + 1 neither misses nor repeats a change. When the history asked for is
 * gone, it yields `compacted` once and ends: re-read the state, then watch from the index it names.
 */
import type { LogIndex } from '../core/types.js';
import type { ChangeBatch, WatchKind, WatchMessage, WatchOptions } from './types.js';

export interface Journal {
  changesFrom(from: LogIndex): { ok: true; batches: readonly ChangeBatch[]; index: LogIndex } | { ok: false; reason: 'compacted'; index: LogIndex };
  onChanges(listener: (batch: ChangeBatch) => void): () => void;
  /** A snapshot replaced the whole state: what a watcher saw since no longer follows on. */
  onRestore?(listener: (index: LogIndex) => void): () => void;
  readonly appliedIndex: LogIndex;
}

/** The batch with only the changes the watcher asked for, or undefined when none is left. */
export function filterBatch(batch: ChangeBatch, prefix: string, kinds: readonly WatchKind[] | undefined): ChangeBatch | undefined {
  const changes = batch.changes.filter((c) => c.key.startsWith(prefix) && (kinds === undefined || kinds.includes(c.kind)));
  if (changes.length === 0) return undefined;
  return changes.length === batch.changes.length ? batch : { index: batch.index, changes };
}

/**
 * Subscribe to `journal` from `options.from` (default: what comes next): `deliver` gets the history
 * first, then each new batch, synchronously as it is applied. Returns the unsubscribe; after a
 * `compacted` message nothing more is delivered.
 */
export function subscribeJournal(journal: Journal, prefix: string, options: Omit<WatchOptions, 'signal'>, deliver: (message: WatchMessage) => void): () => void {
  const from = options.from ?? journal.appliedIndex + 1;
  const history = journal.changesFrom(from);
  if (!history.ok) {
    deliver({
      type: 'compacted',
      index: history.index,
      detail: `the changes from index ${from} are no longer kept (compacted); re-read the state and watch from ${history.index}`,
    });
    return () => undefined;
  }
  let last = from - 1;
  const pass = (batch: ChangeBatch) => {
    if (batch.index <= last) return;
    last = batch.index;
    const kept = filterBatch(batch, prefix, options.kinds);
    if (kept !== undefined) deliver({ type: 'changes', ...kept });
  };
  for (const batch of history.batches) pass(batch);
  let ended = false;
  const stopChanges = journal.onChanges((batch) => {
    if (!ended) pass(batch);
  });
  // A snapshot installed under the watcher skips entries it never saw as changes: compacted.
  const stopRestores = journal.onRestore?.((index) => {
    // Compacted only for a watcher behind the snapshot: one at or past it misses nothing.
    if (ended || last >= index) return;
    ended = true;
    stopChanges();
    deliver({ type: 'compacted', index: index + 1, detail: `this replica installed a snapshot at index ${index}; re-read the state and watch from ${index + 1}` });
  });
  return () => {
    ended = true;
    stopChanges();
    stopRestores?.();
  };
}

/** The same as an async iterable, ending when `signal` aborts (or after `compacted`). */
export async function* watchJournal(journal: Journal, prefix: string, options: WatchOptions = {}): AsyncGenerator<WatchMessage> {
  const queue: WatchMessage[] = [];
  let wake: (() => void) | undefined;
  let ended = false;
  const unsubscribe = subscribeJournal(journal, prefix, options, (message) => {
    queue.push(message);
    wake?.();
  });
  const abort = () => {
    ended = true;
    wake?.();
  };
  options.signal?.addEventListener('abort', abort, { once: true });
  try {
    while (!ended && options.signal?.aborted !== true) {
      const message = queue.shift();
      if (message === undefined) {
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
        wake = undefined;
        continue;
      }
      yield message;
      if (message.type === 'compacted') return;
    }
  } finally {
    unsubscribe();
    options.signal?.removeEventListener('abort', abort);
  }
}
