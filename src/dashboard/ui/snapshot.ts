/**
 * Snapshots in words: a size, the block before a node's log strip, and what an InstallSnapshot
 * chunk or its result says — "chunk 2/5" on the ring, a line in the cluster log.
 *
 * A leader cuts its snapshot into chunks of one size, the last one shorter (src/core/replication.ts,
 * nextSnapshotChunk), and sends them one at a time, each once its predecessor is answered — and
 * again after SNAPSHOT_RESEND_HEARTBEATS unanswered heartbeats (a lost chunk must not stall the
 * transfer; the heartbeats between are empty AppendEntries). So a
 * chunk's number is its offset over the chunk size, and the count is the snapshot's length over
 * it; the last chunk alone does not tell the size, so the size seen on that transfer's earlier
 * chunks is kept. Lengths are the snapshot's serialized characters (bytes for ASCII JSON).
 */
import type { NodeUp, RpcEvent } from './types.js';

/** A line said again within this long of its last sighting is a resend: not said again. */
const QUIET_MS = 10_000;
/** Transfers and lines remembered at most (the oldest are forgotten). */
const REMEMBERED = 200;

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}

/** What a node card's snapshot block says: the index, then its term and size. */
export function snapshotBlock(node: NodeUp | undefined): { state: 'unknown' | 'none' | 'taken'; at: string; meta: string; title: string } {
  if (node === undefined) return { state: 'unknown', at: '–', meta: '', title: '' };
  const index = node.snapshotIndex ?? 0;
  if (index === 0) return { state: 'none', at: 'no snapshot', meta: 'whole log kept', title: 'No snapshot yet: the node keeps its whole log' };
  const term = node.snapshotTerm ?? 0;
  const size = node.snapshotBytes !== undefined ? formatBytes(node.snapshotBytes) : undefined;
  const held = node.lastLogIndex > index ? `the log holds ${index + 1}–${node.lastLogIndex}` : 'the log holds no entry after it';
  return {
    state: 'taken',
    at: `snapshot at ${index}`,
    meta: size !== undefined ? `term ${term} · ${size}` : `term ${term}`,
    title: `Entries 1–${index} are compacted into a snapshot (last included term ${term}${node.snapshotBytes !== undefined ? `, ${node.snapshotBytes} bytes` : ''}); ${held}`,
  };
}

export interface SnapshotWords {
  /** Drawn beside the chunk's dot: "2/5". */
  caption?: string;
  /** The dot's label: "snapshot at 120 (chunk 2/5)". */
  label: string;
  /** For the cluster log, unless it was just said (a resend). */
  line?: string;
}

/** Words for InstallSnapshot messages; remembers each transfer's chunk size and what it said. */
export class SnapshotTransfers {
  private readonly chunkSizes = new Map<string, number>();
  private readonly said = new Map<string, number>();

  /** Undefined for any other message. */
  observe(m: RpcEvent, now: number): SnapshotWords | undefined {
    const part = m.snapshot;
    if (part === undefined) return undefined;
    if (m.type === 'rpc.installSnapshot') {
      const transfer = `${m.from}>${m.to} ${part.index}`;
      const bytes = part.bytes ?? 0;
      if (part.done !== true && bytes > 0) remember(this.chunkSizes, transfer, bytes);
      const size = part.done === true && part.offset === 0 ? Math.max(1, bytes) : this.chunkSizes.get(transfer);
      const n = size !== undefined ? Math.floor(part.offset / size) + 1 : undefined;
      const of = part.done === true ? n : size !== undefined && part.total !== undefined ? Math.ceil(part.total / size) : undefined;
      const place = n === undefined ? 'last chunk' : of !== undefined ? `chunk ${n}/${of}` : `chunk ${n}`;
      const amount = part.total !== undefined ? `${formatBytes(bytes)} of ${formatBytes(part.total)}` : formatBytes(bytes);
      const line = `${m.from} → ${m.to}: InstallSnapshot at ${part.index}${part.term !== undefined ? ` (term ${part.term})` : ''}, ${place} · ${amount}`;
      return { caption: n === undefined ? 'last' : of !== undefined ? `${n}/${of}` : String(n), label: `snapshot at ${part.index} (${place})`, ...this.say(line, now) };
    }
    if (m.type === 'rpc.installSnapshotResult') {
      if (m.success === true) return { label: `installed the snapshot at ${part.index}`, ...this.say(`${m.from} → ${m.to}: installed the snapshot at ${part.index}`, now) };
      // Taking the chunks one by one is the normal course: said on the ring, not in the log.
      if (part.offset > 0) return { label: `holds ${formatBytes(part.offset)} of the snapshot at ${part.index}` };
      return { label: `asks for the snapshot at ${part.index} from its start`, ...this.say(`${m.from} → ${m.to}: asks for the snapshot at ${part.index} from its start`, now) };
    }
    return undefined;
  }

  private say(line: string, now: number): { line?: string } {
    const last = this.said.get(line);
    remember(this.said, line, now);
    return last !== undefined && now - last < QUIET_MS ? {} : { line };
  }
}

function remember<V>(map: Map<string, V>, key: string, value: V): void {
  map.delete(key); // re-inserted last: the map's order is the order of last use
  map.set(key, value);
  if (map.size > REMEMBERED) map.delete(map.keys().next().value as string);
}
