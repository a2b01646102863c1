/**
 * The on-disk format of SqliteStorage (src/storage/sqlite.ts) and how a data directory is opened:
 * created new, checked (a foreign, damaged or newer file is refused, never reset), or upgraded in
 * place from an older format version. Also the StorageError every refusal is reported with.
 *
 * Format versions:
 * - 1: metadata, hard state, the log from index 1.
 * - 2: adds the latest snapshot (raft_snapshot: index, term, chunk count and length) and its data
 *   in chunks (raft_snapshot_chunks, keyed by (snapshot_idx, seq)); the log is kept from
 *   snapshot index + 1.
 * - 3: chunks belong to a chunk set (raft_snapshot_chunks keyed by (chunk_set, seq); the snapshot
 *   row names its set), so a snapshot can be written ahead of the batch that records it:
 *   raft_snapshot_staging lists the sets that are no snapshot's — being staged, or retired by the
 *   snapshot that replaced them and being deleted. Those are never loaded, and open deletes them
 *   (a process died before their flip, or while tidying).
 * An older directory is upgraded on open, in one transaction.
 */
import type Database from 'better-sqlite3';
import { statSync } from 'node:fs';
import type { HardState, LogIndex, NodeId, Term } from '../core/types.js';
import { RaftError } from '../errors.js';

/** The on-disk format this code writes and the newest it can read. */
export const SQLITE_FORMAT_VERSION = 3;
/** The database file inside the data directory. */
export const SQLITE_FILE_NAME = 'raft.db';

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
  /** The stored log or snapshot breaks a rule every Raft log keeps (contiguous, terms never decrease, …). */
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

  constructor(
    code: StorageErrorCode,
    message: string,
    readonly path: string,
    cause?: unknown,
  ) {
    super(code, message);
    if (cause !== undefined) this.cause = cause;
  }
}

export interface SqliteStorageOptions {
  /** This node's id; the directory remembers it and refuses to be opened by another node. */
  nodeId: NodeId;
  /**
   * The cluster's id. A new directory stores it; an existing one must hold the same id
   * (`storage_cluster_mismatch` otherwise) — unless `keepClusterId`.
   */
  clusterId: string;
  /**
   * An existing directory keeps the cluster id it holds, whatever `clusterId` says (which then
   * only names a new directory's). For a caller that derives the id rather than knowing it: the
   * id is the bootstrapped cluster's, and a membership change never invalidates a directory.
   * Default false.
   */
  keepClusterId?: boolean;
}

/** Chunk sets that are no snapshot's: 'staged' (written ahead, not yet recorded) or 'retired' (replaced, being deleted). */
const STAGING_TABLE = `
  CREATE TABLE raft_snapshot_staging (
    chunk_set INTEGER PRIMARY KEY CHECK (chunk_set >= 1),
    purpose TEXT NOT NULL CHECK (purpose IN ('staged', 'retired'))
  ) STRICT;
`;

const SCHEMA_V1 = `
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
/**
 * The snapshot tables of version 3 (a version-1 directory gains them as they are). `chunks` and
 * `length` (in UTF-16 code units) let load tell a whole snapshot from a partial one.
 */
const SNAPSHOT_TABLES_V3 = `
  CREATE TABLE raft_snapshot (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    idx INTEGER NOT NULL CHECK (idx >= 1),
    term INTEGER NOT NULL CHECK (term >= 1),
    chunks INTEGER NOT NULL CHECK (chunks >= 0),
    length INTEGER NOT NULL CHECK (length >= 0),
    chunk_set INTEGER NOT NULL CHECK (chunk_set >= 1)
  ) STRICT;
  CREATE TABLE raft_snapshot_chunks (
    chunk_set INTEGER NOT NULL,
    seq INTEGER NOT NULL CHECK (seq >= 0),
    data TEXT NOT NULL,
    PRIMARY KEY (chunk_set, seq)
  ) STRICT;
  ${STAGING_TABLE}
`;
/** Version 2 keyed chunks by their snapshot's index: that index becomes the set's id. */
const UPGRADE_V2_TO_V3 = `
  ALTER TABLE raft_snapshot_chunks RENAME COLUMN snapshot_idx TO chunk_set;
  ALTER TABLE raft_snapshot ADD COLUMN chunk_set INTEGER NOT NULL DEFAULT 1 CHECK (chunk_set >= 1);
  UPDATE raft_snapshot SET chunk_set = idx;
  ${STAGING_TABLE}
`;
const TABLES_V1 = ['raft_meta', 'raft_hard_state', 'raft_entries'] as const;
const TABLES_V2 = [...TABLES_V1, 'raft_snapshot', 'raft_snapshot_chunks'] as const;
const TABLES_V3 = [...TABLES_V2, 'raft_snapshot_staging'] as const;
const TABLES = { 1: TABLES_V1, 2: TABLES_V2, 3: TABLES_V3 } as const;

export const RESTORE =
  'xstate-raft will not reset it. Stop this node and restore its data directory from a backup; if there is none, ' +
  'move the directory aside and start the node empty only while a majority of the other nodes is healthy ' +
  '(an empty node has forgotten its votes and its log).';

/** What write() needs to know about the directory it opened. */
export interface OpenedState {
  /** The cluster id the directory holds (the one it was created with). */
  clusterId: string;
  hardState: HardState;
  snapshotIndex: LogIndex;
  snapshotTerm: Term;
  /** The stored snapshot's data length (0 without one). */
  snapshotLength: number;
  /** The stored snapshot's chunk set and its number of chunks (0 and 0 without one). */
  chunkSet: number;
  chunkCount: number;
  /** An id no chunk set on disk has. */
  nextChunkSet: number;
  lastIndex: LogIndex;
  lastTerm: Term;
}

/** Check the file, then create, check or upgrade the schema and metadata. */
export function prepare(db: Database.Database, dir: string, file: string, options: SqliteStorageOptions): OpenedState {
  // Must precede the first read: the lock is then taken at once and held until close.
  db.pragma('locking_mode = EXCLUSIVE');
  const problems = (db.pragma('quick_check') as { quick_check: string }[]).map((row) => row.quick_check).filter((line) => line !== 'ok');
  if (problems.length > 0) {
    throw new StorageError('storage_corrupt', `${file} is corrupt (quick_check: ${problems.slice(0, 3).join('; ')}). ${RESTORE}`, dir);
  }
  const tables = db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name").pluck().all() as string[];
  if (tables.length === 0) {
    // A new database (or one a crash left before its first transaction): create it in one transaction.
    setDurability(db, dir, file);
    db.transaction(() => {
      db.exec(SCHEMA_V1 + SNAPSHOT_TABLES_V3);
      const meta = db.prepare('INSERT INTO raft_meta (key, value) VALUES (?, ?)');
      meta.run('format_version', String(SQLITE_FORMAT_VERSION));
      meta.run('cluster_id', options.clusterId);
      meta.run('node_id', options.nodeId);
    })();
  } else {
    // Check before changing anything, so a foreign or damaged file is left exactly as it was.
    const version = checkMetadata(db, dir, file, tables, options);
    setDurability(db, dir, file);
    if (version < SQLITE_FORMAT_VERSION) {
      // Upgrade in place: the new tables and the new version together, or neither (a crash here
      // leaves the older directory that the next open upgrades again).
      db.transaction(() => {
        db.exec(version === 1 ? SNAPSHOT_TABLES_V3 : UPGRADE_V2_TO_V3);
        db.prepare("UPDATE raft_meta SET value = ? WHERE key = 'format_version'").run(String(SQLITE_FORMAT_VERSION));
      })();
    }
  }
  // Staged sets a process died before recording, retired ones it died before deleting: never
  // anybody's snapshot, so they go (one transaction; skipped when there are none, as usual).
  if (db.prepare('SELECT 1 FROM raft_snapshot_staging LIMIT 1').pluck().get() !== undefined) {
    db.transaction(() => {
      // Never the live snapshot's set (only a damaged file lists it): its chunks are never deleted here.
      db.exec(
        'DELETE FROM raft_snapshot_chunks WHERE chunk_set IN (SELECT chunk_set FROM raft_snapshot_staging) AND chunk_set NOT IN (SELECT chunk_set FROM raft_snapshot); ' +
          'DELETE FROM raft_snapshot_staging WHERE chunk_set NOT IN (SELECT chunk_set FROM raft_snapshot);',
      );
    })();
  }
  const hardState = checkedHardState(db.prepare('SELECT current_term, voted_for FROM raft_hard_state').raw().all() as unknown[][], dir, file);
  const snapshot = db.prepare('SELECT idx, term, length, chunk_set, chunks FROM raft_snapshot').raw().get() as [LogIndex, Term, number, number, number] | undefined;
  const last = db.prepare('SELECT idx, term FROM raft_entries ORDER BY idx DESC LIMIT 1').raw().get() as [LogIndex, Term] | undefined;
  const highestSet = db.prepare('SELECT max(chunk_set) FROM raft_snapshot_chunks').pluck().get() as number | null;
  const [snapshotIndex, snapshotTerm, snapshotLength, chunkSet, chunkCount] = snapshot ?? [0, 0, 0, 0, 0];
  // Without entries after it, the log ends at the snapshot. (load() refuses entries that do not continue it.)
  const [lastIndex, lastTerm] = last ?? [snapshotIndex, snapshotTerm];
  const nextChunkSet = Math.max(isTerm(highestSet) ? highestSet : 0, isTerm(chunkSet) ? chunkSet : 0) + 1;
  const clusterId = db.prepare("SELECT value FROM raft_meta WHERE key = 'cluster_id'").pluck().get() as string;
  return { clusterId, hardState, snapshotIndex, snapshotTerm, snapshotLength, chunkSet, chunkCount, nextChunkSet, lastIndex, lastTerm };
}

/**
 * The cluster id a data directory holds, or undefined when it holds no node's data yet (no
 * raft.db, or one a crash left before its first transaction). Changes nothing; a directory
 * another process has open is refused (storage_locked), anything else wrong is left to open().
 */
export function storedClusterId(db: Database.Database): string | undefined {
  const tables = db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table'").pluck().all() as string[];
  if (!tables.includes('raft_meta')) return undefined;
  const id = db.prepare("SELECT value FROM raft_meta WHERE key = 'cluster_id'").pluck().get();
  return typeof id === 'string' && id !== '' ? id : undefined;
}

function setDurability(db: Database.Database, dir: string, file: string): void {
  const mode = db.pragma('journal_mode = WAL', { simple: true });
  if (mode !== 'wal')
    throw new StorageError('storage_io', `${file} cannot use a write-ahead log (journal_mode is ${String(mode)}); put the data directory on a local file system`, dir);
  // FULL: the WAL is fsynced at every commit, so a batch acknowledged is a batch on disk.
  db.pragma('synchronous = FULL');
  // macOS: fsync does not reach the platter without F_FULLFSYNC. A no-op elsewhere.
  db.pragma('fullfsync = ON');
  db.pragma('checkpoint_fullfsync = ON');
}

/** Returns the directory's format version (1 to 3) once everything else checks out. */
function checkMetadata(db: Database.Database, dir: string, file: string, tables: readonly string[], options: SqliteStorageOptions): number {
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
  const text = meta.get('format_version');
  if (text === undefined) throw damaged('format_version is missing');
  if (!/^[1-9][0-9]{0,8}$/.test(text)) throw damaged(`format_version is ${JSON.stringify(text)}`);
  const version = Number(text);
  if (version > SQLITE_FORMAT_VERSION) {
    throw new StorageError(
      'storage_format_too_new',
      `${file} is in storage format version ${version}, written by a newer xstate-raft; this version reads formats 1 to ${SQLITE_FORMAT_VERSION} only. ` +
        'Run this node with the newer xstate-raft that wrote it; do not delete or reset the directory.',
      dir,
    );
  }
  const own: readonly string[] = TABLES[version as keyof typeof TABLES];
  for (const table of own) if (!tables.includes(table)) throw damaged(`table ${table} is missing`);
  // A table of a later version was made by something else, and upgrading would fail or mix.
  for (const table of TABLES_V3) if (!own.includes(table) && tables.includes(table)) throw damaged(`format_version is ${version} but table ${table} exists`);
  const clusterId = meta.get('cluster_id');
  const nodeId = meta.get('node_id');
  if (clusterId === undefined || clusterId === '') throw damaged('cluster_id is missing');
  if (nodeId === undefined || nodeId === '') throw damaged('node_id is missing');
  if (clusterId !== options.clusterId && !options.keepClusterId) {
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
  return version;
}

export function checkedHardState(rows: unknown[][], dir: string, file: string): HardState {
  const [row, extra] = rows;
  if (row === undefined || extra !== undefined) throw new StorageError('storage_metadata_invalid', `${file} holds ${rows.length} hard-state rows instead of one. ${RESTORE}`, dir);
  const [currentTerm, votedFor] = row;
  if (!isTerm(currentTerm) || !(votedFor === null || typeof votedFor === 'string')) {
    throw new StorageError('storage_metadata_invalid', `${file} holds a damaged hard state (currentTerm ${String(currentTerm)}, votedFor ${String(votedFor)}). ${RESTORE}`, dir);
  }
  return { currentTerm, votedFor };
}

export function invalidLog(dir: string, file: string, what: string): StorageError {
  return new StorageError('storage_log_invalid', `${file} holds an invalid log: ${what}. ${RESTORE}`, dir);
}

/** Map a SQLite or file-system error to what it means for the operator. */
export function translate(error: unknown, dir: string, file: string, doing: string): StorageError {
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

export function isTerm(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

export function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export function fileSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}
