/**
 * What a node shows about itself for dashboards, and the one switch they may pull:
 *
 *   GET  /debug/events   Server-Sent Events: `node` (the node's state, its log as terms, on every
 *                        change, at most every 50 ms) and `message` (one per RPC it sends)
 *   POST /admin/isolate  {"peers": [ids]}  refuse traffic to and from these peers (a real cut)
 *   POST /admin/rejoin   {"peers": [ids]}  (or no body: everyone)
 *   POST /admin/snapshot take a snapshot now and compact the log behind it: 200 {"index", "term"}
 *                        once it is on disk; 400 {"error": "invalid_request"} when there is nothing
 *                        to snapshot (nothing applied yet) or the node cannot snapshot
 *
 * With a cluster secret these need `Authorization: Bearer <secret>` (401 otherwise).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import type { RaftEffect } from '../../machines/raft-node.js';
import type { LogIndex, NodeId, RpcMessage, Term } from '../core/types.js';
import type { RaftNode } from '../runtime/raft-node.js';
import type { HttpTransport } from '../transport/http.js';
import { bearerMatches } from './auth.js';
import { HttpError, readJsonBody } from './body.js';
import { toHttpError } from './client-api.js';

const LOG_TAIL = 64;
const STATE_INTERVAL_MS = 50;

export interface NodeState {
  id: NodeId;
  up: true;
  role: string;
  term: number;
  votedFor: NodeId | null;
  leaderId: NodeId | null;
  commitIndex: number;
  lastApplied: number;
  lastLogIndex: number;
  /** The latest snapshot's last included index and term (0 and 0 without one): the log holds snapshotIndex + 1 on. */
  snapshotIndex: number;
  snapshotTerm: number;
  /** The snapshot's size in bytes, once it is on disk (absent before, and without a snapshot). */
  snapshotBytes?: number;
  /** The terms of the log's last entries (at most LOG_TAIL), from `start` (never before snapshotIndex + 1). */
  log: { start: number; terms: number[] };
  isolated: NodeId[];
  time: number;
}

export interface MessageEvent {
  from: NodeId;
  to: NodeId;
  type: RpcMessage['type'];
  term: number;
  entries?: number;
  success?: boolean;
  voteGranted?: boolean;
  preVote?: boolean;
  /**
   * InstallSnapshot: which snapshot (last included index and term), where this chunk starts, its
   * size, whether it is the last, and the whole snapshot's length when the sender still holds it.
   * Its result: which snapshot, and how much of it the follower holds (`offset`).
   */
  snapshot?: { index: number; term?: number; offset: number; bytes?: number; done?: boolean; total?: number };
  time: number;
}

/**
 * Summarize a sent RPC for a picture of it (no entries' contents, no snapshot data).
 * `snapshotLength`: the length of the sender's snapshot, when it is the one an InstallSnapshot sends.
 */
export function describeMessage(from: NodeId, to: NodeId, message: RpcMessage, time: number, snapshotLength?: number): MessageEvent {
  const base = { from, to, type: message.type, term: message.term, time };
  switch (message.type) {
    case 'rpc.appendEntries':
      return { ...base, entries: message.entries.length };
    case 'rpc.appendEntriesResult':
      return { ...base, success: message.success };
    case 'rpc.requestVote':
      return { ...base, ...(message.preVote ? { preVote: true } : {}) };
    case 'rpc.requestVoteResult':
      return { ...base, voteGranted: message.voteGranted, ...(message.preVote ? { preVote: true } : {}) };
    case 'rpc.installSnapshot':
      return {
        ...base,
        snapshot: {
          index: message.lastIncludedIndex,
          term: message.lastIncludedTerm,
          offset: message.offset,
          bytes: message.data.length,
          done: message.done,
          ...(snapshotLength !== undefined ? { total: snapshotLength } : {}),
        },
      };
    case 'rpc.installSnapshotResult':
      return { ...base, success: message.installed, snapshot: { index: message.lastIncludedIndex, offset: message.offset } };
    case 'rpc.timeoutNow':
      return base;
  }
}

type Listener = (event: string, data: unknown) => void;

export class NodeDebugHub {
  private readonly listeners = new Set<Listener>();
  private stateTimer: ReturnType<typeof setTimeout> | undefined;
  private lastState = '';

  constructor(
    private readonly node: Pick<RaftNode, 'id' | 'actor' | 'status'>,
    private readonly transport: Pick<HttpTransport, 'isolated'>,
    /** The latest stored snapshot's index and size (NodeMetrics.storedSnapshot); call refresh() when it changes. */
    private readonly storedSnapshot?: () => { index: number; bytes: number },
  ) {}

  /** Feed from the runtime's effect observer. Cheap when nobody listens. */
  observe(effect: RaftEffect): void {
    if (this.listeners.size === 0) return;
    if (effect.type === 'send') this.broadcast('message', describeMessage(this.node.id, effect.to, effect.message, Date.now(), this.snapshotLength(effect.message)));
    this.scheduleState();
  }

  /** The whole length of the snapshot an InstallSnapshot carries a chunk of, if it is the one this node holds. */
  private snapshotLength(message: RpcMessage): number | undefined {
    if (message.type !== 'rpc.installSnapshot') return undefined;
    const held = this.node.actor.getSnapshot().context.snapshot;
    return held?.index === message.lastIncludedIndex ? held.data.length : undefined;
  }

  state(): NodeState {
    const { context, value } = this.node.actor.getSnapshot();
    const log = context.log;
    // Never before the snapshot: the entries it covers are compacted (and slice() refuses them).
    const start = Math.max(log.firstIndex, log.lastIndex - LOG_TAIL + 1);
    const stored = this.storedSnapshot?.();
    return {
      id: this.node.id,
      up: true,
      role: String(value),
      term: context.currentTerm,
      votedFor: context.votedFor,
      leaderId: context.leaderId,
      commitIndex: context.commitIndex,
      lastApplied: this.node.status().lastApplied,
      lastLogIndex: log.lastIndex,
      snapshotIndex: log.snapshotIndex,
      snapshotTerm: log.snapshotTerm,
      // Its size once it is on disk (the log is compacted in the batch that stores it).
      ...(stored !== undefined && stored.index === log.snapshotIndex && stored.index > 0 ? { snapshotBytes: stored.bytes } : {}),
      log: { start, terms: log.slice(start).map((e) => e.term) },
      isolated: [...this.transport.isolated],
      time: Date.now(),
    };
  }

  /** Push the state now if it changed (e.g. after an isolate, which emits no effect). */
  refresh(): void {
    this.scheduleState(0);
  }

  stream(res: ServerResponse): void {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    res.write(': connected\n\n');
    const listener: Listener = (event, data) => res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    this.listeners.add(listener);
    listener('node', this.state());
    const keepAlive = setInterval(() => res.write(': ping\n\n'), 15_000);
    res.on('close', () => {
      clearInterval(keepAlive);
      this.listeners.delete(listener);
    });
  }

  close(): void {
    if (this.stateTimer) clearTimeout(this.stateTimer);
    this.listeners.clear();
  }

  private scheduleState(delay = STATE_INTERVAL_MS): void {
    if (this.stateTimer !== undefined) return;
    this.stateTimer = setTimeout(() => {
      this.stateTimer = undefined;
      const state = this.state();
      const key = JSON.stringify({ ...state, time: 0 });
      if (key === this.lastState) return;
      this.lastState = key;
      this.broadcast('node', state);
    }, delay);
  }

  private broadcast(event: string, data: unknown): void {
    for (const listener of this.listeners) listener(event, data);
  }
}

const peersBody = z.object({ peers: z.array(z.string().min(1)).optional() }).strict();

/** Routes for /debug/events and /admin/*; returns false for any other path. */
export function debugRoutes(options: {
  hub: NodeDebugHub;
  transport: Pick<HttpTransport, 'isolate' | 'rejoin' | 'isolated'>;
  /** The peers /admin/isolate and /admin/rejoin may name (the members change at run time). */
  peers: () => readonly NodeId[];
  secret?: string;
  bodyLimit: number;
  /** Take a snapshot now (RaftNode.snapshot); without it, /admin/snapshot is 404. */
  snapshot?: () => Promise<{ index: LogIndex; term: Term }>;
}): (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<boolean> {
  return async (req, res, url) => {
    if (!url.pathname.startsWith('/debug/') && !url.pathname.startsWith('/admin/')) return false;
    try {
      if (options.secret !== undefined && !bearerMatches(req.headers.authorization, options.secret)) {
        throw new HttpError(401, { error: 'unauthorized', reason: 'this node has a cluster secret: send Authorization: Bearer <secret>' });
      }
      if (url.pathname === '/debug/events' && req.method === 'GET') {
        options.hub.stream(res);
        return true;
      }
      if ((url.pathname === '/admin/isolate' || url.pathname === '/admin/rejoin') && req.method === 'POST') {
        const parsed = peersBody.safeParse((await readJsonBody(req, options.bodyLimit)) ?? {});
        if (!parsed.success) throw new HttpError(400, { error: 'bad_request', reason: 'the body is {"peers": [node ids]}' });
        const known = options.peers();
        const unknown = (parsed.data.peers ?? []).filter((p) => !known.includes(p));
        if (unknown.length > 0) throw new HttpError(400, { error: 'bad_request', reason: `unknown peers: ${unknown.join(', ')}` });
        if (url.pathname === '/admin/isolate') options.transport.isolate(parsed.data.peers ?? []);
        else options.transport.rejoin(parsed.data.peers);
        options.hub.refresh();
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ isolated: [...options.transport.isolated] }));
        return true;
      }
      if (url.pathname === '/admin/snapshot' && req.method === 'POST' && options.snapshot !== undefined) {
        req.resume(); // no body to read
        const { index, term } = await options.snapshot();
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ index, term }));
        return true;
      }
      throw new HttpError(404, { error: 'not_found' });
    } catch (error) {
      // As the client API answers the same errors (InvalidRequestError: nothing to snapshot yet, or
      // a state machine or storage without snapshots → 400; stopping → 503).
      const [status, body] = toHttpError(error);
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
      return true;
    }
  };
}
