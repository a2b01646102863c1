/**
 * SqliteStorage: one node's durable state (hard state, latest snapshot and the log after it) in
 * one SQLite file, `raft.db`, inside the node's data directory, through better-sqlite3
 * (synchronous, so `write` returns only once the batch is on disk — DESIGN.md, the durability
 * contract). The format, opening and upgrading live in sqlite-schema.ts.
 *
 * - WAL journal with `synchronous = FULL`: a committed transaction is fsynced before COMMIT
 *   returns. One `write(batch)` is one transaction (hard state, snapshot with the compaction it
 *   implies, truncation and append together), so a batch costs one fsync and a crash leaves all
 *   of it or none of it: never a log without its snapshot, never a gap after it.
 * - A snapshot's data is stored in chunks of at most SNAPSHOT_CHUNK_CHARS characters, so a large
 *   snapshot is never one giant row (nor one giant UTF-8 copy); only the latest one is kept.
 * - A snapshot the node took can be written ahead (`stageSnapshot`, sqlite-staging.ts): a chunk per
 *   turn of the event loop while the node keeps serving, invisible to load(); the batch that
 *   records it then only flips it in, in a small transaction. A snapshot in a batch without a
 *   staged id (one installed from the leader) is written whole in the batch's transaction.
 * - `locking_mode = EXCLUSIVE`: the file stays locked while the storage is open, so two processes
 *   can never run a node on the same directory (two nodes sharing one vote would break Raft).
 * - Opening refuses — with a `StorageError` saying what is wrong and what to do — a file that is
 *   not SQLite or is corrupt, metadata that is missing or damaged, a directory of another cluster
 *   or node, or a newer format. It never resets anything: a node that forgot its vote or its log
 *   can vote twice in one term or lose acknowledged writes. `load()` refuses a stored log or
 *   snapshot that breaks a Raft log's rules; nothing is repaired silently.
 * - Commands are stored as JSON text, so a command must be a JSON value (it crosses the wire as
 *   JSON anyway).
 */
import Database from 'better-sqlite3';
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { HardState, LogEntry, LogIndex, NodeId, Term } from '../core/types.js';
import { InvalidRequestError } from '../errors.js';
import {
  RESTORE,
  SQLITE_FILE_NAME,
  StorageError,
  checkedHardState,
  describe,
  fileSize,
  invalidLog,
  isTerm,
  prepare,
  storedClusterId,
  translate,
  type OpenedState,
  type SqliteStorageOptions,
} from './sqlite-schema.js';
import { SqliteSnapshotStaging, chunkEnds, stagingHost, type StagingHost } from './sqlite-staging.js';
import { checkBatch, type PersistBatch, type PersistedState, type SnapshotRecord, type StagedSnapshotId, type Storage } from './storage.js';

export { SQLITE_FILE_NAME, SQLITE_FORMAT_VERSION, StorageError, type SqliteStorageOptions, type StorageErrorCode } from './sqlite-schema.js';
export { STAGED_CHUNK_CHARS } from './sqlite-staging.js';

/** The most characters (UTF-16 code units) of a snapshot's data one chunk row holds: 1 MiB. */
export const SNAPSHOT_CHUNK_CHARS = 1 << 20;
/** How long opening waits for another process to release the file before refusing. */
const LOCK_WAIT_MS = 1000;

/** Figures for metrics. */
export interface SqliteStorageStats {
  /** Entries held in the log after the snapshot. */
  entryCount: number;
  lastIndex: LogIndex;
  lastTerm: Term;
  currentTerm: Term;
  /** The stored snapshot's index and term (0 without one) and its data's length in characters. */
  snapshotIndex: LogIndex;
  snapshotTerm: Term;
  snapshotLength: number;
  /** Batches written since open (one transaction, one fsync each). */
  writes: number;
  databaseBytes: number;
  walBytes: number;
}

type Row = [index: LogIndex, term: Term, command: string];

interface Plan {
  hardState: HardState | undefined;
  /**
   * The new snapshot in its chunk set: written whole here (chunk i is data[ends[i-1] ?? 0 .. ends[i]]),
   * or staged already (the flip).
   */
  snapshot:
    | { record: SnapshotRecord; set: number; chunks: number; ends: number[]; staging?: undefined }
    | { record: SnapshotRecord; set: number; chunks: number; ends?: undefined; staging: SqliteSnapshotStaging }
    | undefined;
  /** Delete every entry at or after this index (undefined: delete nothing). */
  cut: LogIndex | undefined;
  rows: Row[];
  lastIndex: LogIndex;
  lastTerm: Term;
}

export class SqliteStorage<C = unknown> implements Storage<C> {
  /** Snapshots are stored (in chunks; staged ahead or in the batch's transaction), so nodes on SQLite compact their logs. */
  readonly storesSnapshots = true;

  /**
   * Open the node's data directory, creating it (and `raft.db` in it) if missing, upgrading an
   * older format in place. Throws a `StorageError` rather than start on data that is damaged,
   * foreign or too new.
   */
  static open<C = unknown>(dataDir: string, options: SqliteStorageOptions): SqliteStorage<C> {
    for (const key of ['nodeId', 'clusterId'] as const) {
      if (typeof options[key] !== 'string' || options[key] === '') throw new InvalidRequestError(`SqliteStorage.open: ${key} must be a non-empty string`);
    }
    const dir = resolve(dataDir);
    const file = join(dir, SQLITE_FILE_NAME);
    try {
      mkdirSync(dir, { recursive: true });
    } catch (error) {
      throw new StorageError('storage_io', `cannot create the data directory ${dir}: ${describe(error)}. Check the path and its permissions.`, dir, error);
    }
    // Without its database a write-ahead log would be replayed into a new, partial database.
    if (!existsSync(file) && fileSize(`${file}-wal`) > 0) {
      throw new StorageError(
        'storage_corrupt',
        `${file} is missing but its write-ahead log ${file}-wal is present: the data directory is damaged (was raft.db deleted or moved?). ${RESTORE}`,
        dir,
      );
    }
    let db: Database.Database;
    try {
      db = new Database(file, { timeout: LOCK_WAIT_MS });
    } catch (error) {
      throw translate(error, dir, file, `cannot open ${file}`);
    }
    try {
      return new SqliteStorage<C>(db, dir, file, options, prepare(db, dir, file, options));
    } catch (error) {
      db.close();
      throw error instanceof StorageError ? error : translate(error, dir, file, `cannot open ${file}`);
    }
  }

  /**
   * The cluster id of a node's data directory, or undefined when it holds no node's data yet (no
   * raft.db, or one a crash left before its first transaction). Reads, changes nothing. A
   * directory another node has open is refused (storage_locked); damage is left for open() to report.
   */
  static storedClusterId(dataDir: string): string | undefined {
    const dir = resolve(dataDir);
    const file = join(dir, SQLITE_FILE_NAME);
    if (!existsSync(file)) return undefined;
    let db: Database.Database | undefined;
    try {
      db = new Database(file, { fileMustExist: true, timeout: LOCK_WAIT_MS });
      return storedClusterId(db);
    } catch (error) {
      const translated = translate(error, dir, file, `cannot read ${file}`);
      if (translated.code === 'storage_locked') throw translated;
      return undefined;
    } finally {
      db?.close();
    }
  }

  readonly nodeId: NodeId;
  /** The cluster id the directory holds: `options.clusterId` for a new one, or the stored one (see keepClusterId). */
  readonly clusterId: string;
  private db: Database.Database | undefined;
  private failure: unknown;
  private writes = 0;
  private hardState: HardState;
  private snapshotIndex: LogIndex;
  private snapshotTerm: Term;
  private snapshotLength: number;
  /** The stored snapshot's chunk set and chunk count (0 without one), and an id no set on disk has. */
  private chunkSet: number;
  private chunkCount: number;
  private nextChunkSet: number;
  /** Stagings this instance started that no batch has recorded yet (by id), and what they use of it. */
  private readonly stagings = new Map<number, SqliteSnapshotStaging>();
  private readonly stagingHost: StagingHost;
  private lastIndex: LogIndex;
  private lastTerm: Term;
  private readonly updateHardState: Database.Statement<[Term, NodeId | null]>;
  private readonly deleteChunkSet: Database.Statement<[number]>;
  private readonly replaceSnapshot: Database.Statement<[LogIndex, Term, number, number, number]>;
  private readonly insertChunk: Database.Statement<[number, number, string]>;
  private readonly listSet: Database.Statement<[number, 'staged' | 'retired']>;
  private readonly unlistSet: Database.Statement<[number]>;
  private readonly deleteThrough: Database.Statement<[LogIndex]>;
  private readonly deleteFrom: Database.Statement<[LogIndex]>;
  private readonly insert: Database.Statement<Row>;
  private readonly selectTerm: Database.Statement<[LogIndex], Term>;
  private readonly selectHardState: Database.Statement<[], unknown[]>;
  private readonly selectSnapshot: Database.Statement<[], unknown[]>;
  private readonly selectChunks: Database.Statement<[number], unknown[]>;
  private readonly selectStrayChunk: Database.Statement<[number | null], unknown>;
  private readonly selectEntries: Database.Statement<[], unknown[]>;
  private readonly commit: Database.Transaction<(plan: Plan) => void>;
  private readonly commitGroup: Database.Transaction<(batches: readonly PersistBatch<C>[]) => void>;

  private constructor(
    db: Database.Database,
    readonly dataDir: string,
    readonly file: string,
    options: SqliteStorageOptions,
    opened: OpenedState,
  ) {
    this.db = db;
    this.nodeId = options.nodeId;
    this.clusterId = opened.clusterId;
    ({ hardState: this.hardState, snapshotIndex: this.snapshotIndex, snapshotTerm: this.snapshotTerm, snapshotLength: this.snapshotLength } = opened);
    ({ lastIndex: this.lastIndex, lastTerm: this.lastTerm } = opened);
    ({ chunkSet: this.chunkSet, chunkCount: this.chunkCount, nextChunkSet: this.nextChunkSet } = opened);
    this.updateHardState = db.prepare('UPDATE raft_hard_state SET current_term = ?, voted_for = ? WHERE id = 1');
    this.deleteChunkSet = db.prepare('DELETE FROM raft_snapshot_chunks WHERE chunk_set = ?');
    this.replaceSnapshot = db.prepare('INSERT OR REPLACE INTO raft_snapshot (id, idx, term, chunks, length, chunk_set) VALUES (1, ?, ?, ?, ?, ?)');
    this.insertChunk = db.prepare('INSERT INTO raft_snapshot_chunks (chunk_set, seq, data) VALUES (?, ?, ?)');
    this.listSet = db.prepare('INSERT INTO raft_snapshot_staging (chunk_set, purpose) VALUES (?, ?)');
    this.unlistSet = db.prepare('DELETE FROM raft_snapshot_staging WHERE chunk_set = ?');
    this.deleteThrough = db.prepare('DELETE FROM raft_entries WHERE idx <= ?');
    this.deleteFrom = db.prepare('DELETE FROM raft_entries WHERE idx >= ?');
    // A plain INSERT, not REPLACE: a batch that would overwrite without truncating is a bug to hear about.
    this.insert = db.prepare('INSERT INTO raft_entries (idx, term, command) VALUES (?, ?, ?)');
    this.selectTerm = db.prepare<[LogIndex], Term>('SELECT term FROM raft_entries WHERE idx = ?').pluck();
    this.selectHardState = db.prepare<[], unknown[]>('SELECT current_term, voted_for FROM raft_hard_state').raw();
    this.selectSnapshot = db.prepare<[], unknown[]>('SELECT idx, term, chunks, length, chunk_set FROM raft_snapshot').raw();
    this.selectChunks = db.prepare<[number], unknown[]>('SELECT seq, data FROM raft_snapshot_chunks WHERE chunk_set = ? ORDER BY seq').raw();
    // A chunk of no snapshot and no listed (staged or retired) set: nothing this code writes leaves one.
    this.selectStrayChunk = db
      .prepare<[number | null], unknown>(
        'SELECT chunk_set FROM raft_snapshot_chunks WHERE chunk_set IS NOT ? AND chunk_set NOT IN (SELECT chunk_set FROM raft_snapshot_staging) LIMIT 1',
      )
      .pluck();
    this.selectEntries = db.prepare<[], unknown[]>('SELECT idx, term, command FROM raft_entries ORDER BY idx').raw();
    // The batch order of PersistBatch: hard state; snapshot and the entries it covers; truncation; append.
    this.commit = db.transaction((plan: Plan) => {
      if (plan.hardState !== undefined) this.updateHardState.run(plan.hardState.currentTerm, plan.hardState.votedFor);
      if (plan.snapshot !== undefined) {
        const { record, set, chunks, ends } = plan.snapshot;
        if (ends === undefined) {
          // The flip: the staged set becomes the snapshot's; the replaced one is retired (tidyNext deletes it).
          this.unlistSet.run(set);
          if (this.chunkSet !== 0) this.listSet.run(this.chunkSet, 'retired');
        } else if (this.chunkSet !== 0) {
          this.deleteChunkSet.run(this.chunkSet);
        }
        this.replaceSnapshot.run(record.index, record.term, chunks, record.data.length, set);
        // One chunk's UTF-8 copy at a time, never the whole snapshot's.
        ends?.forEach((end, seq) => this.insertChunk.run(set, seq, record.data.slice(ends[seq - 1] ?? 0, end)));
        this.deleteThrough.run(record.index);
      }
      if (plan.cut !== undefined) this.deleteFrom.run(plan.cut);
      for (const row of plan.rows) this.insert.run(...row);
    });
    // Each batch planned against the log the ones before it left (its transaction a savepoint of this one).
    this.commitGroup = db.transaction((batches: readonly PersistBatch<C>[]) => {
      for (const batch of batches) {
        const plan = this.plan(batch);
        this.commit(plan);
        this.written(plan);
      }
    });
    this.stagingHost = stagingHost(db, {
      usable: () => this.usable(),
      failed: (error) => {
        // As after a failed batch: what reached the disk is unknown, so nothing more is trusted.
        this.failure = error;
        return translate(error, this.dataDir, this.file, `writing a staged snapshot to ${this.file} failed`);
      },
      forget: (staging) => {
        if (this.stagings.get(staging.id) === staging) this.stagings.delete(staging.id);
      },
      refuse: (what) => new StorageError('storage_batch_invalid', `storage: ${what}`, this.dataDir),
    });
  }

  /** Everything on disk, checked: a log or snapshot that breaks a Raft log's rules is refused, not repaired. */
  load(): PersistedState<C> {
    this.usable();
    const hardState = checkedHardState(this.selectHardState.all(), this.dataDir, this.file);
    const snapshot = this.loadSnapshot(hardState);
    const base = snapshot?.index ?? 0;
    const from = snapshot === undefined ? 'a log is contiguous from index 1' : `the log after the snapshot at ${base} is contiguous from index ${base + 1}`;
    const rows = this.selectEntries.all();
    const entries: LogEntry<C>[] = new Array(rows.length);
    let previousTerm = snapshot?.term ?? 0;
    for (let i = 0; i < rows.length; i++) {
      const [index, term, text] = rows[i] as unknown[];
      const fail = (what: string) => invalidLog(this.dataDir, this.file, `the entry at position ${i + 1} ${what}`);
      if (index !== base + i + 1) throw fail(`has index ${String(index)}; ${from}`);
      if (!isTerm(term) || term < 1) throw fail(`(index ${index}) has term ${String(term)}; a term is an integer ≥ 1`);
      if (term < previousTerm) {
        const before = i === 0 ? `the snapshot's term ${previousTerm}` : `term ${previousTerm}`;
        throw fail(`(index ${index}) has term ${term} after ${before}; terms never decrease along a log`);
      }
      if (term > hardState.currentTerm) throw fail(`(index ${index}) has term ${term}, above currentTerm ${hardState.currentTerm}`);
      let command: C;
      try {
        command = JSON.parse(text as string) as C;
      } catch {
        throw fail(`(index ${index}) holds a command that is not JSON`);
      }
      entries[i] = { index, term, command };
      previousTerm = term;
    }
    return { hardState, ...(snapshot ? { snapshot } : {}), entries };
  }

  /** One transaction (one fsync). A refused batch throws before anything is written. */
  write(batch: PersistBatch<C>): void {
    this.usable();
    const plan = this.plan(batch);
    try {
      this.commit(plan);
    } catch (error) {
      // SQLite rolled the transaction back; what the OS did with the failed fsync is unknown, so
      // no further write is trusted from this instance. Restarting rereads the disk.
      this.failure = error;
      throw translate(error, this.dataDir, this.file, `writing a batch to ${this.file} failed`);
    }
    this.written(plan);
  }

  /**
   * Several batches in one transaction (one fsync; the writer thread's group commit): on disk all
   * of them or none. If one is refused (StorageError storage_batch_invalid) nothing is written and
   * the storage stays usable (write them one by one to learn which); if the commit fails, the
   * storage refuses further use, as after a failed write.
   */
  writeGroup(batches: readonly PersistBatch<C>[]): void {
    this.usable();
    // A staged snapshot's flip updates its staging, which a rollback could not undo: write() it alone.
    if (batches.some((batch) => batch.snapshot?.staged !== undefined)) {
      throw new StorageError('storage_batch_invalid', 'storage: refused a group of batches (nothing was written): a staged snapshot is recorded by write(), alone', this.dataDir);
    }
    const view = { ...this.view };
    try {
      this.commitGroup(batches);
    } catch (error) {
      // Rolled back: what this instance knows goes back with it.
      this.view = view;
      // A refused batch (checked before its own statements ran) leaves the storage usable, as with write().
      if (error instanceof StorageError && error.code === 'storage_batch_invalid') throw error;
      this.failure = error;
      throw translate(error, this.dataDir, this.file, `writing ${batches.length} batches to ${this.file} failed`);
    }
  }

  /** What this instance knows of the disk (a group's transaction rolled back restores it). */
  private get view() {
    const { hardState, snapshotIndex, snapshotTerm, snapshotLength, chunkSet, chunkCount, nextChunkSet, lastIndex, lastTerm, writes } = this;
    return { hardState, snapshotIndex, snapshotTerm, snapshotLength, chunkSet, chunkCount, nextChunkSet, lastIndex, lastTerm, writes };
  }

  private set view(view) {
    ({
      hardState: this.hardState,
      snapshotIndex: this.snapshotIndex,
      snapshotTerm: this.snapshotTerm,
      snapshotLength: this.snapshotLength,
      chunkSet: this.chunkSet,
      chunkCount: this.chunkCount,
      nextChunkSet: this.nextChunkSet,
      lastIndex: this.lastIndex,
      lastTerm: this.lastTerm,
      writes: this.writes,
    } = view);
  }

  /** What this instance knows of the disk, after a batch's statements ran. */
  private written(plan: Plan): void {
    if (plan.hardState !== undefined) this.hardState = plan.hardState;
    if (plan.snapshot !== undefined) {
      const { record, set, chunks, staging } = plan.snapshot;
      if (staging !== undefined) {
        this.stagings.delete(staging.id);
        staging.recorded(this.chunkSet, this.chunkCount);
      }
      this.snapshotIndex = record.index;
      this.snapshotTerm = record.term;
      this.snapshotLength = record.data.length;
      this.chunkSet = set;
      this.chunkCount = chunks;
    }
    this.lastIndex = plan.lastIndex;
    this.lastTerm = plan.lastTerm;
    this.writes++;
  }

  /**
   * Start writing a snapshot ahead of the batch that records it (see SnapshotStaging): listed as
   * staged now, one chunk of at most STAGED_CHUNK_CHARS per `writeNext()`. Refuses (StorageError
   * storage_batch_invalid, nothing staged) a snapshot no batch could record.
   */
  stageSnapshot(index: LogIndex, term: Term, data: string): SqliteSnapshotStaging {
    this.usable();
    const refuse = (what: string) => this.stagingHost.refuse(`cannot stage a snapshot (nothing was written): ${what}`);
    if (!(isTerm(index) && index >= 1)) throw refuse(`index ${String(index)} is not an index ≥ 1`);
    if (!(isTerm(term) && term >= 1)) throw refuse(`term ${String(term)} is not a term ≥ 1`);
    if (typeof data !== 'string') throw refuse('snapshot data must be a string');
    if (index <= this.snapshotIndex) throw refuse(`the snapshot at index ${index} is not newer than the stored one at ${this.snapshotIndex}`);
    const id = this.nextChunkSet++ as StagedSnapshotId;
    this.stagingHost.lightTransaction(() => this.listSet.run(id, 'staged'));
    const staging = new SqliteSnapshotStaging(this.stagingHost, id, index, term, data);
    this.stagings.set(id, staging);
    return staging;
  }

  /** Idempotent. The WAL is checkpointed into raft.db and the lock released. */
  close(): void {
    const db = this.db;
    this.db = undefined;
    db?.close();
    // What was staged and not recorded stays listed on disk; the next open deletes it.
    this.stagings.clear();
  }

  get closed(): boolean {
    return this.db === undefined;
  }

  stats(): SqliteStorageStats {
    this.usable();
    return {
      entryCount: this.lastIndex - this.snapshotIndex, // contiguous after the snapshot
      lastIndex: this.lastIndex,
      lastTerm: this.lastTerm,
      currentTerm: this.hardState.currentTerm,
      snapshotIndex: this.snapshotIndex,
      snapshotTerm: this.snapshotTerm,
      snapshotLength: this.snapshotLength,
      writes: this.writes,
      databaseBytes: fileSize(this.file),
      walBytes: fileSize(`${this.file}-wal`),
    };
  }

  private usable(): void {
    if (this.db === undefined) {
      throw new StorageError('storage_closed', `the storage of ${this.dataDir} is closed; open it again with SqliteStorage.open`, this.dataDir);
    }
    if (this.failure !== undefined) {
      throw new StorageError(
        'storage_failed',
        `an earlier write to ${this.file} failed (${describe(this.failure)}), so this storage refuses further use; restart the node, which reloads what is on disk`,
        this.dataDir,
        this.failure,
      );
    }
  }

  /** The stored snapshot, its data re-joined from its chunks in order; refused unless whole. */
  private loadSnapshot(hardState: HardState): SnapshotRecord | undefined {
    const fail = (what: string) => invalidLog(this.dataDir, this.file, what);
    const row = this.selectSnapshot.all()[0];
    if (row === undefined) {
      const stray = this.selectStrayChunk.get(null);
      if (stray !== undefined) throw fail(`it holds snapshot chunks (of chunk set ${String(stray)}) but no snapshot`);
      return undefined;
    }
    const [index, term, count, length, set] = row;
    if (!(isTerm(index) && index >= 1 && isTerm(term) && term >= 1 && isTerm(count) && isTerm(length) && isTerm(set) && set >= 1)) {
      throw fail(`the snapshot row is damaged (index ${String(index)}, term ${String(term)}, chunks ${String(count)}, length ${String(length)}, chunk set ${String(set)})`);
    }
    if (term > hardState.currentTerm) throw fail(`the snapshot at index ${index} has term ${term}, above currentTerm ${hardState.currentTerm}`);
    const stray = this.selectStrayChunk.get(set);
    if (stray !== undefined) throw fail(`a snapshot chunk belongs to chunk set ${String(stray)}, neither the stored snapshot's (${set}) nor a staged or retired one`);
    const parts: string[] = [];
    // for…of closes the statement's iterator when a check throws (an open one keeps the connection busy).
    for (const [seq, data] of this.selectChunks.iterate(set)) {
      if (seq !== parts.length || typeof data !== 'string') {
        throw fail(`the snapshot at index ${index} lacks chunk ${parts.length} (the next one stored is ${String(seq)})`);
      }
      parts.push(data);
    }
    if (parts.length !== count) throw fail(`the snapshot at index ${index} has ${parts.length} of its ${count} chunks`);
    const data = parts.join('');
    if (data.length !== length) throw fail(`the snapshot at index ${index} holds ${data.length} characters of data, not ${length}`);
    return { index, term, data };
  }

  /** Check the batch against the log and serialize it; nothing is written here. */
  private plan(batch: PersistBatch<C>): Plan {
    const refuse = (what: string) => new StorageError('storage_batch_invalid', `storage: refused a batch (nothing was written): ${what}`, this.dataDir);
    const { hardState, entries } = batch;
    let checked: { kept: LogIndex; lastTerm: Term };
    try {
      checked = checkBatch(batch, {
        snapshotIndex: this.snapshotIndex,
        snapshotTerm: this.snapshotTerm,
        lastIndex: this.lastIndex,
        currentTerm: this.hardState.currentTerm,
        termAt: (index) => (index === this.lastIndex ? this.lastTerm : (this.selectTerm.get(index) ?? 0)),
      });
    } catch (error) {
      throw refuse((error as Error).message);
    }
    let snapshot: Plan['snapshot'];
    if (batch.snapshot?.staged !== undefined) {
      const { index, term, data, staged } = batch.snapshot;
      const staging = this.stagings.get(staged);
      if (staging === undefined || !staging.complete) {
        throw refuse(
          `the snapshot at index ${index} names staged snapshot ${String(staged)}, which this storage does not hold ` +
            `${staging === undefined ? '(never staged here, discarded, recorded already, or staged before the storage was opened)' : 'whole yet (writeNext has more to write)'}`,
        );
      }
      if (staging.index !== index || staging.term !== term || staging.length !== data.length) {
        throw refuse(
          `the snapshot at index ${index} (term ${term}, ${data.length} characters) names staged snapshot ${staged}, ` +
            `which is at index ${staging.index} (term ${staging.term}, ${staging.length} characters)`,
        );
      }
      snapshot = { record: { index, term, data }, set: staging.id, chunks: staging.chunks, staging };
    } else if (batch.snapshot !== undefined) {
      const record = batch.snapshot;
      // SQLite keeps text as UTF-8: a lone surrogate would come back as U+FFFD, a changed snapshot.
      if (!(record.data as string & { isWellFormed(): boolean }).isWellFormed()) {
        throw refuse(`the snapshot's data at index ${record.index} is not well-formed UTF-16 (a lone surrogate) and cannot be stored as text`);
      }
      const ends = chunkEnds(record.data, SNAPSHOT_CHUNK_CHARS);
      snapshot = { record: { index: record.index, term: record.term, data: record.data }, set: this.nextChunkSet++, chunks: ends.length, ends };
    }
    const { kept, lastTerm } = checked;
    const rows: Row[] = new Array(entries.length);
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i] as LogEntry<C>;
      const index = kept + 1 + i;
      let command: string | undefined;
      try {
        command = JSON.stringify(entry.command);
      } catch (error) {
        throw refuse(`the command of entry ${index} cannot be stored as JSON (${describe(error)})`);
      }
      if (command === undefined) throw refuse(`the command of entry ${index} is not a JSON value`);
      rows[i] = [index, entry.term, command];
    }
    return { hardState, snapshot, cut: kept < this.lastIndex ? kept + 1 : undefined, rows, lastIndex: kept + entries.length, lastTerm };
  }
}
