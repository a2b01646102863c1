/**
 * A snapshot written ahead of the batch that records it, on SqliteStorage (see SnapshotStaging in
 * storage.ts). Its chunks go into raft_snapshot_chunks under a chunk set of their own, which
 * raft_snapshot_staging lists as 'staged', so nothing reads them: load() reads only the chunk set
 * the snapshot row names. Each call writes one chunk in its own small transaction; the batch that
 * records the snapshot (SqliteStorage.write, "the flip") points the snapshot row at this set, lists
 * the replaced set as 'retired' and drops the log the snapshot covers, all in one transaction; then
 * `tidyNext` deletes the retired set a chunk per call. Open deletes every listed set, so a process
 * killed at any instant leaves the old snapshot with its whole log or the new one with the rest.
 *
 * Durability: the chunk and tidying transactions commit without their own fsync (synchronous =
 * NORMAL). That is safe because nothing depends on them until the flip, which commits with
 * synchronous = FULL: its fsync of the write-ahead log makes every frame before it durable too, and
 * a set whose transactions a power loss undid is still listed, so open removes what is left of it.
 */
import type Database from 'better-sqlite3';
import type { LogIndex, Term } from '../core/types.js';
import type { SnapshotStaging, StagedSnapshotId } from './storage.js';

/** The most characters (UTF-16 code units) of a staged snapshot one chunk, one transaction, holds: 256 KiB. */
export const STAGED_CHUNK_CHARS = 1 << 18;

/** What a staging needs from its storage. */
export interface StagingHost {
  /** Throws a StorageError if the storage is closed or failed. */
  usable(): void;
  readonly open: boolean;
  /** Run `fn` as one transaction without its own fsync; a failure makes the storage refuse further use. */
  lightTransaction(fn: () => void): void;
  insertChunk(set: number, seq: number, data: string): void;
  deleteChunk(set: number, seq: number): void;
  deleteChunkSet(set: number): void;
  unlist(set: number): void;
  /** The staging is over (discarded or tidied): the storage stops holding it. */
  forget(staging: SqliteSnapshotStaging): void;
  refuse(what: string): Error;
}

/** What the storage lends its stagings: its failure rule, and how to let go of one. */
export interface StagingOwner {
  usable(): void;
  /** Record a failed transaction (the storage then refuses further use); returns the error to throw. */
  failed(error: unknown): Error;
  forget(staging: SqliteSnapshotStaging): void;
  refuse(what: string): Error;
}

/** The statements and transactions stagings use, on the storage's connection. */
export function stagingHost(db: Database.Database, owner: StagingOwner): StagingHost {
  const insertChunk = db.prepare<[number, number, string]>('INSERT INTO raft_snapshot_chunks (chunk_set, seq, data) VALUES (?, ?, ?)');
  const deleteChunk = db.prepare<[number, number]>('DELETE FROM raft_snapshot_chunks WHERE chunk_set = ? AND seq = ?');
  const deleteChunkSet = db.prepare<[number]>('DELETE FROM raft_snapshot_chunks WHERE chunk_set = ?');
  const unlist = db.prepare<[number]>('DELETE FROM raft_snapshot_staging WHERE chunk_set = ?');
  const run = db.transaction((fn: () => void) => fn());
  return {
    usable: () => owner.usable(),
    get open() {
      return db.open;
    },
    lightTransaction(fn) {
      owner.usable();
      // No fsync of its own: the flip's (synchronous = FULL) makes it durable (see above). SQLite's
      // own checkpoints (every ~1000 pages) still fsync; a smaller autocheckpoint would make every
      // 256 KiB chunk (65 pages) a checkpoint of its own, three fsyncs per chunk instead of none.
      db.pragma('synchronous = NORMAL');
      let failure: unknown;
      try {
        run(fn);
      } catch (error) {
        failure = error;
      }
      // Every batch (votes, entries, the flip) must commit with an fsync: if FULL cannot be set
      // back, the storage refuses any further use rather than go on without it.
      try {
        db.pragma('synchronous = FULL');
        if (db.pragma('synchronous', { simple: true }) !== 2) throw new Error('synchronous is not FULL after a staging write');
      } catch (error) {
        failure ??= error;
      }
      if (failure !== undefined) throw owner.failed(failure);
    },
    insertChunk: (set, seq, data) => void insertChunk.run(set, seq, data),
    deleteChunk: (set, seq) => void deleteChunk.run(set, seq),
    deleteChunkSet: (set) => void deleteChunkSet.run(set),
    unlist: (set) => void unlist.run(set),
    forget: (staging) => owner.forget(staging),
    refuse: (what) => owner.refuse(what),
  };
}

type Phase = 'writing' | 'written' | 'recorded' | 'over';

export class SqliteSnapshotStaging implements SnapshotStaging {
  private phase: Phase;
  private data: string;
  /** Where the chunks written so far end (found one at a time: the first look at a large string may copy it whole). */
  private readonly ends: number[] = [];
  private utf8 = 0;
  /** After the flip: the replaced snapshot's chunk set (0: none) and how many of its chunks are deleted. */
  private retired = { set: 0, chunks: 0, deleted: 0 };
  readonly length: number;

  constructor(
    private readonly host: StagingHost,
    readonly id: StagedSnapshotId,
    readonly index: LogIndex,
    readonly term: Term,
    data: string,
  ) {
    this.data = data;
    this.length = data.length;
    this.phase = data.length === 0 ? 'written' : 'writing';
  }

  get bytes(): number {
    return this.utf8;
  }

  /** Chunks written (all of them once complete). */
  get chunks(): number {
    return this.ends.length;
  }

  /** Written whole and not yet recorded: a batch may flip it in. */
  get complete(): boolean {
    return this.phase === 'written';
  }

  writeNext(): boolean {
    if (this.phase !== 'writing') {
      if (this.phase === 'written') return true;
      throw this.host.refuse(`staged snapshot ${this.id} is ${this.phase === 'recorded' ? 'recorded already' : 'discarded'}; there is nothing more to write`);
    }
    this.host.usable();
    const seq = this.ends.length;
    const start = this.ends[seq - 1] ?? 0;
    const end = chunkEnd(this.data, start, STAGED_CHUNK_CHARS);
    const piece = this.data.slice(start, end);
    // SQLite keeps text as UTF-8: a lone surrogate would come back as U+FFFD, a changed snapshot.
    if (!(piece as string & { isWellFormed(): boolean }).isWellFormed()) {
      this.discard();
      throw this.host.refuse(`the snapshot's data at index ${this.index} is not well-formed UTF-16 (a lone surrogate) and cannot be stored as text; nothing of it was kept`);
    }
    this.host.lightTransaction(() => this.host.insertChunk(this.id, seq, piece));
    this.utf8 += Buffer.byteLength(piece, 'utf8');
    this.ends.push(end);
    if (end === this.length) this.phase = 'written';
    return this.phase === 'written';
  }

  /** The batch that records it is on disk; `retiredSet` (0: none) held the snapshot it replaced. */
  recorded(retiredSet: number, retiredChunks: number): void {
    this.phase = 'recorded';
    this.data = ''; // the node holds the snapshot's text; the storage need not
    this.retired = { set: retiredSet, chunks: retiredChunks, deleted: 0 };
  }

  tidyNext(): boolean {
    if (this.phase === 'over') return true;
    if (this.phase !== 'recorded') throw this.host.refuse(`staged snapshot ${this.id} is not recorded yet; there is nothing to tidy`);
    this.host.usable();
    const retired = this.retired;
    if (retired.set !== 0 && retired.deleted < retired.chunks) {
      this.host.lightTransaction(() => this.host.deleteChunk(retired.set, retired.deleted));
      retired.deleted++;
      if (retired.deleted < retired.chunks) return false;
    }
    this.finish();
    return true;
  }

  discard(): void {
    if (this.phase === 'over') return;
    try {
      if (this.host.open) this.finish();
    } catch {
      // Left listed on disk: the next open deletes it.
    }
    this.phase = 'over';
    this.data = '';
    this.host.forget(this);
  }

  /** Delete what is left of the set this staging still owns — its own before the flip, the retired one after — and unlist it. */
  private finish(): void {
    const set = this.phase === 'recorded' ? this.retired.set : this.id;
    if (set !== 0) {
      this.host.lightTransaction(() => {
        this.host.deleteChunkSet(set);
        this.host.unlist(set);
      });
    }
    this.phase = 'over';
    this.data = '';
    this.host.forget(this);
  }
}

/** Where each chunk of `data` ends: at most `most` characters each, never inside a surrogate pair. */
export function chunkEnds(data: string, most: number): number[] {
  const ends: number[] = [];
  for (let at = 0; at < data.length; at = ends[ends.length - 1] as number) ends.push(chunkEnd(data, at, most));
  return ends;
}

/** Where the chunk of `data` starting at `at` ends (at most `most` characters on). */
export function chunkEnd(data: string, at: number, most: number): number {
  let end = Math.min(at + most, data.length);
  // Each chunk is converted to UTF-8 on its own: half a pair would be stored as U+FFFD.
  const last = data.charCodeAt(end - 1);
  if (end < data.length && last >= 0xd800 && last <= 0xdbff) end--;
  return end;
}
