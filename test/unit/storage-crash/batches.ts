/**
 * The batches the crash-atomicity test writes, as a pure function of the batch number and the
 * log's length: the writer (a child process killed with SIGKILL) and the test (which replays them
 * into a MemoryStorage to know what a store that completed batch k must hold) share it.
 *
 * Batch k sets currentTerm = k, so the hard state on disk names the last batch completed, and
 * its entries carry term k and their batch number. Batches mix plain appends, overwrites from
 * entries[0].index, truncate-then-append, truncation only, and large ones (300 entries; 1.5 KB
 * commands) that span several database pages.
 */
import type { LogEntry } from '../../../src/core/types.js';
import type { PersistBatch } from '../../../src/storage/storage.js';

export interface CrashCommand {
  batch: number;
  i: number;
  pad: string;
}

export function crashBatch(k: number, lastIndex: number): PersistBatch<CrashCommand> {
  const hardState = { currentTerm: k, votedFor: `n${k % 3}` };
  const size = k % 13 === 0 ? 300 : 1 + ((k * 7) % 40);
  const pad = 'x'.repeat(k % 7 === 0 ? 1500 : 20);
  let truncateFrom: number | undefined;
  let start = lastIndex + 1;
  let count = size;
  if (lastIndex > 0 && k % 11 === 0) {
    truncateFrom = Math.max(1, lastIndex - 5);
    count = 0;
  } else if (lastIndex > 0 && k % 5 === 0) {
    truncateFrom = Math.max(1, lastIndex - 3);
    start = truncateFrom;
  } else if (lastIndex > 0 && k % 5 === 1) {
    start = Math.max(1, lastIndex - 2);
  }
  const entries: LogEntry<CrashCommand>[] = [];
  for (let i = 0; i < count; i++) entries.push({ index: start + i, term: k, command: { batch: k, i, pad } });
  return { hardState, truncateFrom, entries };
}
