/**
 * tsx test/bench/storage.ts [dir] — batches/s and entries/s through Storage.write, SqliteStorage
 * (WAL, synchronous=FULL: one fsync per batch) against MemoryStorage as the baseline, for batch
 * sizes 1, 16 and 256, as the runtime writes them (hard state + appended entries, ~100-byte KV
 * commands). Only time inside write() counts; each figure is the median of 5 runs of ≥ 300 ms of
 * it, all in this one process. Then
 * open + load() of the largest log written, i.e. a restart's cost. [dir] (default: os.tmpdir())
 * is where the databases go: measure on the disk the nodes will use.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { LogEntry } from '../../src/core/types.js';
import { MemoryStorage } from '../../src/storage/memory.js';
import { SqliteStorage } from '../../src/storage/sqlite.js';
import type { Storage } from '../../src/storage/storage.js';

const RUNS = 5;
const RUN_MS = 300;
const SIZES = [1, 16, 256];
const base = process.argv[2] ?? tmpdir();
const IDS = { nodeId: 'n1', clusterId: 'bench' };

interface Command {
  type: 'put';
  key: string;
  value: { n: number; text: string };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

/** Write batches of `size` until RUN_MS were spent inside write(); returns batches per second of write() time. */
function run(storage: Storage<Command>, size: number): number {
  let index = 0;
  let batches = 0;
  let spent = 0;
  while (spent < RUN_MS) {
    // Built outside the timed part: the runtime hands storage entries that already exist.
    const entries: LogEntry<Command>[] = [];
    for (let i = 0; i < size; i++) {
      index++;
      entries.push({ index, term: 1, command: { type: 'put', key: `key-${index % 1000}`, value: { n: index, text: 'x'.repeat(48) } } });
    }
    const t0 = performance.now();
    storage.write({ hardState: { currentTerm: 1, votedFor: 'n1' }, truncateFrom: undefined, entries });
    spent += performance.now() - t0;
    batches++;
  }
  return batches / (spent / 1000);
}

function measure(open: () => { storage: Storage<Command>; dispose(): void }, size: number): number {
  const rates: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    const { storage, dispose } = open();
    try {
      rates.push(run(storage, size));
    } finally {
      dispose();
    }
  }
  return median(rates);
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US').padStart(12);
const sqliteVersion = (() => {
  const db = new Database(':memory:');
  const v = db.prepare('SELECT sqlite_version()').pluck().get() as string;
  db.close();
  return v;
})();

console.log(`node ${process.version}, SQLite ${sqliteVersion}, databases under ${base}; median of ${RUNS} runs of ≥ ${RUN_MS} ms inside write()`);
console.log(`${'storage'.padEnd(16)}${'batch'.padStart(6)}${'batches/s'.padStart(12)}${'entries/s'.padStart(12)}${'µs/batch'.padStart(12)}  vs memory`);
let largest = { dir: '', entries: 0 };
for (const size of SIZES) {
  const memory = measure(() => {
    const storage = new MemoryStorage<Command>();
    return { storage, dispose: () => storage.close() };
  }, size);
  const sqlite = measure(() => {
    const dir = mkdtempSync(join(base, 'xstate-raft-bench-'));
    const storage = SqliteStorage.open<Command>(dir, IDS);
    return {
      storage,
      dispose() {
        const entries = storage.stats().entryCount;
        storage.close();
        if (entries > largest.entries) {
          if (largest.dir !== '') rmSync(largest.dir, { recursive: true, force: true });
          largest = { dir, entries };
        } else {
          rmSync(dir, { recursive: true, force: true });
        }
      },
    };
  }, size);
  for (const [name, rate] of [
    ['MemoryStorage', memory],
    ['SqliteStorage', sqlite],
  ] as const) {
    console.log(`${name.padEnd(16)}${String(size).padStart(6)}${fmt(rate)}${fmt(rate * size)}${(1e6 / rate).toFixed(1).padStart(12)}  ${(rate / memory).toFixed(4)}×`);
  }
}

// A restart: open (quick_check included) and load() of the largest log written above.
try {
  const times: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    const t0 = performance.now();
    const storage = SqliteStorage.open<Command>(largest.dir, IDS);
    storage.load();
    times.push(performance.now() - t0);
    const { databaseBytes, walBytes } = storage.stats();
    storage.close();
    if (r === RUNS - 1) {
      console.log(
        `SqliteStorage open + load of ${largest.entries.toLocaleString('en-US')} entries (${((databaseBytes + walBytes) / 2 ** 20).toFixed(1)} MiB): ${median(times).toFixed(0)} ms`,
      );
    }
  }
} finally {
  rmSync(largest.dir, { recursive: true, force: true });
}
