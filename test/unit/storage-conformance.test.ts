/**
 * The Storage contract (src/storage/storage.ts), as one suite every implementation must pass:
 * MemoryStorage and SqliteStorage run the same tests. Then what only a disk can get wrong:
 * SqliteStorage refuses damaged, foreign or too-new data directories, refuses to store a log it
 * could not load again, and keeps each batch all-or-nothing when its process is killed mid-write.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, openSync, closeSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { HardState, LogEntry } from '../../src/core/types.js';
import { MemoryStorage } from '../../src/storage/memory.js';
import { SQLITE_FILE_NAME, SQLITE_FORMAT_VERSION, SqliteStorage, StorageError, type StorageErrorCode } from '../../src/storage/sqlite.js';
import type { PersistBatch, PersistedState, Storage } from '../../src/storage/storage.js';
import { crashBatch, lastIndexAfter, type CrashCommand } from './storage-crash/batches.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const IDS = { nodeId: 'n1', clusterId: 'c1' };

// ------------------------------------------------------------ temp directories, removed after

const tempDirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'xstate-raft-storage-'));
  tempDirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

// ------------------------------------------------------------ helpers

/** Entries from index `first` with the given terms; each command names its place. */
function entries(first: number, terms: readonly number[], tag = 'c'): LogEntry<unknown>[] {
  return terms.map((term, i) => ({ index: first + i, term, command: { tag, at: first + i } }));
}

function batch(parts: Partial<PersistBatch<unknown>>): PersistBatch<unknown> {
  return { hardState: undefined, truncateFrom: undefined, entries: [], ...parts };
}

const hs = (currentTerm: number, votedFor: string | null = null): HardState => ({ currentTerm, votedFor });
const EMPTY: PersistedState<unknown> = { hardState: hs(0), entries: [] };

/** A store and the "disk" under it: `restart()` is a crash-free process restart. */
interface Disk {
  readonly storage: Storage<unknown>;
  restart(): Storage<unknown>;
  dispose(): void;
}

interface Implementation {
  name: string;
  create(): Disk;
  /** Property runs: each one opens a fresh store. */
  runs: number;
}

const implementations: Implementation[] = [
  {
    name: 'MemoryStorage',
    runs: 200,
    create() {
      const storage = new MemoryStorage<unknown>();
      // The object stands for the disk: a restart keeps it.
      return { storage, restart: () => storage, dispose: () => storage.close() };
    },
  },
  {
    name: 'SqliteStorage',
    runs: 60,
    create() {
      const dir = tempDir();
      let storage = SqliteStorage.open<unknown>(dir, IDS);
      return {
        get storage() {
          return storage;
        },
        restart() {
          storage.close();
          storage = SqliteStorage.open<unknown>(dir, IDS);
          return storage;
        },
        dispose() {
          storage.close();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    },
  },
];

// ------------------------------------------------------------ the conformance suite

describe.each(implementations)('$name keeps the Storage contract', (impl) => {
  const disks: Disk[] = [];
  const open = (): Disk => {
    const disk = impl.create();
    disks.push(disk);
    return disk;
  };
  afterEach(() => {
    for (const disk of disks.splice(0)) disk.dispose();
  });

  it('a new store loads currentTerm 0, no vote and an empty log', () => {
    expect(open().storage.load()).toEqual(EMPTY);
  });

  it('the hard state written is the hard state loaded; a batch without one leaves it unchanged', () => {
    const { storage } = open();
    storage.write(batch({ hardState: hs(3, 'n2') }));
    expect(storage.load().hardState).toEqual(hs(3, 'n2'));
    storage.write(batch({ entries: entries(1, [1, 3]) }));
    expect(storage.load().hardState).toEqual(hs(3, 'n2'));
    storage.write(batch({ hardState: hs(4) }));
    expect(storage.load()).toEqual({ hardState: hs(4), entries: entries(1, [1, 3]) });
  });

  it('entries appended in successive batches load in index order', () => {
    const { storage } = open();
    storage.write(batch({ hardState: hs(2, 'n1'), entries: entries(1, [1, 1]) }));
    storage.write(batch({ entries: entries(3, [2]) }));
    storage.write(batch({ entries: entries(4, [2, 2, 2]) }));
    expect(storage.load()).toEqual({ hardState: hs(2, 'n1'), entries: entries(1, [1, 1, 2, 2, 2, 2]) });
  });

  it('truncateFrom drops every entry from that index before the same batch appends', () => {
    const { storage } = open();
    storage.write(batch({ hardState: hs(2), entries: entries(1, [1, 1, 1, 2, 2]) }));
    storage.write(batch({ hardState: hs(3), truncateFrom: 3, entries: entries(3, [3, 3], 'new') }));
    expect(storage.load()).toEqual({ hardState: hs(3), entries: [...entries(1, [1, 1]), ...entries(3, [3, 3], 'new')] });
  });

  it('entries overwrite the log from entries[0].index even without truncateFrom', () => {
    const { storage } = open();
    storage.write(batch({ hardState: hs(2), entries: entries(1, [1, 1, 1, 1]) }));
    storage.write(batch({ entries: entries(2, [2], 'new') }));
    expect(storage.load().entries).toEqual([...entries(1, [1]), ...entries(2, [2], 'new')]);
  });

  it('a truncation alone shortens the log; one beyond its end changes nothing', () => {
    const { storage } = open();
    storage.write(batch({ hardState: hs(1), entries: entries(1, [1, 1, 1, 1]) }));
    storage.write(batch({ truncateFrom: 3 }));
    expect(storage.load().entries).toEqual(entries(1, [1, 1]));
    storage.write(batch({ truncateFrom: 9 }));
    expect(storage.load().entries).toEqual(entries(1, [1, 1]));
    storage.write(batch({ truncateFrom: 1 }));
    expect(storage.load()).toEqual({ hardState: hs(1), entries: [] });
  });

  it('a batch whose entries do not continue the log is refused and leaves no trace, hard state included', () => {
    const { storage } = open();
    storage.write(batch({ hardState: hs(2, 'n1'), entries: entries(1, [1, 2, 2]) }));
    const before = storage.load();
    // A gap after the end of the log.
    expect(() => storage.write(batch({ hardState: hs(5, 'n3'), entries: entries(5, [5]) }))).toThrow();
    expect(storage.load()).toEqual(before);
    // Entries that start after the truncation point.
    expect(() => storage.write(batch({ hardState: hs(5, 'n3'), truncateFrom: 2, entries: entries(3, [5]) }))).toThrow();
    expect(storage.load()).toEqual(before);
    // The store still takes a good batch afterwards.
    storage.write(batch({ entries: entries(4, [2]) }));
    expect(storage.load().entries).toEqual(entries(1, [1, 2, 2, 2]));
  });

  it('after a restart the store returns exactly what was written', () => {
    const disk = open();
    disk.storage.write(batch({ hardState: hs(1, 'n1'), entries: entries(1, [1, 1, 1]) }));
    disk.storage.write(batch({ hardState: hs(3, 'n3'), truncateFrom: 2, entries: entries(2, [3], 'new') }));
    disk.storage.write(batch({ hardState: hs(4, null) }));
    const written = disk.storage.load();
    expect(disk.restart().load()).toEqual(written);
    expect(written).toEqual({ hardState: hs(4, null), entries: [...entries(1, [1]), ...entries(2, [3], 'new')] });
    // And the restarted store continues the same log.
    disk.storage.write(batch({ entries: entries(3, [4]) }));
    expect(disk.restart().load().entries).toEqual([...entries(1, [1]), ...entries(2, [3], 'new'), ...entries(3, [4])]);
  });

  it('a 10 000-entry batch is stored whole, and can be cut in the middle and rewritten in one batch', () => {
    const disk = open();
    const terms = Array.from({ length: 10_000 }, (_, i) => 1 + Math.floor(i / 2_500));
    disk.storage.write(batch({ hardState: hs(4, 'n1'), entries: entries(1, terms) }));
    expect(disk.restart().load()).toEqual({ hardState: hs(4, 'n1'), entries: entries(1, terms) });
    const rewritten = entries(5_001, Array.from({ length: 10_000 }, () => 5), 'new');
    disk.storage.write(batch({ hardState: hs(5, 'n2'), truncateFrom: 5_001, entries: rewritten }));
    const loaded = disk.restart().load();
    expect(loaded.entries).toHaveLength(15_000);
    expect(loaded.entries).toEqual([...entries(1, terms.slice(0, 5_000)), ...rewritten]);
  });

  it('large and nested commands round-trip unchanged', () => {
    const disk = open();
    let nested: unknown = { leaf: ['ünïcødé ✓', 0.1, -5, true, null] };
    for (let i = 0; i < 100; i++) nested = { depth: i, inner: nested, list: [i, String(i)] };
    const commands = ['x'.repeat(1 << 20), nested, { blob: 'y'.repeat(4 << 20) }, 42, 'plain', null, [1, [2, [3]]]];
    disk.storage.write(batch({ hardState: hs(1), entries: commands.map((command, i) => ({ index: i + 1, term: 1, command })) }));
    expect(disk.restart().load().entries.map((e) => e.command)).toEqual(commands);
  });

  it('any sequence of batches leaves what a simple model of the log predicts, also after a restart', () => {
    fc.assert(
      fc.property(fc.array(stepArb, { minLength: 1, maxLength: 30 }), (steps) => {
        const disk = impl.create();
        try {
          const model = new LogModel();
          for (const step of steps) {
            const { batch: next, valid } = model.batchFor(step);
            if (valid) {
              disk.storage.write(next);
              model.apply(next);
            } else {
              expect(() => disk.storage.write(next)).toThrow();
            }
            expect(disk.storage.load()).toEqual(model.state());
          }
          expect(disk.restart().load()).toEqual(model.state());
        } finally {
          disk.dispose();
        }
      }),
      { numRuns: impl.runs },
    );
  });
});

// ------------------------------------------------------------ the model for the property test

type StepKind = 'append' | 'overwrite' | 'truncateAppend' | 'truncate' | 'hardStateOnly' | 'gap' | 'startsPastTruncation';
interface Step {
  kind: StepKind;
  back: number;
  count: number;
  termStep: number;
  withHardState: boolean;
  votedFor: string | null;
  command: unknown;
}

/** JSON values as a JSON round trip leaves them (no -0): what a command is on any store. */
const jsonCommand = fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.parse(JSON.stringify(v)) as unknown);
const stepArb: fc.Arbitrary<Step> = fc.record({
  kind: fc.constantFrom<StepKind>('append', 'append', 'overwrite', 'truncateAppend', 'truncate', 'hardStateOnly', 'gap', 'startsPastTruncation'),
  back: fc.nat({ max: 6 }),
  count: fc.nat({ max: 8 }),
  termStep: fc.nat({ max: 2 }),
  withHardState: fc.boolean(),
  votedFor: fc.option(fc.constantFrom('n1', 'n2', 'n3'), { nil: null }),
  command: jsonCommand,
});

/** The log as a plain array, written from PersistBatch's documentation, not from any store. */
class LogModel {
  private hardState: HardState = hs(0);
  private log: LogEntry<unknown>[] = [];
  private counter = 0;

  state(): PersistedState<unknown> {
    return { hardState: this.hardState, entries: [...this.log] };
  }

  /** A batch for this step; `valid` says whether a store must take it or refuse it. */
  batchFor(step: Step): { batch: PersistBatch<unknown>; valid: boolean } {
    const last = this.log.length;
    // Entries are written in the current term, which must be ≥ 1 and never below the log's terms.
    const needTerm = this.hardState.currentTerm === 0;
    const hardState =
      step.withHardState || needTerm || step.kind === 'hardStateOnly'
        ? hs(this.hardState.currentTerm + Math.max(step.termStep, needTerm ? 1 : 0), step.votedFor)
        : undefined;
    const term = (hardState ?? this.hardState).currentTerm;
    const make = (first: number, count: number) =>
      Array.from({ length: count }, (_, i) => ({ index: first + i, term, command: { n: this.counter++, value: step.command } }));
    switch (step.kind) {
      case 'append':
        return { batch: batch({ hardState, entries: make(last + 1, step.count) }), valid: true };
      case 'overwrite':
        return { batch: batch({ hardState, entries: make(Math.max(1, last + 1 - step.back), Math.max(1, step.count)) }), valid: true };
      case 'truncateAppend': {
        const truncateFrom = Math.max(1, last + 1 - step.back);
        return { batch: batch({ hardState, truncateFrom, entries: make(truncateFrom, step.count) }), valid: true };
      }
      case 'truncate':
        return { batch: batch({ hardState, truncateFrom: Math.max(1, last + 1 - step.back) }), valid: true };
      case 'hardStateOnly':
        return { batch: batch({ hardState }), valid: true };
      case 'gap':
        return { batch: batch({ hardState, entries: make(last + 2 + step.back, Math.max(1, step.count)) }), valid: false };
      case 'startsPastTruncation': {
        const truncateFrom = Math.max(1, last + 1 - step.back);
        return { batch: batch({ hardState, truncateFrom, entries: make(truncateFrom + 1, Math.max(1, step.count)) }), valid: false };
      }
    }
  }

  apply(next: PersistBatch<unknown>): void {
    if (next.hardState !== undefined) this.hardState = next.hardState;
    const cut = Math.min(next.truncateFrom ?? Infinity, next.entries[0]?.index ?? Infinity);
    this.log = [...this.log.filter((e) => e.index < cut), ...next.entries];
  }
}

// ------------------------------------------------------------ SQLite only: the data directory

function expectStorageError(open: () => unknown, code: StorageErrorCode, ...phrases: (string | RegExp)[]): StorageError {
  let caught: unknown;
  try {
    open();
  } catch (error) {
    caught = error;
  }
  expect(caught, `expected a StorageError ${code}`).toBeInstanceOf(StorageError);
  const error = caught as StorageError;
  expect(error.code).toBe(code);
  for (const phrase of phrases) expect(error.message).toMatch(phrase);
  return error;
}

/** A data directory holding a closed database with the given log. */
function closedStore(log: LogEntry<unknown>[] = entries(1, [1, 1, 2]), hardState = hs(2, 'n1')): string {
  const dir = tempDir();
  const storage = SqliteStorage.open(dir, IDS);
  storage.write(batch({ hardState, entries: log }));
  storage.close();
  return dir;
}

/** Change a closed store behind the library's back, as damage or an older/newer program would. */
function tamper(dir: string, sql: string): void {
  const db = new Database(join(dir, SQLITE_FILE_NAME));
  try {
    db.exec(sql);
  } finally {
    db.close();
  }
}

describe('SqliteStorage refuses to start on a data directory it cannot trust, and never resets it', () => {
  it('open creates the directory and one raft.db in WAL mode holding format version, cluster id and node id', () => {
    const dir = join(tempDir(), 'nested', 'n1');
    const storage = SqliteStorage.open(dir, IDS);
    storage.close();
    expect(existsSync(join(dir, SQLITE_FILE_NAME))).toBe(true);
    const db = new Database(join(dir, SQLITE_FILE_NAME), { readonly: true });
    try {
      const meta = Object.fromEntries(db.prepare('SELECT key, value FROM raft_meta').raw().all() as [string, string][]);
      expect(meta).toEqual({ format_version: String(SQLITE_FORMAT_VERSION), cluster_id: 'c1', node_id: 'n1' });
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    } finally {
      db.close();
    }
  });

  it('a raft.db that is not a SQLite database is refused as corrupt and left byte for byte as it was', () => {
    const dir = tempDir();
    const file = join(dir, SQLITE_FILE_NAME);
    writeFileSync(file, 'this is not a database, it is garbage '.repeat(200));
    const before = readFileSync(file);
    const error = expectStorageError(() => SqliteStorage.open(dir, IDS), 'storage_corrupt', file, /not a SQLite database/, /will not reset/, /backup/);
    expect(error.path).toBe(dir);
    expect(readFileSync(file).equals(before)).toBe(true);
  });

  it('a database whose pages were overwritten with garbage is refused as corrupt (quick_check at open)', () => {
    const dir = closedStore(entries(1, Array.from({ length: 3_000 }, () => 1)), hs(1));
    const file = join(dir, SQLITE_FILE_NAME);
    const size = statSync(file).size;
    const fd = openSync(file, 'r+');
    try {
      const garbage = Buffer.alloc(3 * 4096, 0x5a);
      writeSync(fd, garbage, 0, garbage.length, Math.floor(size / 2 / 4096) * 4096);
    } finally {
      closeSync(fd);
    }
    expectStorageError(() => SqliteStorage.open(dir, IDS), 'storage_corrupt', /corrupt|malformed/);
  });

  it('a directory of another cluster is refused: "this data directory belongs to cluster X, not Y"', () => {
    const dir = closedStore();
    expectStorageError(() => SqliteStorage.open(dir, { nodeId: 'n1', clusterId: 'c2' }), 'storage_cluster_mismatch', 'this data directory belongs to cluster "c1", not "c2"');
    // Refusing changed nothing: the right cluster still opens it.
    const storage = SqliteStorage.open(dir, IDS);
    expect(storage.load().entries).toHaveLength(3);
    storage.close();
  });

  it('a directory of another node is refused, naming both nodes', () => {
    const dir = closedStore();
    expectStorageError(() => SqliteStorage.open(dir, { nodeId: 'n2', clusterId: 'c1' }), 'storage_node_mismatch', 'belongs to node "n1", not "n2"', /its own data directory/);
  });

  it('a newer format version is refused, telling to run the newer xstate-raft, and the file is left as it was', () => {
    const dir = closedStore();
    tamper(dir, `UPDATE raft_meta SET value = '${SQLITE_FORMAT_VERSION + 1}' WHERE key = 'format_version'`);
    const before = readFileSync(join(dir, SQLITE_FILE_NAME));
    expectStorageError(() => SqliteStorage.open(dir, IDS), 'storage_format_too_new', `format version ${SQLITE_FORMAT_VERSION + 1}`, /newer xstate-raft/);
    expect(readFileSync(join(dir, SQLITE_FILE_NAME)).equals(before)).toBe(true);
  });

  it.each([
    ['node_id is missing', "DELETE FROM raft_meta WHERE key = 'node_id'", 'node_id is missing'],
    ['cluster_id is missing', "DELETE FROM raft_meta WHERE key = 'cluster_id'", 'cluster_id is missing'],
    ['format_version is missing', "DELETE FROM raft_meta WHERE key = 'format_version'", 'format_version is missing'],
    ['format_version is not a number', "UPDATE raft_meta SET value = 'one' WHERE key = 'format_version'", 'format_version is "one"'],
    ['the log table is missing', 'DROP TABLE raft_entries', 'table raft_entries is missing'],
    ['the hard state row is missing', 'DELETE FROM raft_hard_state', '0 hard-state rows'],
  ])('damaged metadata is refused: %s', (_, sql, phrase) => {
    const dir = closedStore();
    tamper(dir, sql);
    expectStorageError(() => SqliteStorage.open(dir, IDS), 'storage_metadata_invalid', phrase, /will not reset/);
  });

  it("another program's SQLite database is refused as not xstate-raft data and left as it was", () => {
    const dir = tempDir();
    const file = join(dir, SQLITE_FILE_NAME);
    const db = new Database(file);
    db.exec("CREATE TABLE users (name TEXT); INSERT INTO users VALUES ('ada')");
    db.close();
    const before = readFileSync(file);
    expectStorageError(() => SqliteStorage.open(dir, IDS), 'storage_not_raft_data', /not an xstate-raft data file/, /users/);
    expect(readFileSync(file).equals(before)).toBe(true);
    expect(existsSync(`${file}-wal`)).toBe(false);
  });

  it('a write-ahead log without its raft.db is refused rather than replayed into a new database', () => {
    const dir = tempDir();
    writeFileSync(join(dir, `${SQLITE_FILE_NAME}-wal`), Buffer.alloc(4096, 1));
    expectStorageError(() => SqliteStorage.open(dir, IDS), 'storage_corrupt', /is missing but its write-ahead log/);
    expect(existsSync(join(dir, SQLITE_FILE_NAME))).toBe(false);
  });

  it('a data directory that is open is refused to a second opener (two nodes must never share a vote)', () => {
    const dir = tempDir();
    const first = SqliteStorage.open(dir, IDS);
    try {
      expectStorageError(() => SqliteStorage.open(dir, IDS), 'storage_locked', /in use by another process/);
      first.write(batch({ hardState: hs(1, 'n1') }));
    } finally {
      first.close();
    }
    const again = SqliteStorage.open(dir, IDS);
    expect(again.load().hardState).toEqual(hs(1, 'n1'));
    again.close();
  });

  it('a data directory path that is a file is refused with an I/O error naming it', () => {
    const file = join(tempDir(), 'not-a-dir');
    writeFileSync(file, 'x');
    expectStorageError(() => SqliteStorage.open(file, IDS), 'storage_io', /cannot create the data directory/);
  });
});

describe('SqliteStorage stores only a log it can load again', () => {
  it.each([
    ['an index gap', 'UPDATE raft_entries SET idx = 7 WHERE idx = 3', /has index 7; a log is contiguous from index 1/],
    ['a log not starting at 1', 'DELETE FROM raft_entries WHERE idx = 1', /has index 2; a log is contiguous from index 1/],
    ['a decreasing term', 'UPDATE raft_entries SET term = 1 WHERE idx = 3', /terms never decrease/],
    ['a term above currentTerm', 'UPDATE raft_hard_state SET current_term = 1', /above currentTerm 1/],
    ['a command that is not JSON', "UPDATE raft_entries SET command = '{oops' WHERE idx = 2", /not JSON/],
  ])('load refuses a stored log with %s', (_, sql, phrase) => {
    const dir = closedStore(entries(1, [1, 2, 2]), hs(2));
    tamper(dir, sql);
    const storage = SqliteStorage.open(dir, IDS);
    try {
      expectStorageError(() => storage.load(), 'storage_log_invalid', phrase);
    } finally {
      storage.close();
    }
  });

  const bad: [string, PersistBatch<unknown>][] = [
    ['entries that skip an index', batch({ entries: [...entries(4, [2]), ...entries(6, [2])] })],
    ['a term lower than the entry before it', batch({ entries: entries(4, [1]) })],
    ['a term that decreases inside the batch', batch({ hardState: hs(4), entries: entries(4, [4, 3]) })],
    ['a term above currentTerm', batch({ entries: entries(4, [3]) })],
    ['a currentTerm below the last entry', batch({ hardState: hs(1, 'n2') })],
    ['term 0 on an entry', batch({ truncateFrom: 1, entries: entries(1, [0]) })],
    ['index 0', batch({ hardState: hs(5), truncateFrom: 1, entries: entries(0, [1]) })],
    ['truncateFrom 0', batch({ hardState: hs(5), truncateFrom: 0 })],
    ['a command that is not JSON', batch({ hardState: hs(5), entries: [{ index: 4, term: 2, command: 10n }] })],
    ['an undefined command', batch({ hardState: hs(5), entries: [{ index: 4, term: 2, command: undefined }] })],
    ['a non-integer term in the hard state', batch({ hardState: hs(2.5) })],
  ];
  it.each(bad)('write refuses a batch with %s and leaves no trace', (_, refused) => {
    const dir = tempDir();
    const storage = SqliteStorage.open(dir, IDS);
    try {
      storage.write(batch({ hardState: hs(2, 'n1'), entries: entries(1, [1, 2, 2]) }));
      const before = storage.load();
      expectStorageError(() => storage.write(refused), 'storage_batch_invalid', /nothing was written/);
      expect(storage.load()).toEqual(before);
      expect(storage.stats()).toMatchObject({ lastIndex: 3, lastTerm: 2, currentTerm: 2, writes: 1 });
    } finally {
      storage.close();
    }
  });

  it('close is idempotent; load, write and stats after close throw storage_closed', () => {
    const storage = SqliteStorage.open(tempDir(), IDS);
    storage.close();
    storage.close();
    expect(storage.closed).toBe(true);
    expectStorageError(() => storage.write(batch({ hardState: hs(1) })), 'storage_closed', /open it again/);
    expectStorageError(() => storage.load(), 'storage_closed');
    expectStorageError(() => storage.stats(), 'storage_closed');
  });

  it('after a failed write the storage refuses further use until the node restarts, and the disk keeps the last good batch', () => {
    const dir = tempDir();
    const storage = SqliteStorage.open(dir, IDS);
    storage.write(batch({ hardState: hs(1, 'n1'), entries: entries(1, [1]) }));
    // Stand in for a disk error inside the transaction (a failed fsync, a full disk).
    const internals = storage as unknown as { commit: (plan: unknown) => void };
    internals.commit = () => {
      throw Object.assign(new Error('disk I/O error'), { code: 'SQLITE_IOERR_FSYNC' });
    };
    expectStorageError(() => storage.write(batch({ entries: entries(2, [1]) })), 'storage_io', /disk I\/O error/);
    expectStorageError(() => storage.write(batch({ entries: entries(2, [1]) })), 'storage_failed', /restart the node/);
    storage.close();
    const again = SqliteStorage.open(dir, IDS);
    expect(again.load()).toEqual({ hardState: hs(1, 'n1'), entries: entries(1, [1]) });
    again.close();
  });

  it('stats report entry count, last index and term, writes and file sizes for metrics', () => {
    const dir = tempDir();
    const storage = SqliteStorage.open(dir, IDS);
    try {
      expect(storage.stats()).toMatchObject({ entryCount: 0, lastIndex: 0, lastTerm: 0, currentTerm: 0, writes: 0 });
      storage.write(batch({ hardState: hs(2), entries: entries(1, [1, 1, 2, 2]) }));
      storage.write(batch({ truncateFrom: 4 }));
      const stats = storage.stats();
      expect(stats).toMatchObject({ entryCount: 3, lastIndex: 3, lastTerm: 2, currentTerm: 2, writes: 2 });
      expect(stats.databaseBytes + stats.walBytes).toBeGreaterThan(0);
    } finally {
      storage.close();
    }
    // Reopening recovers the figures from disk.
    const again = SqliteStorage.open(dir, IDS);
    expect(again.stats()).toMatchObject({ entryCount: 3, lastIndex: 3, lastTerm: 2, currentTerm: 2, writes: 0 });
    again.close();
  });
});

// ------------------------------------------------------------ SQLite only: kill -9 mid-write

const WRITER = join(REPO, 'test/unit/storage-crash/writer.ts');
const children = new Set<ChildProcess>();

function killAll(): void {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

interface Killed {
  /** The last batch the child said it completed (0: none). */
  reported: number;
  /** The batch the child found on disk when it opened the store (-1: it never got that far). */
  openedAt: number;
  stderr: string;
  signal: NodeJS.Signals | null;
}

/** Start the writer and SIGKILL it `delayMs` after `after` happens ('spawn' or its first completed batch). */
function runAndKill(dir: string, after: 'spawn' | 'firstBatch', delayMs: number): Promise<Killed> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', WRITER, dir, '60'], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let stdout = '';
    let stderr = '';
    let timer: NodeJS.Timeout | undefined;
    const armKill = () => {
      timer ??= setTimeout(() => child.kill('SIGKILL'), delayMs);
    };
    const guard = setTimeout(() => child.kill('SIGKILL'), 30_000); // never outlive a stuck test
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      if (after === 'firstBatch' && stdout.includes('done ')) armKill();
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (_code, signal) => {
      clearTimeout(timer);
      clearTimeout(guard);
      children.delete(child);
      const lines = stdout.split('\n');
      const done = lines.filter((l) => l.startsWith('done ')).map((l) => Number(l.slice(5)));
      const opened = lines.find((l) => l.startsWith('open '));
      resolvePromise({ reported: done.at(-1) ?? 0, openedAt: opened === undefined ? -1 : Number(opened.slice(5)), stderr, signal });
    });
    if (after === 'spawn') armKill();
  });
}

/** What a store that completed batches 1..k holds: the same batches replayed into a MemoryStorage. */
class Expected {
  private readonly memory = new MemoryStorage<CrashCommand>();
  private k = 0;
  private lastIndex = 0;

  upTo(k: number): PersistedState<CrashCommand> {
    while (this.k < k) {
      const next = crashBatch(++this.k, this.lastIndex);
      this.memory.write(next);
      this.lastIndex = lastIndexAfter(next, this.lastIndex);
    }
    if (this.k !== k) throw new Error(`the store went back from batch ${this.k} to ${k}`);
    return this.memory.load();
  }
}

/** The first place where two logs differ, or undefined (faster and clearer than toEqual on 50k entries). */
function firstDifference(actual: readonly LogEntry<CrashCommand>[], expected: readonly LogEntry<CrashCommand>[]): string | undefined {
  if (actual.length !== expected.length) return `log has ${actual.length} entries, expected ${expected.length}`;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i] as LogEntry<CrashCommand>;
    const e = expected[i] as LogEntry<CrashCommand>;
    if (a.index !== e.index || a.term !== e.term || a.command.batch !== e.command.batch || a.command.i !== e.command.i || a.command.pad !== e.command.pad) {
      return `entry ${i + 1} is ${JSON.stringify({ ...a, command: { ...a.command, pad: a.command.pad.length } })}, expected batch ${e.command.batch} #${e.command.i} term ${e.term}`;
    }
  }
  return undefined;
}

describe('SqliteStorage under kill -9', () => {
  afterEach(killAll);
  afterAll(killAll);

  it('a child killed at random moments leaves a prefix of its batches, each whole, holding every batch it reported done', async () => {
    const dir = tempDir();
    const expected = new Expected();
    let onDisk = 0;
    const log: string[] = [];
    // Run 0 may die before, during or after creating the database; the others die mid-stream.
    const plan: ['spawn' | 'firstBatch', number][] = [['spawn', Math.floor(Math.random() * 1500)]];
    for (let i = 0; i < 5; i++) plan.push(['firstBatch', Math.floor(Math.random() * 300)]);
    for (const [after, delay] of plan) {
      const killed = await runAndKill(dir, after, delay);
      log.push(`killed ${delay} ms after ${after}: reported ${killed.reported}, opened at ${killed.openedAt}`);
      const context = `${log.join('\n')}\nchild stderr: ${killed.stderr}`;
      expect(killed.signal, `the child must die by our SIGKILL, not by itself\n${context}`).toBe('SIGKILL');
      if (killed.openedAt >= 0) expect(killed.openedAt, `the child resumed where the store was\n${context}`).toBe(onDisk);

      const storage = SqliteStorage.open<CrashCommand>(dir, { nodeId: 'n1', clusterId: 'crash-test' });
      try {
        const state = storage.load();
        const k = state.hardState.currentTerm;
        // Durable: everything reported done is there; at most the batch in flight is extra.
        expect(k, `store names batch ${k}\n${context}`).toBeGreaterThanOrEqual(Math.max(killed.reported, onDisk));
        expect(k, `store names batch ${k}\n${context}`).toBeLessThanOrEqual(Math.max(killed.reported, onDisk) + 1);
        // Atomic: the store is exactly batches 1..k, hard state and log, nothing of batch k+1.
        const want = expected.upTo(k);
        expect(state.hardState, context).toEqual(want.hardState);
        expect(firstDifference(state.entries, want.entries), context).toBeUndefined();
        onDisk = k;
      } finally {
        storage.close();
      }
    }
    expect(onDisk, log.join('\n')).toBeGreaterThan(0);
  }, 120_000);
});
