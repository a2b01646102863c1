/**
 * Child process of the crash-atomicity test: `node --import tsx compacting-writer.ts <dataDir> <seconds>`.
 * Opens a SqliteStorage, continues from the batch its hard state names, and writes numbered
 * batches — snapshots among them (compacting-batches.ts) — in a loop, printing `done <k>` after
 * each write returns (stdout to a pipe is synchronous on Linux, so a printed number is never
 * lost). It stops by itself after <seconds> in case nobody kills it.
 */
import { SqliteStorage } from '../../../src/storage/sqlite.js';
import type { CrashCommand } from './batches.js';
import { CompactingLog } from './compacting-batches.js';

const [dataDir, seconds = '60'] = process.argv.slice(2);
if (dataDir === undefined) throw new Error('usage: compacting-writer.ts <dataDir> [seconds]');

const storage = SqliteStorage.open<CrashCommand>(dataDir, { nodeId: 'n1', clusterId: 'crash-test' });
const state = storage.load();
const log = CompactingLog.from(state);
let k = state.hardState.currentTerm;
process.stdout.write(`open ${k}\n`);
const stopAt = performance.now() + Number(seconds) * 1000;
while (performance.now() < stopAt) {
  k++;
  storage.write(log.next(k));
  process.stdout.write(`done ${k}\n`);
}
storage.close();
