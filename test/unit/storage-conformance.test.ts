/**
 * The Storage contract (src/storage/storage.ts), as one suite every implementation must pass:
 * MemoryStorage and SqliteStorage run the same tests, snapshots and compaction included. Then what
 * only a disk can get wrong: SqliteStorage refuses damaged, foreign or too-new data directories
 * (a damaged snapshot too), upgrades format-1 and format-2 directories in place, stores a snapshot
 * in chunks, stages one ahead of the batch that records it (invisible until flipped in, gone after
 * a crash), refuses to store a log it could not load again, and keeps each batch all-or-nothing —
 * a snapshot with its compaction — when its process is killed mid-write, mid-staging or mid-flip.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, closeSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { HardState, LogEntry } from '../../src/core/types.js';
import { MemoryStorage } from '../../src/storage/memory.js';
import { BackgroundSqliteStorage } from '../../src/storage/sqlite-background.js';
import { SNAPSHOT_CHUNK_CHARS, STAGED_CHUNK_CHARS, SQLITE_FILE_NAME, SQLITE_FORMAT_VERSION, SqliteStorage, StorageError, type StorageErrorCode } from '../../src/storage/sqlite.js';
import type { PersistBatch, PersistedState, SnapshotRecord, StagedSnapshotId, Storage } from '../../src/storage/storage.js';
import type { CrashCommand } from './storage-crash/batches.js';
import { CompactingLog, stagesSnapshot } from './storage-crash/compacting-batches.js';

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
const snap = (index: number, term: number, data = `state through ${index}`): SnapshotRecord => ({ index, term, data });
/** 20 MB of text whose every line names its place, with multi-byte characters (a reordered or lost chunk shows). */
function bigSnapshotData(chars = 20_000_000): string {
  const parts: string[] = [];
  let length = 0;
  for (let i = 0; length < chars; i++) {
    const line = `line ${i} ünïcødé ✓ 😀 ${'z'.repeat(i % 50)}\n`;
    parts.push(line);
    length += line.length;
  }
  return parts.join('');
}
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
  {
    // The writer thread: every write, load and close goes through it (write = submit + settle).
    name: 'BackgroundSqliteStorage',
    runs: 15,
    create() {
      const dir = tempDir();
      let storage = BackgroundSqliteStorage.open<unknown>(dir, IDS);
      return {
        get storage() {
          return storage;
        },
        restart() {
          storage.close();
          storage = BackgroundSqliteStorage.open<unknown>(dir, IDS);
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
    const rewritten = entries(
      5_001,
      Array.from({ length: 10_000 }, () => 5),
      'new',
    );
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
    expect(
      disk
        .restart()
        .load()
        .entries.map((e) => e.command),
    ).toEqual(commands);
  });

  // ---------------------------------------------------------- snapshots and compaction

  it('a snapshot drops the entries it covers and keeps the log after it', () => {
    const { storage } = open();
    storage.write(batch({ hardState: hs(3), entries: entries(1, [1, 1, 2, 2, 3, 3]) }));
    storage.write(batch({ snapshot: snap(4, 2) }));
    expect(storage.load()).toEqual({ hardState: hs(3), snapshot: snap(4, 2), entries: entries(5, [3, 3]) });
    // The log continues after what is kept.
    storage.write(batch({ entries: entries(7, [3]) }));
    expect(storage.load().entries).toEqual(entries(5, [3, 3, 3]));
  });

  it('a snapshot at or past the end of the log leaves an empty log after it, which then continues from the snapshot', () => {
    const { storage } = open();
    storage.write(batch({ hardState: hs(2), entries: entries(1, [1, 2, 2]) }));
    storage.write(batch({ snapshot: snap(3, 2) }));
    expect(storage.load()).toEqual({ hardState: hs(2), snapshot: snap(3, 2), entries: [] });
    // A snapshot from a leader, past everything this log holds (InstallSnapshot).
    storage.write(batch({ hardState: hs(5), snapshot: snap(10, 4) }));
    expect(storage.load()).toEqual({ hardState: hs(5), snapshot: snap(10, 4), entries: [] });
    storage.write(batch({ entries: entries(11, [5, 5]) }));
    expect(storage.load()).toEqual({ hardState: hs(5), snapshot: snap(10, 4), entries: entries(11, [5, 5]) });
  });

  it("after a snapshot with an empty log after it, the log's last term is the snapshot's, also after a restart", () => {
    const disk = open();
    disk.storage.write(batch({ hardState: hs(6), snapshot: snap(8, 5) }));
    for (const reopen of [false, true]) {
      const storage = reopen ? disk.restart() : disk.storage;
      // Terms never decrease along a log, and the snapshot is where the log now ends.
      expect(() => storage.write(batch({ entries: entries(9, [4]) }))).toThrow(/term 4 after term 5/);
      expect(() => storage.write(batch({ entries: entries(10, [6]) }))).toThrow(/would end at 8/);
      expect(() => storage.write(batch({ hardState: hs(4) }))).toThrow(/above currentTerm 4/);
    }
    disk.storage.write(batch({ entries: entries(9, [5, 6]) }));
    expect(disk.restart().load()).toEqual({ hardState: hs(6), snapshot: snap(8, 5), entries: entries(9, [5, 6]) });
  });

  it('a snapshot that is not newer than the stored one is refused and changes nothing, hard state included', () => {
    const { storage } = open();
    storage.write(batch({ hardState: hs(3, 'n1'), entries: entries(1, [1, 2, 2, 3, 3, 3]) }));
    storage.write(batch({ snapshot: snap(4, 3, 'newest') }));
    const before = storage.load();
    for (const stale of [snap(4, 3, 'same index'), snap(2, 2, 'older'), snap(0, 1, 'index 0')]) {
      expect(() => storage.write(batch({ hardState: hs(9, 'n3'), snapshot: stale, entries: entries(7, [3]) })), stale.data).toThrow();
      expect(storage.load()).toEqual(before);
    }
    expect(() => storage.write(batch({ hardState: hs(9, 'n3'), snapshot: snap(5, 0) }))).toThrow(/term ≥ 1/);
    expect(() => storage.write(batch({ snapshot: snap(9, 4) }))).toThrow(/above currentTerm 3/);
    expect(storage.load()).toEqual(before);
  });

  it('a batch naming a staged snapshot the storage does not hold is refused and changes nothing, hard state included', () => {
    const { storage } = open();
    storage.write(batch({ hardState: hs(3), entries: entries(1, [1, 2, 2, 3]) }));
    storage.write(batch({ snapshot: snap(2, 2) }));
    const before = storage.load();
    // MemoryStorage stages nothing; SqliteStorage never staged these ids.
    for (const staged of [1, 2, 999] as StagedSnapshotId[]) {
      expect(() => storage.write(batch({ hardState: hs(4, 'n2'), snapshot: { ...snap(3, 2), staged }, entries: entries(5, [4]) }))).toThrow(/staged snapshot/);
      expect(storage.load()).toEqual(before);
    }
  });

  it('truncateFrom or entries at or before the snapshot are refused and change nothing', () => {
    const { storage } = open();
    storage.write(batch({ hardState: hs(2), entries: entries(1, [1, 1, 2, 2, 2]) }));
    storage.write(batch({ snapshot: snap(3, 2) }));
    const before = storage.load();
    const refused = [
      batch({ hardState: hs(7), truncateFrom: 3 }),
      batch({ hardState: hs(7), truncateFrom: 1, entries: entries(1, [7]) }),
      batch({ hardState: hs(7), entries: entries(3, [7, 7]) }),
      batch({ hardState: hs(7), entries: entries(2, [7]) }),
      // In one batch with a snapshot, "before" means before the new snapshot.
      batch({ hardState: hs(7), snapshot: snap(4, 2), truncateFrom: 4 }),
      batch({ hardState: hs(7), snapshot: snap(4, 2), entries: entries(4, [7]) }),
    ];
    for (const next of refused) {
      expect(() => storage.write(next)).toThrow(/after the snapshot/);
      expect(storage.load()).toEqual(before);
    }
  });

  it('a snapshot, a truncation and an append in one batch apply in that order', () => {
    const disk = open();
    disk.storage.write(batch({ hardState: hs(2), entries: entries(1, [1, 1, 1, 2, 2, 2, 2, 2]) }));
    disk.storage.write(batch({ hardState: hs(4, 'n2'), snapshot: snap(3, 1), truncateFrom: 6, entries: entries(6, [4, 4], 'new') }));
    const want = { hardState: hs(4, 'n2'), snapshot: snap(3, 1), entries: [...entries(4, [2, 2]), ...entries(6, [4, 4], 'new')] };
    expect(disk.storage.load()).toEqual(want);
    expect(disk.restart().load()).toEqual(want);
    // A snapshot whose kept suffix starts below its term must discard the log (the batch says so).
    // (InstallSnapshot over a conflicting log: entry 5 has term 2, below the snapshot's term 3.)
    expect(() => disk.storage.write(batch({ snapshot: snap(4, 3) }))).toThrow(/discard the log/);
    expect(disk.storage.load()).toEqual(want);
    disk.storage.write(batch({ snapshot: snap(4, 3), truncateFrom: 5, entries: entries(5, [4]) }));
    expect(disk.restart().load()).toEqual({ hardState: hs(4, 'n2'), snapshot: snap(4, 3), entries: entries(5, [4]) });
  });

  it('after a restart the store returns the latest snapshot and the same log after it', () => {
    const disk = open();
    disk.storage.write(batch({ hardState: hs(2, 'n1'), entries: entries(1, [1, 1, 2, 2, 2]) }));
    disk.storage.write(batch({ snapshot: snap(2, 1, 'first') }));
    disk.storage.write(batch({ snapshot: snap(4, 2, 'second'), entries: entries(6, [2]) }));
    const written = disk.storage.load();
    expect(written).toEqual({ hardState: hs(2, 'n1'), snapshot: snap(4, 2, 'second'), entries: entries(5, [2, 2]) });
    expect(disk.restart().load()).toEqual(written);
    // An empty snapshot is a snapshot too.
    disk.storage.write(batch({ snapshot: snap(6, 2, '') }));
    expect(disk.restart().load()).toEqual({ hardState: hs(2, 'n1'), snapshot: snap(6, 2, ''), entries: [] });
  });

  it('snapshot data with multi-byte characters on every side of a 1 MiB boundary round-trips unchanged', () => {
    const disk = open();
    // A surrogate pair (😀) straddles the first chunk boundary; another pair starts where the next chunk ends.
    const data = ['a'.repeat(SNAPSHOT_CHUNK_CHARS - 1), '😀', 'é✓', 'b'.repeat(SNAPSHOT_CHUNK_CHARS - 4), '😀😀', 'end'].join('');
    disk.storage.write(batch({ hardState: hs(1), snapshot: snap(1, 1, data) }));
    const loaded = disk.restart().load().snapshot;
    expect(loaded?.data.length).toBe(data.length);
    expect(loaded?.data === data).toBe(true);
  });

  it('a 20 MB snapshot round-trips unchanged, also after a restart, and a newer one replaces it', () => {
    const disk = open();
    const data = bigSnapshotData();
    disk.storage.write(batch({ hardState: hs(3), entries: entries(1, [1, 2, 3]) }));
    disk.storage.write(batch({ snapshot: snap(2, 2, data) }));
    const loaded = disk.restart().load();
    expect({ ...loaded, snapshot: undefined }).toEqual({ hardState: hs(3), snapshot: undefined, entries: entries(3, [3]) });
    expect([loaded.snapshot?.index, loaded.snapshot?.term, loaded.snapshot?.data.length]).toEqual([2, 2, data.length]);
    expect(loaded.snapshot?.data === data).toBe(true);
    disk.storage.write(batch({ snapshot: snap(3, 3, 'small') }));
    expect(disk.restart().load()).toEqual({ hardState: hs(3), snapshot: snap(3, 3, 'small'), entries: [] });
  }, 60_000);

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

type StepKind =
  | 'append'
  | 'overwrite'
  | 'truncateAppend'
  | 'truncate'
  | 'hardStateOnly'
  | 'snapshot'
  | 'snapshotPastEnd'
  | 'gap'
  | 'startsPastTruncation'
  | 'staleSnapshot'
  | 'truncateIntoSnapshot'
  | 'appendIntoSnapshot';
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
  kind: fc.constantFrom<StepKind>(
    'append',
    'append',
    'overwrite',
    'truncateAppend',
    'truncate',
    'hardStateOnly',
    'snapshot',
    'snapshotPastEnd',
    'gap',
    'startsPastTruncation',
    'staleSnapshot',
    'truncateIntoSnapshot',
    'appendIntoSnapshot',
  ),
  back: fc.nat({ max: 6 }),
  count: fc.nat({ max: 8 }),
  termStep: fc.nat({ max: 2 }),
  withHardState: fc.boolean(),
  votedFor: fc.option(fc.constantFrom('n1', 'n2', 'n3'), { nil: null }),
  command: jsonCommand,
});

/** The log as a snapshot and a plain array after it, written from PersistBatch's documentation, not from any store. */
class LogModel {
  private hardState: HardState = hs(0);
  private snapshot: SnapshotRecord | undefined;
  /** The log after the snapshot. */
  private log: LogEntry<unknown>[] = [];
  private counter = 0;

  state(): PersistedState<unknown> {
    return { hardState: this.hardState, ...(this.snapshot ? { snapshot: this.snapshot } : {}), entries: [...this.log] };
  }

  /** A batch for this step; `valid` says whether a store must take it or refuse it. */
  batchFor(step: Step): { batch: PersistBatch<unknown>; valid: boolean } {
    const base = this.snapshot?.index ?? 0;
    const last = base + this.log.length;
    // Entries are written in the current term, which must be ≥ 1 and never below the log's terms.
    const needTerm = this.hardState.currentTerm === 0;
    const hardState =
      step.withHardState || needTerm || step.kind === 'hardStateOnly' || step.kind === 'snapshotPastEnd'
        ? hs(this.hardState.currentTerm + Math.max(step.termStep, needTerm ? 1 : 0), step.votedFor)
        : undefined;
    const term = (hardState ?? this.hardState).currentTerm;
    const make = (first: number, count: number) => Array.from({ length: count }, (_, i) => ({ index: first + i, term, command: { n: this.counter++, value: step.command } }));
    const data = () => JSON.stringify({ n: this.counter++, value: step.command });
    // An index at or before the snapshot (0 without one): never a place to write.
    const covered = base - Math.min(step.back, base);
    switch (step.kind) {
      case 'append':
        return { batch: batch({ hardState, entries: make(last + 1, step.count) }), valid: true };
      case 'overwrite':
        return { batch: batch({ hardState, entries: make(Math.max(base + 1, last + 1 - step.back), Math.max(1, step.count)) }), valid: true };
      case 'truncateAppend': {
        const truncateFrom = Math.max(base + 1, last + 1 - step.back);
        return { batch: batch({ hardState, truncateFrom, entries: make(truncateFrom, step.count) }), valid: true };
      }
      case 'truncate':
        return { batch: batch({ hardState, truncateFrom: Math.max(base + 1, last + 1 - step.back) }), valid: true };
      case 'hardStateOnly':
        return { batch: batch({ hardState }), valid: true };
      case 'snapshot': {
        // Compact a prefix of the log after the snapshot (of what the state machine applied), and append.
        if (this.log.length === 0) return { batch: batch({ hardState, entries: make(last + 1, step.count) }), valid: true };
        const index = Math.max(base + 1, last - step.back);
        const snapshot = { index, term: (this.log[index - base - 1] as LogEntry<unknown>).term, data: data() };
        return { batch: batch({ hardState, snapshot, entries: make(last + 1, step.count) }), valid: true };
      }
      case 'snapshotPastEnd': {
        // A leader's snapshot (InstallSnapshot) past this log, then entries after it.
        const index = last + 1 + step.back;
        return { batch: batch({ hardState, snapshot: { index, term, data: data() }, entries: make(index + 1, step.count) }), valid: true };
      }
      case 'gap':
        return { batch: batch({ hardState, entries: make(last + 2 + step.back, Math.max(1, step.count)) }), valid: false };
      case 'startsPastTruncation': {
        const truncateFrom = Math.max(base + 1, last + 1 - step.back);
        return { batch: batch({ hardState, truncateFrom, entries: make(truncateFrom + 1, Math.max(1, step.count)) }), valid: false };
      }
      case 'staleSnapshot':
        return { batch: batch({ hardState, snapshot: { index: covered, term: Math.max(1, this.snapshot?.term ?? 1), data: data() } }), valid: false };
      case 'truncateIntoSnapshot':
        return { batch: batch({ hardState, truncateFrom: covered, entries: make(covered, step.count) }), valid: false };
      case 'appendIntoSnapshot':
        return { batch: batch({ hardState, entries: make(covered, Math.max(1, step.count)) }), valid: false };
    }
  }

  apply(next: PersistBatch<unknown>): void {
    if (next.hardState !== undefined) this.hardState = next.hardState;
    if (next.snapshot !== undefined) {
      const snapshot = next.snapshot;
      this.snapshot = snapshot;
      this.log = this.log.filter((e) => e.index > snapshot.index);
    }
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

describe('BackgroundSqliteStorage, several batches submitted before any is answered', () => {
  it('the writes queued meanwhile are committed together, each done called in order once on disk', () => {
    const storage = BackgroundSqliteStorage.open<unknown>(tempDir(), IDS);
    const done: number[] = [];
    storage.submit(batch({ hardState: hs(1), entries: entries(1, [1]) }), (error) => (error === undefined ? done.push(1) : undefined));
    storage.submit(batch({ entries: entries(2, [1, 1]) }), (error) => (error === undefined ? done.push(2) : undefined));
    storage.submit(batch({ hardState: hs(2, 'n2'), entries: entries(4, [2]) }), (error) => (error === undefined ? done.push(3) : undefined));
    storage.settle();
    expect(done).toEqual([1, 2, 3]);
    expect(storage.load()).toEqual({ hardState: hs(2, 'n2'), entries: [...entries(1, [1, 1, 1]), ...entries(4, [2])] });
    storage.close();
  });

  it('a refused batch and every batch submitted before its refusal was heard are refused unwritten (they were built on it); a batch after that is written', () => {
    const storage = BackgroundSqliteStorage.open<unknown>(tempDir(), IDS);
    storage.write(batch({ hardState: hs(1), entries: entries(1, [1, 1]) }));
    const errors: string[] = [];
    const record = (error: unknown) => errors.push(error === undefined ? 'written' : (error as Error).message);
    // Starts at 5 on a log that ends at 2: refused. The next continues it, and alone would fit (3 after 2).
    storage.submit(batch({ entries: entries(5, [1]) }), record);
    storage.submit(batch({ entries: entries(3, [1]) }), record);
    storage.settle();
    expect(errors).toHaveLength(2);
    expect(errors[0]).toMatch(/batch starts at index 5 but the log would end at 2/);
    expect(errors[1]).toMatch(/submitted after a batch that was refused/);
    expect(storage.load().entries).toEqual(entries(1, [1, 1]));
    storage.write(batch({ entries: entries(3, [1]) }));
    expect(storage.load().entries).toEqual(entries(1, [1, 1, 1]));
    storage.close();
  });
});

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
    const dir = closedStore(
      entries(
        1,
        Array.from({ length: 3_000 }, () => 1),
      ),
      hs(1),
    );
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
    ['the snapshot table is missing', 'DROP TABLE raft_snapshot', 'table raft_snapshot is missing'],
    ['the snapshot chunk table is missing', 'DROP TABLE raft_snapshot_chunks', 'table raft_snapshot_chunks is missing'],
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

/** Rows of the chunk table of a closed store, read behind the library's back: (chunk set, seq, characters). */
function chunkRows(dir: string): [number, number, number][] {
  const db = new Database(join(dir, SQLITE_FILE_NAME), { readonly: true });
  try {
    return db.prepare('SELECT chunk_set, seq, length(data) FROM raft_snapshot_chunks ORDER BY chunk_set, seq').raw().all() as [number, number, number][];
  } finally {
    db.close();
  }
}

/** A closed store's snapshot chunk set (0: none), the chunk sets its chunks belong to, and what raft_snapshot_staging lists. */
function onDisk(dir: string): { snapshotSet: number; chunkSets: number[]; listed: [number, string][] } {
  const db = new Database(join(dir, SQLITE_FILE_NAME), { readonly: true });
  try {
    const snapshotSet = (db.prepare('SELECT chunk_set FROM raft_snapshot').pluck().get() as number | undefined) ?? 0;
    const chunkSets = db.prepare('SELECT DISTINCT chunk_set FROM raft_snapshot_chunks ORDER BY chunk_set').pluck().all() as number[];
    const listed = db.prepare('SELECT chunk_set, purpose FROM raft_snapshot_staging ORDER BY chunk_set').raw().all() as [number, string][];
    return { snapshotSet, chunkSets, listed };
  } finally {
    db.close();
  }
}

/** What a store holds when no snapshot is staged or being tidied: its snapshot's chunks only, nothing listed. */
function expectOnlyTheSnapshot(dir: string, context = ''): void {
  const { snapshotSet, chunkSets, listed } = onDisk(dir);
  expect({ chunkSets, listed }, context).toEqual({ chunkSets: snapshotSet === 0 ? [] : chunkSets.filter((set) => set === snapshotSet), listed: [] });
}

const V3_TABLES = ['raft_entries', 'raft_hard_state', 'raft_meta', 'raft_snapshot', 'raft_snapshot_chunks', 'raft_snapshot_staging'];

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
    ['a snapshot of term 0', batch({ snapshot: snap(2, 0) })],
    ['a snapshot whose term is above currentTerm', batch({ snapshot: snap(5, 3) })],
    ['a snapshot whose data is not a string', batch({ snapshot: { index: 2, term: 2, data: 7 as unknown as string } })],
    // SQLite keeps text as UTF-8, which has no lone surrogates: stored, it would come back changed.
    ['snapshot data holding a lone surrogate', batch({ snapshot: snap(2, 2, 'abc\uD800def') })],
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

describe('SqliteStorage keeps a snapshot in chunks, and loads it only whole', () => {
  it('a 20 MB snapshot is stored as at least 20 chunks of at most 1 MiB each; a newer snapshot leaves only its own chunks', () => {
    expect(SNAPSHOT_CHUNK_CHARS).toBe(1 << 20);
    const dir = tempDir();
    const data = bigSnapshotData();
    const storage = SqliteStorage.open(dir, IDS);
    storage.write(batch({ hardState: hs(2), entries: entries(1, [1, 2, 2]) }));
    storage.write(batch({ snapshot: snap(2, 2, data) }));
    storage.close();
    const rows = chunkRows(dir);
    expect(rows.length).toBeGreaterThanOrEqual(20);
    const set = onDisk(dir).snapshotSet;
    expect(rows.map(([chunkSet, seq]) => [chunkSet, seq])).toEqual(rows.map((_, seq) => [set, seq]));
    // length() counts code points; a chunk holds at most 1 MiB of UTF-16 code units, so at most that many.
    for (const [, , length] of rows) expect(length).toBeLessThanOrEqual(SNAPSHOT_CHUNK_CHARS);
    const again = SqliteStorage.open(dir, IDS);
    expect(again.load().snapshot?.data === data).toBe(true);
    again.write(batch({ snapshot: snap(3, 2, 'next') }));
    again.close();
    expect(chunkRows(dir)).toEqual([[onDisk(dir).snapshotSet, 0, 4]]);
  }, 60_000);

  it("stats count the log after the snapshot; lastIndex and lastTerm are the snapshot's when that log is empty, also after reopening", () => {
    const dir = tempDir();
    const storage = SqliteStorage.open(dir, IDS);
    storage.write(batch({ hardState: hs(3), entries: entries(1, [1, 2, 2, 3]) }));
    storage.write(batch({ snapshot: snap(2, 2, 'four') }));
    expect(storage.stats()).toMatchObject({ entryCount: 2, lastIndex: 4, lastTerm: 3, snapshotIndex: 2, snapshotTerm: 2, snapshotLength: 4 });
    storage.write(batch({ hardState: hs(5), snapshot: snap(9, 5, 'nine') }));
    const figures = { entryCount: 0, lastIndex: 9, lastTerm: 5, currentTerm: 5, snapshotIndex: 9, snapshotTerm: 5, snapshotLength: 4 };
    expect(storage.stats()).toMatchObject(figures);
    storage.close();
    const again = SqliteStorage.open(dir, IDS);
    expect(again.stats()).toMatchObject({ ...figures, writes: 0 });
    again.close();
  });

  /** A closed store: snapshot at 4 (term 2) in three chunks, the log 5..6 after it, currentTerm 3. */
  function snapshotStore(): string {
    const dir = tempDir();
    const storage = SqliteStorage.open(dir, IDS);
    storage.write(batch({ hardState: hs(3), entries: entries(1, [1, 1, 2, 2, 2, 3]) }));
    storage.write(batch({ snapshot: snap(4, 2, 's'.repeat(2 * SNAPSHOT_CHUNK_CHARS + 10)) }));
    storage.close();
    return dir;
  }

  it.each([
    ['a snapshot row without its chunks', 'DELETE FROM raft_snapshot_chunks', /the snapshot at index 4 has 0 of its 3 chunks/],
    ['a gap in the chunks', 'DELETE FROM raft_snapshot_chunks WHERE seq = 1', /lacks chunk 1 \(the next one stored is 2\)/],
    ['its first chunk missing', 'DELETE FROM raft_snapshot_chunks WHERE seq = 0', /lacks chunk 0/],
    ['its last chunk missing', 'DELETE FROM raft_snapshot_chunks WHERE seq = 2', /has 2 of its 3 chunks/],
    [
      'a chunk cut short',
      'UPDATE raft_snapshot_chunks SET data = substr(data, 1, 5) WHERE seq = 1',
      `holds ${SNAPSHOT_CHUNK_CHARS + 15} characters of data, not ${2 * SNAPSHOT_CHUNK_CHARS + 10}`,
    ],
    [
      'a chunk of another snapshot',
      'UPDATE raft_snapshot_chunks SET chunk_set = 99 WHERE seq = 0',
      /belongs to chunk set 99, neither the stored snapshot's \(1\) nor a staged or retired one/,
    ],
    ['chunks without their snapshot', 'DELETE FROM raft_snapshot', /holds snapshot chunks \(of chunk set 1\) but no snapshot/],
    ['a snapshot row naming a chunk set that is not there', 'UPDATE raft_snapshot SET chunk_set = 7', /belongs to chunk set 1, neither the stored snapshot's \(7\)/],
    ['a snapshot term above currentTerm', 'UPDATE raft_hard_state SET current_term = 1', /the snapshot at index 4 has term 2, above currentTerm 1/],
    ['a gap between the snapshot and the log', 'DELETE FROM raft_entries WHERE idx = 5', /has index 6; the log after the snapshot at 4 is contiguous from index 5/],
    [
      'an entry the snapshot covers',
      "INSERT INTO raft_entries (idx, term, command) VALUES (4, 2, '{}')",
      /has index 4; the log after the snapshot at 4 is contiguous from index 5/,
    ],
    ['a log after the snapshot that lost its snapshot', 'DELETE FROM raft_snapshot; DELETE FROM raft_snapshot_chunks', /has index 5; a log is contiguous from index 1/],
    ["a first entry below the snapshot's term", 'UPDATE raft_entries SET term = 1 WHERE idx = 5', /has term 1 after the snapshot's term 2; terms never decrease/],
  ] as [string, string, string | RegExp][])('load refuses a stored snapshot with %s, and repairs nothing', (_, sql, phrase) => {
    const dir = snapshotStore();
    tamper(dir, sql);
    const before = readFileSync(join(dir, SQLITE_FILE_NAME));
    const storage = SqliteStorage.open(dir, IDS);
    try {
      expectStorageError(() => storage.load(), 'storage_log_invalid', phrase, /will not reset/);
    } finally {
      storage.close();
    }
    expect(readFileSync(join(dir, SQLITE_FILE_NAME)).equals(before)).toBe(true);
  });
});

describe('SqliteStorage stages a snapshot ahead of the batch that records it', () => {
  /** An open store: currentTerm 3, a snapshot at 2 (term 1, 'old'), the log 3..6 after it. */
  function storeWithSnapshot(): { dir: string; storage: SqliteStorage<unknown>; before: PersistedState<unknown> } {
    const dir = tempDir();
    const storage = SqliteStorage.open<unknown>(dir, IDS);
    storage.write(batch({ hardState: hs(3, 'n1'), entries: entries(1, [1, 1, 2, 2, 3, 3]) }));
    storage.write(batch({ snapshot: snap(2, 1, 'old') }));
    return { dir, storage, before: storage.load() };
  }
  /** Multi-byte text of several staged chunks (a reordered or lost chunk shows). */
  const big = () => bigSnapshotData(3 * STAGED_CHUNK_CHARS + 1234);
  const stageWhole = (storage: SqliteStorage<unknown>, index: number, term: number, data: string) => {
    const staging = storage.stageSnapshot(index, term, data);
    let pieces = 1;
    while (!staging.writeNext()) pieces++;
    return { staging, pieces };
  };

  it('what is staged stays invisible while batches go on; the batch naming it flips it in with the compaction, also after a restart', () => {
    const { dir, storage } = storeWithSnapshot();
    const data = big();
    const staging = storage.stageSnapshot(4, 2, data);
    // The node keeps writing between pieces: each load is the old snapshot with the whole log.
    let k = 7;
    let pieces = 0;
    for (let done = false; !done; k++) {
      done = staging.writeNext();
      pieces++;
      storage.write(batch({ entries: entries(k, [3]) }));
      expect(storage.load()).toEqual({ hardState: hs(3, 'n1'), snapshot: snap(2, 1, 'old'), entries: entries(3, [2, 2, 3, 3, ...Array.from({ length: k - 6 }, () => 3)]) });
    }
    expect(pieces).toBe(Math.ceil(data.length / STAGED_CHUNK_CHARS));
    expect(staging.bytes).toBe(Buffer.byteLength(data, 'utf8'));
    storage.write(batch({ hardState: hs(4, 'n2'), snapshot: { ...snap(4, 2, data), staged: staging.id }, entries: entries(k, [4]) }));
    const want = {
      hardState: hs(4, 'n2'),
      entries: [
        ...entries(5, [3, 3]),
        ...entries(
          7,
          Array.from({ length: k - 7 }, () => 3),
        ),
        ...entries(k, [4]),
      ],
    };
    const check = (state: PersistedState<unknown>) => {
      expect({ ...state, snapshot: describeSnapshot(state.snapshot) }).toEqual({ ...want, snapshot: describeSnapshot(snap(4, 2, data)) });
      expect(state.snapshot?.data === data, 'the staged data, every chunk in order').toBe(true);
    };
    check(storage.load());
    expect(storage.stats()).toMatchObject({ snapshotIndex: 4, snapshotTerm: 2, snapshotLength: data.length, lastIndex: k });
    // The replaced snapshot is deleted a chunk per tidyNext, and only then.
    expect(staging.tidyNext()).toBe(true);
    storage.close();
    expectOnlyTheSnapshot(dir);
    const again = SqliteStorage.open<unknown>(dir, IDS);
    check(again.load());
    again.close();
  });

  it('staged, then the process is gone before the flip: the store holds the old snapshot with its whole log, and open deletes what was staged', () => {
    for (const written of ['part', 'all'] as const) {
      const { dir, storage, before } = storeWithSnapshot();
      const staging = storage.stageSnapshot(4, 2, big());
      staging.writeNext();
      if (written === 'all') while (!staging.writeNext());
      storage.close(); // as a crash would leave it: listed as staged on disk
      expect(onDisk(dir).listed, written).toEqual([[staging.id, 'staged']]);
      expect(onDisk(dir).chunkSets.length, written).toBe(2);
      const again = SqliteStorage.open<unknown>(dir, IDS);
      expect(again.load(), written).toEqual(before);
      // A staging from before the restart is unknown to the reopened store.
      expect(() => again.write(batch({ snapshot: { ...snap(4, 2, 'x'), staged: staging.id } }))).toThrow(/never staged here/);
      again.close();
      expectOnlyTheSnapshot(dir, written);
    }
  });

  it('killed while tidying: the store holds the new snapshot with the rest of the log, and open deletes what is left of the old one', () => {
    const dir = tempDir();
    const storage = SqliteStorage.open<unknown>(dir, IDS);
    storage.write(batch({ hardState: hs(3), entries: entries(1, [1, 1, 2, 2, 3]) }));
    const old = big();
    const first = stageWhole(storage, 2, 1, old).staging;
    storage.write(batch({ snapshot: { ...snap(2, 1, old), staged: first.id } }));
    expect(first.tidyNext()).toBe(true); // it replaced nothing
    const data = 'the new one';
    const second = stageWhole(storage, 4, 2, data).staging;
    storage.write(batch({ snapshot: { ...snap(4, 2, data), staged: second.id } }));
    expect(second.tidyNext()).toBe(false); // one of the old one's four chunks deleted
    storage.close();
    expect(onDisk(dir).listed).toEqual([[first.id, 'retired']]);
    const again = SqliteStorage.open<unknown>(dir, IDS);
    expect(again.load()).toEqual({ hardState: hs(3), snapshot: snap(4, 2, data), entries: entries(5, [3]) });
    again.close();
    expectOnlyTheSnapshot(dir);
  });

  it('a flip of a staged snapshot the store does not hold staged and whole is refused and changes nothing', () => {
    const store = storeWithSnapshot();
    const { storage } = store;
    let { before } = store;
    const flip =
      (id: StagedSnapshotId, record = snap(4, 2, 'x')) =>
      () =>
        storage.write(batch({ hardState: hs(9), snapshot: { ...record, staged: id }, entries: entries(record.index + 1, [9]) }));
    const refused = (attempt: () => void, phrase: RegExp) => {
      expectStorageError(attempt, 'storage_batch_invalid', /nothing was written/, phrase);
      expect(storage.load()).toEqual(before);
    };
    refused(flip(12345 as StagedSnapshotId), /names staged snapshot 12345, which this storage does not hold \(never staged here/);
    const partial = storage.stageSnapshot(4, 2, big());
    partial.writeNext();
    refused(flip(partial.id, snap(4, 2, big())), /does not hold whole yet/);
    partial.discard();
    refused(flip(partial.id, snap(4, 2, big())), /never staged here, discarded/);
    const { staging } = stageWhole(storage, 4, 2, 'four');
    // Index, term and length must be the staged ones.
    refused(flip(staging.id, snap(5, 2, 'four')), /which is at index 4 \(term 2, 4 characters\)/);
    refused(flip(staging.id, snap(4, 1, 'four')), /which is at index 4 \(term 2, 4 characters\)/);
    refused(flip(staging.id, snap(4, 2, 'fourth')), /which is at index 4 \(term 2, 4 characters\)/);
    // Once recorded, it cannot be recorded again.
    storage.write(batch({ snapshot: { ...snap(4, 2, 'four'), staged: staging.id } }));
    before = storage.load();
    refused(flip(staging.id, snap(5, 2, 'four')), /recorded already/);
    storage.close();
  });

  it('a snapshot installed whole while another is staged replaces the stored one and leaves the staged one alone; the staged one, older now, is refused, and discard deletes it', () => {
    const { dir, storage } = storeWithSnapshot();
    const { staging } = stageWhole(storage, 4, 2, big());
    storage.write(batch({ hardState: hs(5), snapshot: snap(8, 5, 'from the leader') }));
    expect(storage.load()).toEqual({ hardState: hs(5), snapshot: snap(8, 5, 'from the leader'), entries: [] });
    expectStorageError(() => storage.write(batch({ snapshot: { ...snap(4, 2, big()), staged: staging.id } })), 'storage_batch_invalid', /not newer than the stored one at 8/);
    staging.discard();
    staging.discard(); // idempotent
    expect(() => staging.writeNext()).toThrow(/discarded/);
    storage.close();
    expectOnlyTheSnapshot(dir);
    expect(chunkRows(dir)).toEqual([[onDisk(dir).snapshotSet, 0, 'from the leader'.length]]);
  });

  it('stageSnapshot refuses what no batch could record, staging nothing; a lone surrogate found mid-way drops what was staged', () => {
    const { dir, storage, before } = storeWithSnapshot();
    for (const [index, term, data, phrase] of [
      [2, 1, 'x', /not newer than the stored one at 2/],
      [0, 1, 'x', /index 0 is not an index ≥ 1/],
      [4, 0, 'x', /term 0 is not a term ≥ 1/],
      [4, 2, 7, /must be a string/],
    ] as [number, number, string, RegExp][]) {
      expectStorageError(() => storage.stageSnapshot(index, term, data), 'storage_batch_invalid', /nothing was written/, phrase);
    }
    const data = `${'a'.repeat(STAGED_CHUNK_CHARS + 5)}\uD800 and more`;
    const staging = storage.stageSnapshot(4, 2, data);
    expect(staging.writeNext()).toBe(false);
    expectStorageError(() => staging.writeNext(), 'storage_batch_invalid', /not well-formed UTF-16/);
    expect(() => storage.write(batch({ snapshot: { ...snap(4, 2, data), staged: staging.id } }))).toThrow(/never staged here, discarded/);
    expect(storage.load()).toEqual(before);
    storage.close();
    expectOnlyTheSnapshot(dir);
  });

  it('an empty snapshot stages in one step of no chunks; stageSnapshot and writeNext after close throw storage_closed', () => {
    const { dir, storage } = storeWithSnapshot();
    const empty = storage.stageSnapshot(3, 2, '');
    expect(empty.writeNext()).toBe(true);
    expect(empty.bytes).toBe(0);
    storage.write(batch({ snapshot: { ...snap(3, 2, ''), staged: empty.id } }));
    expect(storage.load().snapshot).toEqual(snap(3, 2, ''));
    const next = storage.stageSnapshot(4, 2, big());
    storage.close();
    expectStorageError(() => next.writeNext(), 'storage_closed');
    expectStorageError(() => storage.stageSnapshot(5, 3, 'x'), 'storage_closed');
    next.discard(); // never throws
    const again = SqliteStorage.open<unknown>(dir, IDS);
    expect(again.load().snapshot).toEqual(snap(3, 2, ''));
    again.close();
  });
});

describe('SqliteStorage upgrades a format-1 data directory in place', () => {
  /** The version-1 schema, as the first SqliteStorage wrote it (no snapshot tables). */
  const V1_SCHEMA = `
    CREATE TABLE raft_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
    CREATE TABLE raft_hard_state (
      id INTEGER PRIMARY KEY CHECK (id = 1),
      current_term INTEGER NOT NULL CHECK (current_term >= 0),
      voted_for TEXT
    ) STRICT;
    CREATE TABLE raft_entries (
      idx INTEGER PRIMARY KEY CHECK (idx >= 1),
      term INTEGER NOT NULL CHECK (term >= 1),
      command TEXT NOT NULL
    ) STRICT;
  `;

  /** A closed format-1 directory of node n1 in cluster c1: currentTerm 3, voted n2, the log given. */
  function formatOneDir(log: LogEntry<unknown>[]): string {
    const dir = tempDir();
    const db = new Database(join(dir, SQLITE_FILE_NAME));
    try {
      db.pragma('journal_mode = WAL');
      db.transaction(() => {
        db.exec(V1_SCHEMA);
        db.prepare("INSERT INTO raft_hard_state (id, current_term, voted_for) VALUES (1, 3, 'n2')").run();
        const meta = db.prepare('INSERT INTO raft_meta (key, value) VALUES (?, ?)');
        meta.run('format_version', '1');
        meta.run('cluster_id', IDS.clusterId);
        meta.run('node_id', IDS.nodeId);
        const insert = db.prepare('INSERT INTO raft_entries (idx, term, command) VALUES (?, ?, ?)');
        for (const entry of log) insert.run(entry.index, entry.term, JSON.stringify(entry.command));
      })();
    } finally {
      db.close();
    }
    return dir;
  }

  function inspect(dir: string): { version: string | undefined; tables: string[] } {
    const db = new Database(join(dir, SQLITE_FILE_NAME), { readonly: true });
    try {
      const version = db.prepare("SELECT value FROM raft_meta WHERE key = 'format_version'").pluck().get() as string | undefined;
      const tables = db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name").pluck().all() as string[];
      return { version, tables };
    } finally {
      db.close();
    }
  }

  it('opening a format-1 directory keeps its hard state and log, sets format_version 3 with the snapshot tables, and it then stores snapshots', () => {
    expect(SQLITE_FORMAT_VERSION).toBe(3);
    const log = entries(1, [1, 2, 2, 3, 3]);
    const dir = formatOneDir(log);
    expect(inspect(dir)).toEqual({ version: '1', tables: ['raft_entries', 'raft_hard_state', 'raft_meta'] });
    const storage = SqliteStorage.open(dir, IDS);
    expect(storage.load()).toEqual({ hardState: hs(3, 'n2'), entries: log });
    expect(storage.stats()).toMatchObject({ entryCount: 5, lastIndex: 5, lastTerm: 3, snapshotIndex: 0 });
    storage.write(batch({ snapshot: snap(3, 2, 'through 3'), entries: entries(6, [3]) }));
    storage.close();
    expect(inspect(dir)).toEqual({ version: '3', tables: V3_TABLES });
    // Opened again as version 3: no second upgrade, the same state.
    const again = SqliteStorage.open(dir, IDS);
    expect(again.load()).toEqual({ hardState: hs(3, 'n2'), snapshot: snap(3, 2, 'through 3'), entries: [...log.slice(3), ...entries(6, [3])] });
    again.close();
  });

  /** A closed format-2 directory (as the first snapshotting SqliteStorage wrote it): currentTerm 3, a snapshot at 4 in 2 chunks keyed by its index, the log 5..6. */
  function formatTwoDir(data: string): string {
    const dir = formatOneDir(entries(5, [3, 3]));
    tamper(
      dir,
      `CREATE TABLE raft_snapshot (
         id INTEGER PRIMARY KEY CHECK (id = 1), idx INTEGER NOT NULL CHECK (idx >= 1), term INTEGER NOT NULL CHECK (term >= 1),
         chunks INTEGER NOT NULL CHECK (chunks >= 0), length INTEGER NOT NULL CHECK (length >= 0)) STRICT;
       CREATE TABLE raft_snapshot_chunks (snapshot_idx INTEGER NOT NULL, seq INTEGER NOT NULL CHECK (seq >= 0), data TEXT NOT NULL, PRIMARY KEY (snapshot_idx, seq)) STRICT;
       INSERT INTO raft_snapshot VALUES (1, 4, 2, 2, ${data.length});
       INSERT INTO raft_snapshot_chunks VALUES (4, 0, '${data.slice(0, 3)}'), (4, 1, '${data.slice(3)}');
       UPDATE raft_meta SET value = '2' WHERE key = 'format_version';`,
    );
    return dir;
  }

  it('opening a format-2 directory keeps its snapshot (chunks keyed by its index become its chunk set) and log, and sets format_version 3', () => {
    const dir = formatTwoDir('abcdefg');
    expect(inspect(dir).version).toBe('2');
    const want = { hardState: hs(3, 'n2'), snapshot: snap(4, 2, 'abcdefg'), entries: entries(5, [3, 3]) };
    const storage = SqliteStorage.open(dir, IDS);
    expect(storage.load()).toEqual(want);
    // It stages and flips in a newer one over the upgraded one, which is then retired and deleted.
    const staging = storage.stageSnapshot(5, 3, 'newer');
    expect(staging.writeNext()).toBe(true);
    storage.write(batch({ snapshot: { ...snap(5, 3, 'newer'), staged: staging.id } }));
    while (!staging.tidyNext());
    storage.close();
    expect(inspect(dir)).toEqual({ version: '3', tables: V3_TABLES });
    expect(chunkRows(dir)).toEqual([[onDisk(dir).snapshotSet, 0, 5]]);
    const again = SqliteStorage.open(dir, IDS);
    expect(again.load()).toEqual({ hardState: hs(3, 'n2'), snapshot: snap(5, 3, 'newer'), entries: entries(6, [3]) });
    again.close();
  });

  it('a format-2 directory that already holds the staging table is refused as damaged, not upgraded over it', () => {
    const dir = formatTwoDir('abcdefg');
    tamper(dir, 'CREATE TABLE raft_snapshot_staging (chunk_set INTEGER PRIMARY KEY)');
    expectStorageError(() => SqliteStorage.open(dir, IDS), 'storage_metadata_invalid', 'format_version is 2 but table raft_snapshot_staging exists', /will not reset/);
    expect(inspect(dir).version).toBe('2');
  });

  it('a format-1 directory of another cluster is refused before it is upgraded, and left as it was', () => {
    const dir = formatOneDir(entries(1, [1]));
    const before = readFileSync(join(dir, SQLITE_FILE_NAME));
    expectStorageError(() => SqliteStorage.open(dir, { nodeId: 'n1', clusterId: 'other' }), 'storage_cluster_mismatch');
    expect(readFileSync(join(dir, SQLITE_FILE_NAME)).equals(before)).toBe(true);
    expect(inspect(dir).version).toBe('1');
  });

  it('a format-1 directory that already holds a snapshot table is refused as damaged, not upgraded over it', () => {
    const dir = formatOneDir(entries(1, [1]));
    tamper(dir, 'CREATE TABLE raft_snapshot (id INTEGER PRIMARY KEY)');
    expectStorageError(() => SqliteStorage.open(dir, IDS), 'storage_metadata_invalid', 'format_version is 1 but table raft_snapshot exists', /will not reset/);
    expect(inspect(dir).version).toBe('1');
  });

  it('a format-1 directory whose log is damaged is upgraded but still refused at load (the upgrade repairs nothing)', () => {
    const dir = formatOneDir([...entries(1, [1]), ...entries(3, [1])]);
    const storage = SqliteStorage.open(dir, IDS);
    try {
      expectStorageError(() => storage.load(), 'storage_log_invalid', /has index 3; a log is contiguous from index 1/);
    } finally {
      storage.close();
    }
  });
});

// ------------------------------------------------------------ SQLite only: kill -9 mid-write

const WRITER = join(REPO, 'test/unit/storage-crash/compacting-writer.ts');
const children = new Set<ChildProcess>();

function killAll(): void {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

interface Killed {
  /** The last batch the child said it completed (0: none). */
  reported: number;
  /** Where the child was when it died: staging batch k's snapshot, tidying after it, or elsewhere. */
  phase: 'staging' | 'tidying' | 'other';
  /** The batch at which the child killed itself (`dying <where> <k>`), if it did. */
  diedAt: number | undefined;
  /** The batch the child found on disk when it opened the store (-1: it never got that far). */
  openedAt: number;
  stderr: string;
  signal: NodeJS.Signals | null;
}

/**
 * Start the writer and SIGKILL it `delayMs` after `after` happens ('spawn' or its first completed
 * batch), or (`after` = 'itself') let it kill itself where `die` says (see compacting-writer.ts).
 */
function runAndKill(dir: string, after: 'spawn' | 'firstBatch' | 'itself', delayMs: number, die?: string, writerThread = false): Promise<Killed> {
  return new Promise((resolvePromise, reject) => {
    const args = ['--import', 'tsx', WRITER, dir, '60', ...(die === undefined ? [] : [die])];
    const env = { ...process.env, ...(writerThread ? { CRASH_WRITER_THREAD: '1' } : {}) };
    const child = spawn(process.execPath, args, { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'], env });
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
      const lines = stdout.split('\n').filter((l) => l !== '');
      const done = lines.filter((l) => l.startsWith('done ')).map((l) => Number(l.slice(5)));
      const opened = lines.find((l) => l.startsWith('open '));
      const dying = lines.find((l) => l.startsWith('dying '));
      const last = (dying === undefined ? lines.at(-1) : lines.at(-2)) ?? '';
      const stagedLast = lines.filter((l) => l.startsWith('stage ')).at(-1);
      // After `stage k`: staging until `done k`, tidying until `tidied k`.
      const phase = last.startsWith('stage ') ? 'staging' : last === `done ${stagedLast?.slice(6)}` ? 'tidying' : 'other';
      resolvePromise({
        reported: done.at(-1) ?? 0,
        phase,
        diedAt: dying === undefined ? undefined : Number(dying.split(' ')[2]),
        openedAt: opened === undefined ? -1 : Number(opened.slice(5)),
        stderr,
        signal,
      });
    });
    if (after === 'spawn') armKill();
  });
}

/**
 * Open the store the child left, check it holds exactly batches 1..k for a k the caller allows, and
 * nothing staged or retired (open deleted it); returns k and the snapshot's index.
 */
function checkStore(dir: string, expected: Expected, allowed: (k: number) => boolean, context: string): { k: number; base: number } {
  const storage = SqliteStorage.open<CrashCommand>(dir, { nodeId: 'n1', clusterId: 'crash-test' });
  let k: number;
  let base: number;
  try {
    const state = storage.load();
    k = state.hardState.currentTerm;
    expect(allowed(k), `store names batch ${k}\n${context}`).toBe(true);
    // Atomic: the store is exactly batches 1..k — hard state, snapshot and log — nothing of batch k+1.
    const want = expected.upTo(k);
    expect(state.hardState, context).toEqual(want.hardState);
    expect(describeSnapshot(state.snapshot), context).toEqual(describeSnapshot(want.snapshot));
    expect(state.snapshot?.data === want.snapshot?.data, `snapshot data differs\n${context}`).toBe(true);
    // A snapshot and the contiguous log after it: never a gap, never a log without its snapshot.
    base = state.snapshot?.index ?? 0;
    expect(
      state.entries.every((entry, i) => entry.index === base + 1 + i),
      context,
    ).toBe(true);
    expect(firstDifference(state.entries, want.entries), context).toBeUndefined();
  } finally {
    storage.close();
  }
  // Never a half snapshot left behind: only the snapshot's own chunks, nothing staged or retired.
  expectOnlyTheSnapshot(dir, context);
  return { k, base };
}

/** What a store that completed batches 1..k holds: the same batches replayed into a MemoryStorage. */
class Expected {
  private readonly memory = new MemoryStorage<CrashCommand>();
  private readonly log = new CompactingLog();
  private k = 0;

  upTo(k: number): PersistedState<CrashCommand> {
    while (this.k < k) this.memory.write(this.log.next(++this.k));
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

/** A snapshot's identity and size, for a readable comparison (its data is compared separately). */
function describeSnapshot(snapshot: SnapshotRecord | undefined): string {
  return snapshot === undefined ? 'no snapshot' : `snapshot at ${snapshot.index} (term ${snapshot.term}, ${snapshot.data.length} characters)`;
}

describe('SqliteStorage under kill -9', () => {
  afterEach(killAll);
  afterAll(killAll);

  it('a child killed at random moments, snapshots among its batches (most of them staged), leaves a prefix of its batches, each whole, holding every batch it reported done', async () => {
    const dir = tempDir();
    const expected = new Expected();
    let onDisk = 0;
    const snapshotsSeen = new Set<number>();
    const log: string[] = [];
    // Run 0 may die before, during or after creating the database; the others die mid-stream.
    const plan: ['spawn' | 'firstBatch', number][] = [['spawn', Math.floor(Math.random() * 1500)]];
    for (let i = 0; i < 7; i++) plan.push(['firstBatch', Math.floor(Math.random() * 300)]);
    for (const [after, delay] of plan) {
      const killed = await runAndKill(dir, after, delay);
      log.push(`killed ${delay} ms after ${after}: reported ${killed.reported}, opened at ${killed.openedAt}, while ${killed.phase}`);
      const context = `${log.join('\n')}\nchild stderr: ${killed.stderr}`;
      expect(killed.signal, `the child must die by our SIGKILL, not by itself\n${context}`).toBe('SIGKILL');
      if (killed.openedAt >= 0) expect(killed.openedAt, `the child resumed where the store was\n${context}`).toBe(onDisk);
      // Durable: everything reported done is there; at most the batch in flight is extra.
      const floor = Math.max(killed.reported, onDisk);
      const { k, base } = checkStore(dir, expected, (k) => k >= floor && k <= floor + 1, context);
      snapshotsSeen.add(base);
      onDisk = k;
    }
    expect(onDisk, log.join('\n')).toBeGreaterThan(0);
    // The last runs write dozens of batches each, well past the first snapshots (batch 2 onwards).
    expect(
      [...snapshotsSeen].some((index) => index > 0),
      log.join('\n'),
    ).toBe(true);
  }, 120_000);

  it('on the writer thread (BackgroundSqliteStorage, 8 batches submitted at a time, grouped): a child killed at random moments leaves a prefix of its batches, each whole, holding every batch it was told is done', async () => {
    const dir = tempDir();
    const expected = new Expected();
    let onDisk = 0;
    const log: string[] = [];
    const plan: ['spawn' | 'firstBatch', number][] = [['spawn', Math.floor(Math.random() * 1500)]];
    for (let i = 0; i < 5; i++) plan.push(['firstBatch', Math.floor(Math.random() * 300)]);
    for (const [after, delay] of plan) {
      const killed = await runAndKill(dir, after, delay, undefined, true);
      log.push(`killed ${delay} ms after ${after}: reported ${killed.reported}, opened at ${killed.openedAt}`);
      const context = `${log.join('\n')}\nchild stderr: ${killed.stderr}`;
      expect(killed.signal, `the child must die by our SIGKILL, not by itself\n${context}`).toBe('SIGKILL');
      if (killed.openedAt >= 0) expect(killed.openedAt, `the child resumed where the store was\n${context}`).toBe(onDisk);
      // Durable: everything reported done is there; at most the 8 submitted after it are extra, a prefix of them.
      const floor = Math.max(killed.reported, onDisk);
      const { k } = checkStore(dir, expected, (k) => k >= floor && k <= floor + 8, context);
      onDisk = k;
    }
    expect(onDisk, log.join('\n')).toBeGreaterThan(0);
  }, 120_000);

  it('kill -9 while a snapshot is staged or inside the batch that flips it in leaves the old snapshot with its whole log; while tidying, the new one with the rest', async () => {
    const dir = tempDir();
    const expected = new Expected();
    const log: string[] = [];
    let onDisk = 0;
    // Each run resumes where the last one left the store, so the same snapshot is staged again after a crash.
    for (const [die, keeps] of [
      ['die-while-staging', 'old'],
      ['die-in-flip', 'old'],
      ['die-while-staging', 'old'],
      ['die-while-tidying', 'new'],
      ['die-in-flip', 'old'],
      ['die-while-tidying', 'new'],
    ] as const) {
      const killed = await runAndKill(dir, 'itself', 0, die);
      log.push(`${die}: opened at ${killed.openedAt}, died at batch ${String(killed.diedAt)}, reported ${killed.reported}`);
      const context = `${log.join('\n')}\nchild stderr: ${killed.stderr}`;
      expect(killed.signal, context).toBe('SIGKILL');
      expect(killed.openedAt, context).toBe(onDisk);
      const at = killed.diedAt as number;
      expect(stagesSnapshot(at), `the child died at a staged snapshot\n${context}`).toBe(true);
      // The old snapshot with its whole log is batches 1..at-1; the new one with the rest, 1..at.
      const want = keeps === 'old' ? at - 1 : at;
      expect(Math.max(killed.reported, onDisk), context).toBe(want);
      ({ k: onDisk } = checkStore(dir, expected, (k) => k === want, context));
    }
    // And it goes on from there, staging and flipping in snapshots again.
    const killed = await runAndKill(dir, 'firstBatch', 200);
    const context = `${log.join('\n')}\nthen killed 200 ms after its first batch: reported ${killed.reported}`;
    checkStore(dir, expected, (k) => k >= killed.reported && k <= killed.reported + 1 && k > onDisk, context);
  }, 120_000);
});
