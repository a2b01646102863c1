/**
 * SqliteStorage: one node's durable state (hard state and log) in one SQLite file, `raft.db`,
 * inside the node's data directory, through better-sqlite3 (synchronous, so `write` returns only
 * once the batch is on disk — DESIGN.md, the durability contract).
 *
 * - WAL journal with `synchronous = FULL`: a committed transaction is fsynced before COMMIT
 *   returns. One `write(batch)` is one transaction (hard state, truncation and append together),
 *   so a batch costs one fsync and a crash leaves all of it or none of it.
 * - `locking_mode = EXCLUSIVE`: the file stays locked while the storage is open, so two processes
 *   can never run a node on the same directory (two nodes sharing one vote would break Raft).
 * - Opening refuses — with a `StorageError` saying what is wrong and what to do — a file that is
 *   not SQLite or is corrupt, metadata that is missing or damaged, a directory of another cluster
 *   or node, or a newer format. It never resets anything: a node that forgot its vote or its log
 *   can vote twice in one term or lose acknowledged writes.
 * - Commands are stored as JSON text, so a command must be a JSON value (it crosses the wire as
 *   JSON anyway). The log is kept contiguous from index 1 (no compaction in format version 1).
 */
import Database from 'better-sqlite3';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { HardState, LogEntry, LogIndex, NodeId, Term } from '../core/types.js';
import { InvalidRequestError, RaftError } from '../errors.js';
import { checkBatch, type PersistBatch, type PersistedState, type Storage } from './storage.js';

/** The on-disk format this code writes and the newest it can read. */
export const SQLITE_FORMAT_VERSION = 1;
/** The database file inside the data directory. */
export const SQLITE_FILE_NAME = 'raft.db';
/** How long opening waits for another process to release the file before refusing. */
const LOCK_WAIT_MS = 1000;

export type StorageErrorCode =
  /** The file is not a SQLite database, or it is damaged. */
  | 'storage_corrupt'
  /** The file is a SQLite database, but not an xstate-raft one. */
  | 'storage_not_raft_data'
  /** xstate-raft metadata is present but missing a field or holding a bad value. */
  | 'storage_metadata_invalid'
  | 'storage_cluster_mismatch'
  | 'storage_node_mismatch'
  /** Written by a newer xstate-raft whose format this code does not know. */
  | 'storage_format_too_new'
  /** The stored log breaks a rule every Raft log keeps (contiguous, terms never decrease, …). */
  | 'storage_log_invalid'
  /** A batch was refused before anything was written (the caller's bug, not the disk's). */
  | 'storage_batch_invalid'
  /** Another process has this data directory open. */
  | 'storage_locked'
  /** The file system refused (permissions, disk full, I/O error). */
  | 'storage_io'
  | 'storage_closed'
  /** An earlier write failed; this instance refuses everything until the node restarts. */
  | 'storage_failed';

/** Durable storage cannot be used as asked. `code` is stable; `path` is the data directory. */
export class StorageError extends RaftError {
  declare readonly code: StorageErrorCode;

  constructor(code: StorageErrorCode, message: string, readonly path: string, cause?: unknown) {
    super(code, message);
    if (cause !== undefined) this.cause = cause;
  }
}

export interface SqliteStorageOptions {
  /** This node's id; the directory remembers it and refuses to be opened by another node. */
  nodeId: NodeId;
  /** The cluster's id; the directory remembers it and refuses to be opened for another cluster. */
  clusterId: string;
}

/** Figures for metrics. */
export interface SqliteStorageStats {
  entryCount: number;
  lastIndex: LogIndex;
  lastTerm: Term;
  currentTerm: Term;
  /** Batches written since open (one transaction, one fsync each). */
  writes: number;
  databaseBytes: number;
  walBytes: number;
}

type Row = [index: LogIndex, term: Term, command: string];

interface Plan {
  hardState: HardState | undefined;
  /** Delete every entry at or after this index (undefined: delete nothing). */
  cut: LogIndex | undefined;
  rows: Row[];
  lastIndex: LogIndex;
  lastTerm: Term;
}

const SCHEMA = `
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
  INSERT INTO raft_hard_state (id, current_term, voted_for) VALUES (1, 0, NULL);
`;
const TABLES = ['raft_meta', 'raft_hard_state', 'raft_entries'] as const;

export class SqliteStorage<C = unknown> implements Storage<C> {
  /**
   * Open the node's data directory, creating it (and `raft.db` in it) if missing. Throws a
   * `StorageError` rather than start on data that is damaged, foreign or too new.
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
      throw new StorageError('storage_corrupt', `${file} is missing but its write-ahead log ${file}-wal is present: the data directory is damaged (was raft.db deleted or moved?). ${RESTORE}`, dir);
    }
    let db: Database.Database;
    try {
      db = new Database(file, { timeout: LOCK_WAIT_MS });
    } catch (error) {
      throw translate(error, dir, file, `cannot open ${file}`);
    }
    try {
      const state = prepare(db, dir, file, options);
      return new SqliteStorage<C>(db, dir, file, options, state.hardState, state.lastIndex, state.lastTerm);
    } catch (error) {
      db.close();
      throw error instanceof StorageError ? error : translate(error, dir, file, `cannot open ${file}`);
    }
  }

  readonly nodeId: NodeId;
  readonly clusterId: string;
  private db: Database.Database | undefined;
  private failure: unknown;
  private writes = 0;
  private readonly updateHardState: Database.Statement<[Term, NodeId | null]>;
  private readonly deleteFrom: Database.Statement<[LogIndex]>;
  private readonly insert: Database.Statement<Row>;
  private readonly selectTerm: Database.Statement<[LogIndex], Term>;
  private readonly selectHardState: Database.Statement<[], unknown[]>;
  private readonly selectEntries: Database.Statement<[], unknown[]>;
  private readonly commit: Database.Transaction<(plan: Plan) => void>;

  private constructor(
    db: Database.Database,
    readonly dataDir: string,
    readonly file: string,
    options: SqliteStorageOptions,
    private hardState: HardState,
    private lastIndex: LogIndex,
    private lastTerm: Term,
  ) {
    this.db = db;
    this.nodeId = options.nodeId;
    this.clusterId = options.clusterId;
    this.updateHardState = db.prepare('UPDATE raft_hard_state SET current_term = ?, voted_for = ? WHERE id = 1');
    this.deleteFrom = db.prepare('DELETE FROM raft_entries WHERE idx >= ?');
    // A plain INSERT, not REPLACE: a batch that would overwrite without truncating is a bug to hear about.
    this.insert = db.prepare('INSERT INTO raft_entries (idx, term, command) VALUES (?, ?, ?)');
    this.selectTerm = db.prepare<[LogIndex], Term>('SELECT term FROM raft_entries WHERE idx = ?').pluck();
    this.selectHardState = db.prepare<[], unknown[]>('SELECT current_term, voted_for FROM raft_hard_state').raw();
    this.selectEntries = db.prepare<[], unknown[]>('SELECT idx, term, command FROM raft_entries ORDER BY idx').raw();
    this.commit = db.transaction((plan: Plan) => {
      if (plan.hardState !== undefined) this.updateHardState.run(plan.hardState.currentTerm, plan.hardState.votedFor);
      if (plan.cut !== undefined) this.deleteFrom.run(plan.cut);
      for (const row of plan.rows) this.insert.run(...row);
    });
  }

  /** Everything on disk, checked: a log that breaks a Raft log's rules is refused, not repaired. */
  load(): PersistedState<C> {
    this.usable();
    const hardState = checkedHardState(this.selectHardState.all(), this.dataDir, this.file);
    const rows = this.selectEntries.all();
    const entries: LogEntry<C>[] = new Array(rows.length);
    let previousTerm = 0;
    for (let i = 0; i < rows.length; i++) {
      const [index, term, text] = rows[i] as unknown[];
      const fail = (what: string) => invalidLog(this.dataDir, this.file, `the entry at position ${i + 1} ${what}`);
      if (index !== i + 1) throw fail(`has index ${String(index)}; a log is contiguous from index 1`);
      if (!isTerm(term) || term < 1) throw fail(`(index ${index}) has term ${String(term)}; a term is an integer ≥ 1`);
      if (term < previousTerm) throw fail(`(index ${index}) has term ${term} after term ${previousTerm}; terms never decrease along a log`);
      if (term > hardState.currentTerm) throw fail(`(index ${index}) has term ${term}, above currentTerm ${hardState.currentTerm}`);
      let command: C;
      try {
        command = JSON.parse(text as string) as C;
      } catch {
        throw fail(`(index ${index}) holds a command that is not JSON`);
      }
      entries[i] = { index: i + 1, term, command };
      previousTerm = term;
    }
    return { hardState, entries };
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
    if (plan.hardState !== undefined) this.hardState = plan.hardState;
    this.lastIndex = plan.lastIndex;
    this.lastTerm = plan.lastTerm;
    this.writes++;
  }

  /** Idempotent. The WAL is checkpointed into raft.db and the lock released. */
  close(): void {
    const db = this.db;
    this.db = undefined;
    db?.close();
  }

  get closed(): boolean {
    return this.db === undefined;
  }

  stats(): SqliteStorageStats {
    this.usable();
    return {
      entryCount: this.lastIndex, // contiguous from 1: the count is the last index
      lastIndex: this.lastIndex,
      lastTerm: this.lastTerm,
      currentTerm: this.hardState.currentTerm,
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

  /** Check the batch against the log and serialize it; nothing is written here. */
  private plan(batch: PersistBatch<C>): Plan {
    const refuse = (what: string) => new StorageError('storage_batch_invalid', `storage: refused a batch (nothing was written): ${what}`, this.dataDir);
    const { hardState, entries } = batch;
    let checked: { kept: LogIndex; lastTerm: Term };
    try {
      if (batch.snapshot !== undefined) throw new RangeError('snapshots are not stored by this version of SqliteStorage yet');
      checked = checkBatch(batch, {
        snapshotIndex: 0,
        snapshotTerm: 0,
        lastIndex: this.lastIndex,
        currentTerm: this.hardState.currentTerm,
        termAt: (index) => (index === this.lastIndex ? this.lastTerm : (this.selectTerm.get(index) ?? 0)),
      });
    } catch (error) {
      throw refuse((error as Error).message);
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
    return { hardState, cut: kept < this.lastIndex ? kept + 1 : undefined, rows, lastIndex: kept + entries.length, lastTerm };
  }
}

// ------------------------------------------------------------ opening

const RESTORE =
  'xstate-raft will not reset it. Stop this node and restore its data directory from a backup; if there is none, ' +
  'move the directory aside and start the node empty only while a majority of the other nodes is healthy ' +
  '(an empty node has forgotten its votes and its log).';

/** Check the file, then create or check the schema and metadata; returns what write() needs to know. */
function prepare(db: Database.Database, dir: string, file: string, options: SqliteStorageOptions) {
  // Must precede the first read: the lock is then taken at once and held until close.
  db.pragma('locking_mode = EXCLUSIVE');
  const problems = (db.pragma('quick_check') as { quick_check: string }[]).map((row) => row.quick_check).filter((line) => line !== 'ok');
  if (problems.length > 0) {
    throw new StorageError('storage_corrupt', `${file} is corrupt (quick_check: ${problems.slice(0, 3).join('; ')}). ${RESTORE}`, dir);
  }
  const tables = (db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name").pluck().all() as string[]);
  if (tables.length === 0) {
    // A new database (or one a crash left before its first transaction): create it in one transaction.
    setDurability(db, dir, file);
    db.transaction(() => {
      db.exec(SCHEMA);
      const meta = db.prepare('INSERT INTO raft_meta (key, value) VALUES (?, ?)');
      meta.run('format_version', String(SQLITE_FORMAT_VERSION));
      meta.run('cluster_id', options.clusterId);
      meta.run('node_id', options.nodeId);
    })();
  } else {
    // Check before changing anything, so a foreign file is left exactly as it was.
    checkMetadata(db, dir, file, tables, options);
    setDurability(db, dir, file);
  }
  const hardState = checkedHardState(db.prepare('SELECT current_term, voted_for FROM raft_hard_state').raw().all() as unknown[][], dir, file);
  const last = db.prepare('SELECT idx, term FROM raft_entries ORDER BY idx DESC LIMIT 1').raw().get() as [LogIndex, Term] | undefined;
  return { hardState, lastIndex: last?.[0] ?? 0, lastTerm: last?.[1] ?? 0 };
}

function setDurability(db: Database.Database, dir: string, file: string): void {
  const mode = db.pragma('journal_mode = WAL', { simple: true });
  if (mode !== 'wal') throw new StorageError('storage_io', `${file} cannot use a write-ahead log (journal_mode is ${String(mode)}); put the data directory on a local file system`, dir);
  // FULL: the WAL is fsynced at every commit, so a batch acknowledged is a batch on disk.
  db.pragma('synchronous = FULL');
  // macOS: fsync does not reach the platter without F_FULLFSYNC. A no-op elsewhere.
  db.pragma('fullfsync = ON');
  db.pragma('checkpoint_fullfsync = ON');
}

function checkMetadata(db: Database.Database, dir: string, file: string, tables: readonly string[], options: SqliteStorageOptions): void {
  if (!tables.includes('raft_meta')) {
    throw new StorageError(
      'storage_not_raft_data',
      `${file} is a SQLite database but not an xstate-raft data file (no raft_meta table; it has ${tables.join(', ')}). ` +
        'Give this node its own data directory (an empty or missing one for a new node).',
      dir,
    );
  }
  const meta = new Map(db.prepare('SELECT key, value FROM raft_meta').raw().all() as [string, string][]);
  const damaged = (what: string) => new StorageError('storage_metadata_invalid', `${file} has damaged xstate-raft metadata: ${what}. ${RESTORE}`, dir);
  const version = meta.get('format_version');
  if (version === undefined) throw damaged('format_version is missing');
  if (!/^[1-9][0-9]{0,8}$/.test(version)) throw damaged(`format_version is ${JSON.stringify(version)}`);
  if (Number(version) > SQLITE_FORMAT_VERSION) {
    throw new StorageError(
      'storage_format_too_new',
      `${file} is in storage format version ${version}, written by a newer xstate-raft; this version reads format ${SQLITE_FORMAT_VERSION} only. ` +
        'Run this node with the newer xstate-raft that wrote it; do not delete or reset the directory.',
      dir,
    );
  }
  for (const table of TABLES) if (!tables.includes(table)) throw damaged(`table ${table} is missing`);
  const clusterId = meta.get('cluster_id');
  const nodeId = meta.get('node_id');
  if (clusterId === undefined || clusterId === '') throw damaged('cluster_id is missing');
  if (nodeId === undefined || nodeId === '') throw damaged('node_id is missing');
  if (clusterId !== options.clusterId) {
    throw new StorageError(
      'storage_cluster_mismatch',
      `this data directory belongs to cluster ${JSON.stringify(clusterId)}, not ${JSON.stringify(options.clusterId)} (${dir}). ` +
        `Point this node at its own data directory for cluster ${JSON.stringify(options.clusterId)}, or check the cluster id it was started with.`,
      dir,
    );
  }
  if (nodeId !== options.nodeId) {
    throw new StorageError(
      'storage_node_mismatch',
      `this data directory belongs to node ${JSON.stringify(nodeId)}, not ${JSON.stringify(options.nodeId)} (${dir}, cluster ${JSON.stringify(clusterId)}). ` +
        `Start node ${JSON.stringify(options.nodeId)} with its own data directory, or start this one as node ${JSON.stringify(nodeId)}.`,
      dir,
    );
  }
}

function checkedHardState(rows: unknown[][], dir: string, file: string): HardState {
  const [row, extra] = rows;
  if (row === undefined || extra !== undefined) throw new StorageError('storage_metadata_invalid', `${file} holds ${rows.length} hard-state rows instead of one. ${RESTORE}`, dir);
  const [currentTerm, votedFor] = row;
  if (!isTerm(currentTerm) || !(votedFor === null || typeof votedFor === 'string')) {
    throw new StorageError('storage_metadata_invalid', `${file} holds a damaged hard state (currentTerm ${String(currentTerm)}, votedFor ${String(votedFor)}). ${RESTORE}`, dir);
  }
  return { currentTerm, votedFor };
}

function invalidLog(dir: string, file: string, what: string): StorageError {
  return new StorageError('storage_log_invalid', `${file} holds an invalid log: ${what}. ${RESTORE}`, dir);
}

/** Map a SQLite or file-system error to what it means for the operator. */
function translate(error: unknown, dir: string, file: string, doing: string): StorageError {
  if (error instanceof StorageError) return error;
  const code = (error as { code?: unknown }).code;
  const is = (prefix: string) => typeof code === 'string' && code.startsWith(prefix);
  if (is('SQLITE_NOTADB')) {
    return new StorageError('storage_corrupt', `${file} is not a SQLite database, or its header is damaged (${describe(error)}). ${RESTORE}`, dir, error);
  }
  if (is('SQLITE_CORRUPT')) return new StorageError('storage_corrupt', `${file} is corrupt (${describe(error)}). ${RESTORE}`, dir, error);
  if (is('SQLITE_BUSY') || is('SQLITE_LOCKED')) {
    return new StorageError(
      'storage_locked',
      `${file} is in use by another process (${describe(error)}). Stop the other node using ${dir}, or give this node its own data directory.`,
      dir,
      error,
    );
  }
  return new StorageError('storage_io', `${doing}: ${describe(error)}. Check the disk (space, permissions, health) and restart the node.`, dir, error);
}

function isTerm(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function fileSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}
