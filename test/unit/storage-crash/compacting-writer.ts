/**
 * Child process of the crash-atomicity test:
 * `node --import tsx compacting-writer.ts <dataDir> <seconds> [die-while-staging | die-in-flip | die-while-tidying]`.
 * Opens a SqliteStorage, continues from the batch its hard state names, and writes numbered
 * batches — snapshots among them (compacting-batches.ts) — in a loop, printing `done <k>` after
 * each write returns (stdout to a pipe is synchronous on Linux, so a printed number is never
 * lost). Snapshots that `stagesSnapshot(k)` names are staged first, a chunk per turn of the event
 * loop (`stage <k>` before), flipped in by batch k, then tidied a chunk per turn (`tidied <k>`).
 * It stops by itself after <seconds> in case nobody kills it.
 *
 * With a third argument it kills itself (SIGKILL, printing `dying <where> <k>` first) at the first
 * staged snapshot where that can happen: after writing a chunk of a snapshot that has more to
 * write; inside the transaction of the batch that flips it in (a temporary trigger calls a function
 * that sends the signal as the batch drops the log the snapshot covers, before it commits); or
 * after the flip, once the first chunk of the replaced snapshot is deleted.
 */
import type Database from 'better-sqlite3';
import { SqliteStorage } from '../../../src/storage/sqlite.js';
import type { CrashCommand } from './batches.js';
import { CompactingLog, stagesSnapshot } from './compacting-batches.js';

const [dataDir, seconds = '60', die] = process.argv.slice(2);
if (dataDir === undefined) throw new Error('usage: compacting-writer.ts <dataDir> [seconds] [die-while-staging | die-in-flip | die-while-tidying]');
if (die !== undefined && !['die-while-staging', 'die-in-flip', 'die-while-tidying'].includes(die)) throw new Error(`unknown ${die}`);

const print = (line: string) => process.stdout.write(`${line}\n`);
const turn = () => new Promise((resolve) => setImmediate(resolve));
const dying = (k: number): never => {
  print(`dying ${String(die)} ${k}`);
  process.kill(process.pid, 'SIGKILL');
  throw new Error('unreachable: SIGKILL sent to self');
};

if (process.env.CRASH_WRITER_THREAD === '1') await writeInBackground();

/**
 * CRASH_WRITER_THREAD=1: the same batches through BackgroundSqliteStorage, up to 8 submitted at a
 * time (so the writer thread groups them), `done <k>` printed from each one's done; snapshots go
 * whole in their batch. Never returns.
 */
async function writeInBackground(): Promise<never> {
  const { BackgroundSqliteStorage } = await import('../../../src/storage/sqlite-background.js');
  const storage = BackgroundSqliteStorage.open<CrashCommand>(dataDir as string, { nodeId: 'n1', clusterId: 'crash-test' });
  const state = storage.load();
  const log = CompactingLog.from(state);
  let k = state.hardState.currentTerm;
  print(`open ${k}`);
  const stopAt = performance.now() + Number(seconds) * 1000;
  let pending = 0;
  const pump = () => {
    while (pending < 8 && performance.now() < stopAt) {
      const mine = ++k;
      pending++;
      storage.submit(log.next(mine), (error) => {
        if (error !== undefined) {
          print(`error ${mine} ${String(error)}`);
          process.exit(3);
        }
        print(`done ${mine}`);
        pending--;
        setImmediate(pump);
      });
    }
    if (pending === 0) {
      storage.close();
      process.exit(0);
    }
  };
  pump();
  return new Promise<never>(() => undefined);
}

const storage = SqliteStorage.open<CrashCommand>(dataDir, { nodeId: 'n1', clusterId: 'crash-test' });
// Test-only: the connection, to place a kill inside the flip's transaction.
const db = (storage as unknown as { db: Database.Database }).db;
db.function('die_now', () => dying(current));
const state = storage.load();
const log = CompactingLog.from(state);
let k = state.hardState.currentTerm;
let current = k;
print(`open ${k}`);
const stopAt = performance.now() + Number(seconds) * 1000;
while (performance.now() < stopAt) {
  k++;
  current = k;
  const batch = log.next(k);
  if (batch.snapshot === undefined || !stagesSnapshot(k)) {
    storage.write(batch);
    print(`done ${k}`);
    continue;
  }
  const { index, term, data } = batch.snapshot;
  print(`stage ${k}`);
  const staging = storage.stageSnapshot(index, term, data);
  while (!staging.writeNext()) {
    if (die === 'die-while-staging') dying(k);
    await turn();
  }
  await turn();
  if (die === 'die-in-flip') db.exec('CREATE TEMP TRIGGER die_in_flip AFTER DELETE ON raft_entries BEGIN SELECT die_now(); END');
  storage.write({ ...batch, snapshot: { ...batch.snapshot, staged: staging.id } });
  print(`done ${k}`);
  for (let first = true; !staging.tidyNext(); first = false) {
    if (first && die === 'die-while-tidying') dying(k);
    await turn();
  }
  if (die === 'die-while-tidying') dying(k);
  print(`tidied ${k}`);
  await turn();
}
storage.close();
