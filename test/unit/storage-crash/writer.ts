/**
 * Child process of the crash-atomicity test: `node --import tsx writer.ts <dataDir> <seconds>`.
 * Opens a SqliteStorage, continues from the batch its hard state names, and writes numbered
 * batches in a loop, printing `done <k>` after each write returns (stdout to a pipe is
 * synchronous on Linux, so a printed number is never lost). It stops by itself after <seconds>
 * in case nobody kills it.
 */
import { SqliteStorage } from '../../../src/storage/sqlite.js';
import { crashBatch, lastIndexAfter, type CrashCommand } from './batches.js';

const [dataDir, seconds = '60'] = process.argv.slice(2);
if (dataDir === undefined) throw new Error('usage: writer.ts <dataDir> [seconds]');

const storage = SqliteStorage.open<CrashCommand>(dataDir, { nodeId: 'n1', clusterId: 'crash-test' });
const { hardState, entries } = storage.load();
let k = hardState.currentTerm;
let lastIndex = entries.length;
process.stdout.write(`open ${k}\n`);
const stopAt = performance.now() + Number(seconds) * 1000;
while (performance.now() < stopAt) {
  k++;
  const batch = crashBatch(k, lastIndex);
  storage.write(batch);
  lastIndex = lastIndexAfter(batch, lastIndex);
  process.stdout.write(`done ${k}\n`);
}
storage.close();
