/**
 * The dashboard page on its own, against a scripted server: the built bundle (buildDashboard into
 * a temporary folder) served by a tiny node:http server that streams a 3-node cluster over SSE
 * (a leader, heartbeats at the real rate, a leader change on cue) and records every control the
 * page posts. Driven in Debian's chromium through playwright-core.
 *
 * Checks what the page promises: one card per node and exactly one leader; "kill" on the leader
 * posts to /api/nodes/<id>/kill and the card follows the stream; the propose form posts, and
 * refuses an empty value; a new leader announced by the stream re-colours the cards and lands on
 * the timeline; messages to a node that is down are drawn failed, one at a time, then removed;
 * nodes that refuse the dashboard (401) are said to, not shown as down; each card shows its node's
 * snapshot before a log strip that starts after it, and InstallSnapshot chunks and replies are
 * squares of their own, said chunk by chunk in the cluster log; voters, learners, removed nodes
 * and a new server not yet added are told apart on the cards and the ring, configuration entries
 * are marked in the strips with their members in the tooltip, and "add node", "remove" and "lead
 * here" post to the server (a refusal is said in the log panel); the statechart is
 * fetched, inlined, and the leader's state is marked; a dropped stream reconnects; at 420 px wide
 * nothing overflows the page. Prints the page's load time and the rate of events it renders;
 * screenshots in test-results/.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildDashboard } from '../../src/dashboard/build.js';

/** Debian's chromium, never a downloaded browser. */
const CHROMIUM = '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);

const SCREENSHOT = join(import.meta.dirname, '..', '..', 'test-results', 'dashboard-fake.png');
const SCREENSHOT_NARROW = join(import.meta.dirname, '..', '..', 'test-results', 'dashboard-narrow.png');
const SCREENSHOT_REFUSED = join(import.meta.dirname, '..', '..', 'test-results', 'dashboard-refused.png');
const SCREENSHOT_MEMBERS = join(import.meta.dirname, '..', '..', 'test-results', 'dashboard-members.png');
/** What the dashboard server says when a node answers 401 (src/dashboard/server.ts, refusalAdvice). */
const ADVICE = 'the nodes have a client token: start the dashboard with --client-token <token> (or $XSTATE_RAFT_CLIENT_TOKEN)';
const IDS = ['n1', 'n2', 'n3'];
/** A leader sends a heartbeat to each follower every 50 ms, as the real nodes do (~20/s). */
const HEARTBEAT_MS = 50;

interface Probe {
  eventsReceived: number;
  lastEventAt: number | null;
  firstRenderAt: number | null;
  renders: number;
  dotsShown: number;
  dotsDropped: number;
  dotsThinned: number;
  dotsInFlight: number;
  dotsFailed: number;
  failedThinned: number;
}

// ------------------------------------------------------------------ the scripted cluster

type Role = 'follower' | 'preCandidate' | 'candidate' | 'leader';

interface FakeNode {
  id: string;
  up: boolean;
  role: Role;
  term: number;
  votedFor: string | null;
  leaderId: string | null;
  commitIndex: number;
  lastApplied: number;
  /** Term of every entry, index 1 first (those up to snapshotIndex are compacted: not streamed). */
  log: number[];
  isolated: string[];
  snapshotIndex: number;
  snapshotTerm: number;
  /** What the dashboard server learnt from the node's /status. */
  snapshotBytes?: number;
}

interface Call {
  method: string;
  path: string;
  body: unknown;
}

class FakeCluster {
  readonly calls: Call[] = [];
  readonly nodes = new Map<string, FakeNode>();
  private readonly clients = new Set<ServerResponse>();
  private readonly history: { event: string; data: unknown }[] = [];
  private heartbeat: ReturnType<typeof setInterval> | undefined;
  private workload: 'running' | 'paused' = 'running';
  /** The configuration as the server streams it in `cluster` (null: not known, as from older nodes). */
  private members: { voters: string[]; learners: string[]; index: number; committed: boolean } | null = null;
  private configs: { index: number; term: number; voters: string[]; learners: string[] }[] = [];
  private removed: string[] = [];
  /** The next "lead here" is refused with this answer instead of electing the node. */
  refuseTransfer: { status: number; body: unknown } | null = null;
  /** Set: every node answers the dashboard server with 401, and this is its advice. */
  private refusal: string | null = null;
  private server: Server | undefined;
  url = '';

  constructor(private readonly assets: string) {
    // Two terms of history: term 1 led by n3, term 2 by n1; n3 lags a little behind.
    const log = [...Array<number>(9).fill(1), ...Array<number>(14).fill(2)];
    for (const id of IDS) {
      this.nodes.set(id, {
        id,
        up: true,
        role: id === 'n1' ? 'leader' : 'follower',
        term: 2,
        votedFor: 'n1',
        leaderId: 'n1',
        commitIndex: 21,
        lastApplied: id === 'n3' ? 19 : 21,
        log: id === 'n3' ? log.slice(0, 20) : [...log],
        isolated: [],
        snapshotIndex: 0,
        snapshotTerm: 0,
      });
    }
    this.history.push({ event: 'leader', data: { term: 1, leaderId: 'n3', time: Date.now() - 95_000 } });
    this.history.push({ event: 'leader', data: { term: 2, leaderId: 'n1', time: Date.now() - 41_000 } });
    this.history.push({ event: 'log', data: { level: 'info', text: 'n3 became leader of term 1', time: Date.now() - 95_000 } });
    this.history.push({ event: 'log', data: { level: 'warn', text: 'n3 killed (kill -9)', time: Date.now() - 42_000 } });
    this.history.push({ event: 'log', data: { level: 'info', text: 'n1 became leader of term 2', time: Date.now() - 41_000 } });
    this.history.push({ event: 'log', data: { level: 'info', text: 'n3 restarted from its data', time: Date.now() - 30_000 } });
  }

  async listen(): Promise<void> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/`;
    this.heartbeat = setInterval(() => this.beat(), HEARTBEAT_MS);
  }

  async close(): Promise<void> {
    clearInterval(this.heartbeat);
    for (const res of this.clients) res.end();
    this.server?.closeAllConnections();
    await new Promise((resolve) => (this.server ? this.server.close(resolve) : resolve(undefined)));
  }

  /** Agents at work: the leader appends an entry every `everyMs` until stopped. */
  startWorkload(everyMs: number): () => void {
    const timer = setInterval(() => this.append(), everyMs);
    return () => clearInterval(timer);
  }

  /** A burst of AppendEntries with entries (never thinned like heartbeats), far past what the page animates. */
  burst(count: number): void {
    for (let i = 0; i < count; i++) {
      const from = IDS[i % IDS.length] as string;
      const to = IDS[(i + 1) % IDS.length] as string;
      this.send({ from, to, type: 'rpc.appendEntries', term: 2, entries: 1 });
    }
  }

  /** A leader retrying a follower that is down: AppendEntries with entries, `count` times at once. */
  retry(from: string, to: string, count: number): void {
    for (let i = 0; i < count; i++) this.send({ from, to, type: 'rpc.appendEntries', term: (this.nodes.get(from) as FakeNode).term, entries: 3 });
  }

  /** `id` compacts its log up to `index` into a snapshot of `bytes` bytes (as the server reports it). */
  compact(id: string, index: number, bytes: number): void {
    const node = this.nodes.get(id) as FakeNode;
    this.update(id, { snapshotIndex: index, snapshotTerm: node.log[index - 1] ?? 0, snapshotBytes: bytes });
  }

  /**
   * `from` sends `to` its snapshot in chunks of `chunkBytes` (the last one shorter), each answered
   * with how much `to` holds, the last with "installed"; then `to` holds the snapshot.
   */
  installSnapshot(from: string, to: string, total: number, chunkBytes: number): void {
    const leader = this.nodes.get(from) as FakeNode;
    const snapshot = { index: leader.snapshotIndex, term: leader.snapshotTerm };
    for (let offset = 0; offset < total; offset += chunkBytes) {
      const bytes = Math.min(chunkBytes, total - offset);
      const done = offset + bytes >= total;
      this.send({ from, to, type: 'rpc.installSnapshot', term: leader.term, snapshot: { ...snapshot, offset, bytes, done, total } });
      this.send({ from: to, to: from, type: 'rpc.installSnapshotResult', term: leader.term, success: done, snapshot: { index: snapshot.index, offset: offset + bytes } });
    }
    this.update(to, { snapshotIndex: snapshot.index, snapshotTerm: snapshot.term, snapshotBytes: total, log: leader.log.slice() });
  }

  /** The last chunk of `from`'s snapshot again, as a leader resends an unanswered chunk on every heartbeat. */
  resendLastChunk(from: string, to: string, total: number, chunkBytes: number): void {
    const leader = this.nodes.get(from) as FakeNode;
    const offset = Math.floor((total - 1) / chunkBytes) * chunkBytes;
    this.send({
      from,
      to,
      type: 'rpc.installSnapshot',
      term: leader.term,
      snapshot: { index: leader.snapshotIndex, term: leader.snapshotTerm, offset, bytes: total - offset, done: true, total },
    });
  }

  /** The server learns the configuration: the bootstrap entry at index 1 (term 1), committed. */
  bootstrapMembers(): void {
    this.members = { voters: [...IDS], learners: [], index: 1, committed: true };
    this.configs = [{ index: 1, term: 1, voters: [...IDS], learners: [] }];
    this.emit('cluster', this.clusterEvent());
  }

  /** The leader appends a configuration entry (in force at once, committed on the next heartbeat); returns its index and term. */
  configure(voters: string[], learners: string[]): { index: number; term: number } {
    const index = this.append();
    const term = (this.leader() as FakeNode).term;
    for (const id of [...(this.members?.voters ?? []), ...(this.members?.learners ?? [])]) if (!voters.includes(id) && !learners.includes(id)) this.removed.push(id);
    this.configs.push({ index, term, voters, learners });
    this.members = { voters, learners, index, committed: false };
    this.emit('cluster', this.clusterEvent());
    return { index, term };
  }

  /** A new, empty server starts with --join: the server follows it before it is a member. */
  join(id: string): void {
    const leader = this.leader() as FakeNode;
    this.nodes.set(id, {
      id,
      up: true,
      role: 'follower',
      term: leader.term,
      votedFor: null,
      leaderId: leader.id,
      commitIndex: 0,
      lastApplied: 0,
      log: [],
      isolated: [],
      snapshotIndex: 0,
      snapshotTerm: 0,
    });
    this.emit('cluster', this.clusterEvent());
    this.emit('node', this.describe(this.nodes.get(id) as FakeNode));
  }

  /** The nodes start (or stop) refusing the dashboard server, as after a restart with --client-token. */
  refuse(advice: string | null): void {
    this.refusal = advice;
    for (const n of this.nodes.values()) this.emit('node', this.describe(n));
    if (advice !== null) for (const id of IDS) this.emit('log', { level: 'error', text: `${id} refuses the dashboard (401 unauthorized): ${advice}`, time: Date.now() });
  }

  /** End every open event stream, as a restarting server would. */
  dropStreams(): void {
    for (const res of this.clients) res.end();
    this.clients.clear();
  }

  leader(): FakeNode | undefined {
    return [...this.nodes.values()].find((n) => n.up && n.role === 'leader');
  }

  /** `id` wins an election for `term`: pre-vote, votes, then the first heartbeats. */
  elect(id: string, term: number): void {
    const candidate = this.nodes.get(id) as FakeNode;
    const voters = [...this.nodes.values()].filter((n) => n.up && n.id !== id);
    this.update(id, { role: 'preCandidate' });
    for (const v of voters) this.send({ from: id, to: v.id, type: 'rpc.requestVote', term, preVote: true });
    for (const v of voters) this.send({ from: v.id, to: id, type: 'rpc.requestVoteResult', term, preVote: true, voteGranted: true });
    this.update(id, { role: 'candidate', term, votedFor: id, leaderId: null });
    for (const v of voters) this.send({ from: id, to: v.id, type: 'rpc.requestVote', term });
    for (const v of voters) {
      this.update(v.id, { role: 'follower', term, votedFor: id, leaderId: null });
      this.send({ from: v.id, to: id, type: 'rpc.requestVoteResult', term, voteGranted: true });
    }
    candidate.log.push(term); // the new leader's no-op
    this.update(id, { role: 'leader', leaderId: id });
    for (const v of voters) this.update(v.id, { leaderId: id });
    this.emit('leader', { term, leaderId: id, time: Date.now() });
    this.emit('log', { level: 'info', text: `${id} became leader of term ${term}`, time: Date.now() });
  }

  /** The leader appends one entry and replicates it; it commits on the next heartbeat. */
  append(): number {
    const leader = this.leader();
    if (leader === undefined) return 0;
    leader.log.push(leader.term);
    this.update(leader.id, {});
    for (const f of this.reachableFollowers(leader)) {
      const missing = leader.log.length - f.log.length;
      this.send({ from: leader.id, to: f.id, type: 'rpc.appendEntries', term: leader.term, entries: missing });
      f.log = leader.log.slice();
      this.update(f.id, {});
      this.send({ from: f.id, to: leader.id, type: 'rpc.appendEntriesResult', term: leader.term, success: true });
    }
    return leader.log.length;
  }

  private reachableFollowers(leader: FakeNode): FakeNode[] {
    return [...this.nodes.values()].filter((n) => n.up && n.id !== leader.id && !n.isolated.includes(leader.id) && !leader.isolated.includes(n.id));
  }

  /** Heartbeats and their replies; commit and apply catch up with the leader's log. */
  private beat(): void {
    const leader = this.leader();
    if (leader === undefined || this.refusal !== null) return;
    const followers = this.reachableFollowers(leader);
    for (const f of followers) {
      const missing = leader.log.length - f.log.length;
      this.send({ from: leader.id, to: f.id, type: 'rpc.appendEntries', term: leader.term, entries: missing });
      if (missing > 0 || f.term !== leader.term || f.leaderId !== leader.id) this.update(f.id, { log: leader.log.slice(), term: leader.term, leaderId: leader.id });
    }
    for (const f of followers) this.send({ from: f.id, to: leader.id, type: 'rpc.appendEntriesResult', term: leader.term, success: true });
    if (followers.length === 0) return;
    const commit = leader.log.length;
    for (const n of [leader, ...followers]) {
      if (n.commitIndex < commit || n.lastApplied < commit) this.update(n.id, { commitIndex: commit, lastApplied: Math.min(commit, n.log.length) });
    }
  }

  private update(id: string, change: Partial<FakeNode>): void {
    const node = this.nodes.get(id) as FakeNode;
    Object.assign(node, change);
    this.emit('node', this.describe(node));
  }

  private describe(n: FakeNode): unknown {
    if (this.refusal !== null) return { id: n.id, up: false, refused: this.refusal, time: Date.now() };
    if (!n.up) return { id: n.id, up: false };
    // As src/server/debug.ts streams it: the last 64 entries, never one the snapshot compacted.
    const start = Math.max(n.snapshotIndex + 1, n.log.length - 63);
    return {
      id: n.id,
      up: true,
      role: n.role,
      term: n.term,
      votedFor: n.votedFor,
      leaderId: n.leaderId,
      commitIndex: n.commitIndex,
      lastApplied: n.lastApplied,
      lastLogIndex: n.log.length,
      snapshotIndex: n.snapshotIndex,
      snapshotTerm: n.snapshotTerm,
      ...(n.snapshotBytes !== undefined ? { snapshotBytes: n.snapshotBytes } : {}),
      log: { start, terms: n.log.slice(start - 1) },
      isolated: n.isolated,
      time: Date.now(),
    };
  }

  private send(m: Record<string, unknown>): void {
    this.emit('message', { ...m, time: Date.now() });
  }

  private emit(event: string, data: unknown): void {
    if (event === 'leader' || event === 'log') this.history.push({ event, data });
    const text = `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
    for (const res of this.clients) res.write(text);
  }

  private clusterEvent(): unknown {
    return {
      nodes: [...this.nodes.keys()],
      controls: { kill: true, restart: true, workload: true, addNode: this.members !== null },
      workload: this.workload,
      ...(this.members !== null ? { members: this.members, configs: this.configs, removed: this.removed } : {}),
    };
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://fake').pathname;
    const reply = (status: number, body: string | Buffer, type = 'application/json') => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(body);
    };
    if (req.method === 'GET') {
      if (path === '/api/events') {
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
        const send = (event: string, data: unknown) => res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
        send('cluster', this.clusterEvent());
        for (const n of this.nodes.values()) send('node', this.describe(n));
        for (const e of this.history) send(e.event, e.data);
        this.clients.add(res);
        res.on('close', () => this.clients.delete(res));
        return;
      }
      if (path === '/api/chart.svg') return reply(200, CHART_SVG, 'image/svg+xml');
      const assets: Record<string, string> = { '/': 'index.html', '/app.js': 'app.js', '/app.css': 'app.css' };
      const types: Record<string, string> = { '/': 'text/html; charset=utf-8', '/app.js': 'text/javascript', '/app.css': 'text/css' };
      const name = assets[path];
      if (name !== undefined) return reply(200, readFileSync(join(this.assets, name)), types[path]);
      return reply(404, JSON.stringify({ error: 'not_found' }));
    }
    let text = '';
    for await (const chunk of req) text += String(chunk);
    const body: unknown = text === '' ? undefined : JSON.parse(text);
    this.calls.push({ method: req.method ?? '', path, body });
    const node = /^\/api\/nodes\/([^/]+)\/(kill|restart|isolate|rejoin)$/.exec(path);
    if (node !== null) {
      const [, id = '', action] = node;
      const target = this.nodes.get(id);
      if (target === undefined) return reply(404, JSON.stringify({ error: 'not_found', reason: `no node ${id}` }));
      if (action === 'kill') this.update(id, { up: false });
      if (action === 'restart') this.update(id, { up: true, role: 'follower', leaderId: null });
      if (action === 'isolate') this.update(id, { isolated: [...this.nodes.keys()].filter((p) => p !== id) });
      if (action === 'rejoin') this.update(id, { isolated: [] });
      this.emit('log', {
        level: action === 'kill' ? 'warn' : 'info',
        text: `${id} ${{ kill: 'killed (kill -9)', restart: 'restarted from its data', isolate: 'isolated from every other node', rejoin: 'rejoined' }[action as string]}`,
        time: Date.now(),
      });
      return reply(200, JSON.stringify({ ok: true }));
    }
    const member = /^\/api\/nodes\/([^/]+)\/(remove|transfer)$/.exec(path);
    if (member !== null) {
      const [, id = '', action] = member;
      const members = this.members ?? { voters: [], learners: [] };
      if (action === 'remove') {
        const change = this.configure(
          members.voters.filter((v) => v !== id),
          members.learners.filter((l) => l !== id),
        );
        this.emit('log', { level: 'warn', text: `${id} removed from the configuration (configuration entry ${change.index}, term ${change.term})`, time: Date.now() });
        return reply(200, JSON.stringify(change));
      }
      if (this.refuseTransfer !== null) {
        const { status, body } = this.refuseTransfer;
        this.refuseTransfer = null;
        return reply(status, JSON.stringify(body));
      }
      const term = (this.leader()?.term ?? 0) + 1;
      const was = this.leader();
      if (was !== undefined) this.update(was.id, { role: 'follower' });
      this.elect(id, term);
      return reply(200, JSON.stringify({ leaderId: id, term }));
    }
    if (path === '/api/members/add') {
      // As the demo does it, the new process first; the test adds it as a learner, then promotes it.
      this.join('n4');
      this.emit('log', { level: 'info', text: 'n4 started on 127.0.0.1:7004: a new, empty node that learns the cluster from n2 (node --join)', time: Date.now() });
      return reply(200, JSON.stringify({ id: 'n4', address: '127.0.0.1:7004' }));
    }
    if (path === '/api/propose') {
      const index = this.append();
      if (index === 0) return reply(503, JSON.stringify({ error: 'no_leader', reason: 'no node is up' }));
      const { key, value } = body as { key: string; value: unknown };
      this.emit('log', { level: 'info', text: `proposed ${key} = ${JSON.stringify(value)} → committed at index ${index}`, time: Date.now() });
      return reply(200, JSON.stringify({ index }));
    }
    if (path === '/api/workload/pause' || path === '/api/workload/resume') {
      this.workload = path.endsWith('pause') ? 'paused' : 'running';
      this.emit('cluster', this.clusterEvent());
      return reply(200, JSON.stringify({ workload: this.workload }));
    }
    if (path === '/api/split' || path === '/api/heal') return reply(200, JSON.stringify({ ok: true }));
    return reply(404, JSON.stringify({ error: 'not_found' }));
  }
}

/**
 * A statechart in the server's contract (`<g class="state" data-state="…">` per state), laid out
 * like the real one: a title, the states in a row with arrows, then tables of rules that the
 * page keeps folded away until asked.
 */
const CHART_SVG = (() => {
  const states = ['follower', 'preCandidate', 'candidate', 'leader'];
  const X = (i: number) => 60 + i * 215;
  const TOP = 120;
  const H = 80;
  const box = (name: string, i: number) =>
    `<g class="state" data-state="${name}"><rect class="state-box" x="${X(i)}" y="${TOP}" width="160" height="${H}" rx="12" fill="#f8fafc" stroke="#475569" stroke-width="1.5"/>` +
    `<text x="${X(i) + 80}" y="${TOP + 34}" text-anchor="middle" font-size="15" font-weight="700" fill="#0f172a">${name}</text></g>`;
  const arc = (from: number, to: number, depth: number, label: string) => {
    const forward = to > from;
    const x1 = X(from) + (forward ? 110 : 50);
    const x2 = X(to) + (forward ? 50 : 110 - 12 * depth);
    const y = forward ? TOP : TOP + H;
    const apex = forward ? TOP - 40 * depth : TOP + H + 40 * depth;
    const c = (apex - y / 4) / 0.75;
    const ly = forward ? apex - 8 : apex + 14;
    return (
      `<g class="arc"><path d="M${x1},${y} C${x1},${c} ${x2},${c} ${x2},${y}" fill="none" stroke="#475569" stroke-width="1.3" marker-end="url(#arrow)"/></g>` +
      `<g class="arc-label"><rect x="${(x1 + x2) / 2 - 110}" y="${ly - 11}" width="220" height="14" fill="#fff"/><text x="${(x1 + x2) / 2}" y="${ly}" text-anchor="middle" font-size="10" font-family="monospace">${label}</text></g>`
    );
  };
  return [
    '<svg xmlns="http://www.w3.org/2000/svg" id="raft-chart" width="920" height="560" viewBox="0 0 920 560" font-family="sans-serif">',
    '<style>#raft-chart .state.active .state-box { fill: #fef3c7; stroke: #d97706; stroke-width: 3; }</style>',
    '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#475569"/></marker></defs>',
    '<text x="16" y="28" font-size="18" font-weight="700">raftNode statechart</text>',
    '<text x="16" y="46" font-size="11" fill="#64748b">generated from the machine definition</text>',
    '<g class="diagram">',
    arc(0, 1, 1, 'timeout.election [isPreVoteEnabled]'),
    arc(1, 2, 1, 'always [hasVoteQuorum]'),
    arc(2, 3, 1, 'always [hasVoteQuorum]'),
    arc(1, 0, 1, 'rpc.appendEntries [isCurrentTerm]'),
    arc(2, 0, 2, 'rpc.appendEntries [isCurrentTerm]'),
    arc(3, 0, 3, 'timeout.election / stepDownWithoutQuorum'),
    ...states.map(box),
    '</g>',
    '<text x="16" y="360" font-size="11" fill="#64748b">Each table lists every rule of a state in the order XState tries them.</text>',
    ...states.map(
      (name, i) =>
        `<g class="rules" data-state="${name}"><rect x="16" y="${380 + i * 40}" width="888" height="22" fill="#e2e8f0"/><text x="24" y="${395 + i * 40}" font-size="12">${name}: its rules</text></g>`,
    ),
    '</svg>',
  ].join('');
})();

// ------------------------------------------------------------------ the tests

describe.skipIf(!hasChromium)(
  hasChromium ? 'the dashboard page against a scripted server' : `the dashboard page (skipped: ${CHROMIUM} is missing; CI installs Debian's chromium)`,
  { timeout: 60_000 },
  () => {
    let assets: string;
    let fake: FakeCluster;
    let profile: string | undefined;
    let browser: BrowserContext | undefined;
    let page: Page;
    const pageErrors: string[] = [];

    const probe = () => page.evaluate(() => (globalThis as unknown as { __dashboard: Probe }).__dashboard);
    const card = (id: string) => page.locator(`[data-node="${id}"]`);
    const roles = () => page.locator('[data-node]').evaluateAll((cards) => Object.fromEntries(cards.map((c) => [c.getAttribute('data-node'), c.getAttribute('data-role')])));

    beforeAll(async () => {
      assets = mkdtempSync(join(tmpdir(), 'xstate-raft-dashboard-'));
      const built = await buildDashboard(assets);
      console.log(
        `dashboard bundle: ${Object.entries(built.files)
          .map(([name, bytes]) => `${name} ${(bytes / 1024).toFixed(1)} KiB`)
          .join(', ')}`,
      );
      fake = new FakeCluster(assets);
      await fake.listen();
      // A fresh profile per run; playwright passes it as --user-data-dir itself (it refuses the flag in args).
      profile = mkdtempSync(join(tmpdir(), 'xstate-raft-chromium-'));
      browser = await chromium.launchPersistentContext(profile, {
        executablePath: CHROMIUM,
        headless: true,
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
        viewport: { width: 1280, height: 800 },
      });
      page = browser.pages()[0] ?? (await browser.newPage());
      page.on('pageerror', (error) => pageErrors.push(error.message));
      page.on('console', (message) => {
        if (message.type() === 'error') pageErrors.push(message.text());
      });
    }, 60_000);

    afterEach(() => {
      // An exception in the page fails the test that caused it.
      const errors = pageErrors.splice(0);
      expect(errors).toEqual([]);
    });

    afterAll(async () => {
      await browser?.close();
      await fake?.close();
      for (const dir of [assets, profile]) if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    });

    it('shows one card per node and exactly one leader; measures load time and event rate', async () => {
      await page.goto(fake.url);
      await expect.poll(() => page.locator('[data-node]').count()).toBe(3);
      await expect.poll(() => page.locator('[data-node][data-role="leader"]').count()).toBe(1);
      await expect.poll(() => card('n1').getAttribute('data-role')).toBe('leader');
      expect(await page.locator('[data-testid="connection"]').textContent()).toBe('connected');
      expect(await card('n1').locator('[data-field="term"]').textContent()).toBe('2');
      expect(await card('n3').locator('[data-field="lastApplied"]').textContent()).not.toBe('–');
      expect(await card('n2').locator('[data-field="votedFor"]').textContent()).toBe('n1');
      expect(await card('n2').locator('[data-field="leaderId"]').textContent()).toBe('n1');
      await expect.poll(() => card('n3').locator('[data-field="commitIndex"]').textContent()).toBe('23');

      const cold = await probe();
      expect(cold.firstRenderAt).not.toBeNull();
      const domReady = await page.evaluate(() => {
        // Runs in the page; typed here without the DOM library.
        const perf = (globalThis as unknown as { performance: { getEntriesByType(type: string): { domContentLoadedEventEnd?: number }[] } }).performance;
        return perf.getEntriesByType('navigation')[0]?.domContentLoadedEventEnd ?? 0;
      });
      // Again with a warm browser: the first navigation also pays for starting the renderer.
      const warm: number[] = [];
      for (let i = 0; i < 3; i++) {
        await page.reload();
        await expect.poll(async () => (await probe()).firstRenderAt).not.toBeNull();
        warm.push((await probe()).firstRenderAt ?? 0);
      }
      warm.sort((a, b) => a - b);
      await expect.poll(() => page.locator('[data-node][data-role="leader"]').count()).toBe(1);
      const first = await probe();
      const stopWorkload = fake.startWorkload(200);
      const t0 = Date.now();
      await page.waitForTimeout(3000);
      const second = await probe();
      stopWorkload();
      const seconds = (Date.now() - t0) / 1000;
      const events = (second.eventsReceived - first.eventsReceived) / seconds;
      const frames = (second.renders - first.renders) / seconds;
      console.log(
        `dashboard page: first render with data ${Math.round(cold.firstRenderAt ?? 0)} ms after navigation start in a fresh browser ` +
          `(DOMContentLoaded at ${Math.round(domReady)} ms), median of 3 reloads ${Math.round(warm[1] ?? 0)} ms; ` +
          `${events.toFixed(0)} SSE events/s received and rendered (${frames.toFixed(0)} frames/s redrew cards), ` +
          `${((second.dotsShown - first.dotsShown) / seconds).toFixed(0)} message dots/s animated (${((second.dotsThinned - first.dotsThinned) / seconds).toFixed(0)}/s heartbeats thinned, ${second.dotsDropped - first.dotsDropped} dropped at the cap)`,
      );
      // 2 followers × (heartbeat + reply) × 20/s, and the entries appended meanwhile.
      expect(events).toBeGreaterThan(60);
      expect(second.renders).toBeGreaterThan(first.renders);
      expect(second.dotsShown).toBeGreaterThan(first.dotsShown);
    });

    it('caps the message dots in flight', async () => {
      const before = await probe();
      fake.burst(400);
      await expect.poll(async () => (await probe()).dotsDropped).toBeGreaterThan(before.dotsDropped);
      expect((await probe()).dotsInFlight).toBeLessThanOrEqual(48);
    });

    it('draws no message dots while the tab is hidden', async () => {
      type Doc = { hidden: boolean; dispatchEvent(e: Event): boolean };
      const setHidden = (hidden: boolean) =>
        page.evaluate((value) => {
          const doc = (globalThis as unknown as { document: Doc }).document;
          if (value) Object.defineProperty(doc, 'hidden', { configurable: true, get: () => true });
          else delete (doc as Partial<Doc>).hidden; // back to the prototype's getter
          doc.dispatchEvent(new Event('visibilitychange'));
        }, hidden);
      await setHidden(true);
      const hidden = await probe();
      expect(hidden.dotsInFlight).toBe(0);
      await page.waitForTimeout(300); // ~24 RPCs arrive meanwhile
      expect((await probe()).dotsShown).toBe(hidden.dotsShown);
      await setHidden(false);
      await expect.poll(async () => (await probe()).dotsShown).toBeGreaterThan(hidden.dotsShown);
    });

    it('posts "kill" for the leader and redraws the card from the stream', async () => {
      await page.locator('[data-node][data-role="leader"] [data-action="kill"]').click();
      await expect.poll(() => fake.calls.some((c) => c.method === 'POST' && c.path === '/api/nodes/n1/kill')).toBe(true);
      await expect.poll(() => card('n1').getAttribute('data-role'), { timeout: 1000 }).toBe('down');
      expect(await card('n1').locator('[data-action="restart"]').isEnabled()).toBe(true);
      expect(await card('n1').locator('[data-action="kill"]').isEnabled()).toBe(false);
    });

    it('re-colours the cards and extends the timeline when the stream announces a new leader', async () => {
      fake.elect('n2', 3);
      await expect.poll(roles, { timeout: 1000 }).toEqual({ n1: 'down', n2: 'leader', n3: 'follower' });
      expect(await page.locator('[data-node][data-role="leader"]').count()).toBe(1);
      const timeline = page.locator('[data-testid="leader-timeline"]');
      await expect.poll(() => timeline.locator('[data-term="3"][data-leader="n2"]').count()).toBe(1);
      expect(await timeline.locator('[data-term]').evaluateAll((chips) => chips.map((c) => c.getAttribute('data-term')))).toEqual(['1', '2', '3']);
      expect(await card('n3').locator('[data-field="votedFor"]').textContent()).toBe('n2');
    });

    it('draws messages to a node that is down as failed, one at a time per link, and removes them', async () => {
      // n1 was killed above; n2 leads and, like a real leader, keeps retrying it with entries.
      await expect.poll(() => card('n1').getAttribute('data-role')).toBe('down');
      const lane = (from: string, to: string) =>
        page.evaluate(
          (name) =>
            [
              ...(
                globalThis as unknown as { document: { querySelectorAll(s: string): Iterable<{ style: { display: string }; getAttribute(a: string): string | null }> } }
              ).document.querySelectorAll(`.dots circle[data-lane="${name}"]`),
            ]
              .filter((c) => c.style.display !== 'none')
              .map((c) => c.getAttribute('class')),
          `${from}>${to}`,
        );
      // Replies n2 sent while n1 was up may still be on their way; start from an empty lane.
      await expect.poll(() => lane('n2', 'n1'), { timeout: 5000 }).toEqual([]);
      const before = await probe();
      fake.retry('n2', 'n1', 30);
      await expect.poll(async () => (await probe()).dotsFailed).toBeGreaterThan(before.dotsFailed);
      const shown = await lane('n2', 'n1');
      expect(shown.length, JSON.stringify(shown)).toBeLessThanOrEqual(1);
      for (const c of shown) expect(c).toBe('dot failed');
      // The other 29 are counted, not piled up at the cut.
      expect((await probe()).failedThinned - before.failedThinned).toBeGreaterThanOrEqual(25);
      // Once failed, the dot goes away (each lives ~0.3 s).
      await expect.poll(() => lane('n2', 'n1'), { timeout: 5000 }).toEqual([]);
      // A message to a node that is up is not drawn failed.
      fake.retry('n2', 'n3', 1);
      await expect.poll(() => lane('n2', 'n3'), { timeout: 2000, interval: 10 }).toContain('dot ae entries');
    });

    it('proposes nothing while the key or the value is empty, and says why', async () => {
      const form = page.locator('[data-testid="propose-form"]');
      const submit = form.locator('[type="submit"]');
      const hint = page.locator('[data-testid="propose-hint"]');
      const proposals = () => fake.calls.filter((c) => c.path === '/api/propose').length;
      const before = proposals();
      await form.locator('[name="key"]').fill('task-1');
      await form.locator('[name="value"]').fill('');
      expect(await submit.isDisabled()).toBe(true);
      expect(await hint.isVisible()).toBe(true);
      expect(await hint.textContent()).toContain('a value');
      await form.locator('[name="key"]').press('Enter'); // implicit submission
      await form.locator('[name="value"]').fill('   ');
      await form.locator('[name="value"]').press('Enter');
      expect(await submit.isDisabled()).toBe(true);
      await page.waitForTimeout(200);
      expect(proposals()).toBe(before);
      // An empty string, asked for as such, is a value.
      await form.locator('[name="value"]').fill('""');
      expect(await submit.isEnabled()).toBe(true);
      expect(await hint.isVisible()).toBe(false);
      await form.locator('[name="value"]').fill('');
    });

    it('posts a proposed command from the form', async () => {
      const form = page.locator('[data-testid="propose-form"]');
      await form.locator('[name="key"]').fill('task-42');
      await form.locator('[name="value"]').fill('{"owner": "agent-7"}');
      await form.locator('[type="submit"]').click();
      await expect.poll(() => fake.calls.find((c) => c.path === '/api/propose')?.body).toEqual({ key: 'task-42', value: { owner: 'agent-7' } });
      const index = (fake.nodes.get('n2') as FakeNode).log.length;
      await expect.poll(() => page.locator('[data-testid="propose-result"]').textContent()).toBe(`accepted at log index ${index}`);
      await expect.poll(() => card('n2').locator('[data-field="commitIndex"]').textContent(), { timeout: 1000 }).toBe(String(index));
      // Plain text that is not JSON goes as a string.
      await form.locator('[name="key"]').fill('note');
      await form.locator('[name="value"]').fill('hello agents');
      await form.locator('[type="submit"]').click();
      await expect.poll(() => fake.calls.filter((c) => c.path === '/api/propose').at(-1)?.body).toEqual({ key: 'note', value: 'hello agents' });
    });

    it("inlines the fetched statechart and marks the leader's state", async () => {
      const chart = page.locator('[data-testid="chart"] svg');
      await expect.poll(() => chart.count()).toBe(1);
      const leaderState = chart.locator('.state[data-state="leader"]');
      await expect.poll(() => leaderState.getAttribute('class')).toContain('active');
      expect(await leaderState.getAttribute('data-nodes')).toBe('n2');
      expect(await chart.locator('.node-badge[data-badge="n2"]').getAttribute('data-role')).toBe('leader');
      expect(await chart.locator('.state[data-state="follower"]').getAttribute('data-nodes')).toBe('n3');
      expect(await chart.locator('.state[data-state="candidate"]').getAttribute('class')).not.toContain('active');
      // Selecting a card singles its state out through the chart's own data-active hook.
      await card('n2').click({ position: { x: 30, y: 20 } });
      await expect.poll(() => chart.getAttribute('data-active')).toBe('leader');
      await card('n2').click({ position: { x: 30, y: 20 } });
      await expect.poll(() => chart.getAttribute('data-active')).toBeNull();
    });

    it('reconnects when the event stream drops, and shows it', async () => {
      const connection = page.locator('[data-testid="connection"]');
      fake.dropStreams();
      await expect.poll(() => connection.textContent(), { timeout: 2000, interval: 20 }).toBe('disconnected');
      await expect.poll(() => connection.textContent(), { timeout: 5000 }).toBe('connected');
      // The replayed history is not shown twice.
      expect(await page.locator('[data-testid="leader-timeline"] [data-term]').count()).toBe(3);
    });

    it("shows a node's snapshot before its log strip, and the strip from firstLogIndex on", async () => {
      const n2 = fake.nodes.get('n2') as FakeNode;
      const last = n2.log.length;
      const at = last - 6; // inside the window of 40 indexes every strip shows
      const term = n2.log[at - 1] as number;
      const block = (id: string) => card(id).locator('[data-field="snapshot"]');
      // No snapshot yet: said, not left blank.
      await expect.poll(() => block('n3').getAttribute('data-snapshot')).toBe('none');
      expect(await block('n3').locator('.snapshot-at').textContent()).toBe('no snapshot');

      fake.compact('n2', at, 4321);
      await expect.poll(() => block('n2').locator('.snapshot-at').textContent()).toBe(`snapshot at ${at}`);
      expect(await block('n2').locator('.snapshot-meta').textContent()).toBe(`term ${term} · 4.2 KiB`);
      expect(await block('n2').getAttribute('title')).toBe(
        `Entries 1–${at} are compacted into a snapshot (last included term ${term}, 4321 bytes); the log holds ${at + 1}–${last}`,
      );
      // The block comes before the strip.
      const order = await card('n2')
        .locator('.log-row > *')
        .evaluateAll((children) => children.map((c) => c.getAttribute('data-field') ?? c.getAttribute('class')));
      expect(order).toEqual(['snapshot', 'strip log']);

      // Every strip shows indexes end-39..end; n2's holds entries from at + 1 on, the cells before
      // are the snapshot's (compacted), none drawn missing or "older than the tail".
      const end = Math.max(40, ...[...fake.nodes.values()].filter((n) => n.up).map((n) => n.log.length));
      const cells = await card('n2')
        .locator('.strip.log .cell')
        .evaluateAll((spans) => spans.map((c) => ({ cls: c.className, title: c.getAttribute('title') ?? '' })));
      expect(cells).toHaveLength(40);
      cells.forEach(({ cls, title }, i) => {
        const index = end - 39 + i;
        if (index < at) expect({ index, cls, title }).toEqual({ index, cls: 'cell compacted', title: `#${index} · compacted into the snapshot` });
        else if (index === at) expect({ index, cls, title }).toEqual({ index, cls: 'cell compacted snapshot-edge', title: `#${index} · the snapshot's last entry (term ${term})` });
        else if (index <= last)
          expect({ index, cls, title: title.split(' · ')[0] }).toEqual({ index, cls: expect.stringMatching(/^cell (committed|uncommitted)/), title: `#${index}` });
        else expect(cls).toBe('cell empty');
      });
      // n3 has no snapshot: its strip is all entries.
      expect(await card('n3').locator('.strip.log .cell.compacted').count()).toBe(0);
    });

    it("draws InstallSnapshot chunks and replies as squares of their own, says each chunk once in the log, and the follower's block follows", async () => {
      const legend = page.locator('.legend [data-legend="installSnapshot"]');
      expect(await legend.textContent()).toBe('InstallSnapshot chunk');
      expect(await legend.locator('rect').getAttribute('class')).toBe('dot is');
      expect(await page.locator('.legend [data-legend="installSnapshotResult"]').textContent()).toBe('snapshot reply');

      const n2 = fake.nodes.get('n2') as FakeNode;
      const at = n2.snapshotIndex;
      expect(at).toBeGreaterThan(0); // the test above took it
      const squares = (from: string, to: string) =>
        page.evaluate(
          (name) =>
            [
              ...(
                globalThis as unknown as { document: { querySelectorAll(s: string): Iterable<{ style: { display: string }; getAttribute(a: string): string | null }> } }
              ).document.querySelectorAll(`.dots rect[data-lane="${name}"]`),
            ]
              .filter((c) => c.style.display !== 'none')
              .map((c) => `${c.getAttribute('class')} | ${c.getAttribute('data-type')} | ${c.getAttribute('data-label')}`)
              .sort(),
          `${from}>${to}`,
        );
      await expect.poll(() => squares('n2', 'n3'), { timeout: 5000 }).toEqual([]);
      fake.installSnapshot('n2', 'n3', 5000, 2000);
      await expect
        .poll(() => squares('n2', 'n3'), { timeout: 2000, interval: 10 })
        .toEqual([
          `dot is last | rpc.installSnapshot | snapshot at ${at} (chunk 3/3)`,
          `dot is | rpc.installSnapshot | snapshot at ${at} (chunk 1/3)`,
          `dot is | rpc.installSnapshot | snapshot at ${at} (chunk 2/3)`,
        ]);
      expect(await squares('n3', 'n2')).toEqual([
        `dot isr installed | rpc.installSnapshotResult | installed the snapshot at ${at}`,
        `dot isr | rpc.installSnapshotResult | holds 2.0 KiB of the snapshot at ${at}`,
        `dot isr | rpc.installSnapshotResult | holds 3.9 KiB of the snapshot at ${at}`,
      ]);
      // Each chunk is captioned with its place as it travels.
      expect(
        await page.locator('.dots .dot-caption').evaluateAll((t) =>
          t
            .filter((c) => (c as unknown as { style: { display: string } }).style.display !== 'none')
            .map((c) => c.textContent)
            .sort(),
        ),
      ).toEqual(['1/3', '2/3', '3/3']);

      const term = n2.snapshotTerm;
      const lines = page.locator('.log-lines .line');
      await expect.poll(() => lines.filter({ hasText: `n2 → n3: InstallSnapshot at ${at} (term ${term}), chunk 2/3 · 2.0 KiB of 4.9 KiB` }).count()).toBe(1);
      expect(await lines.filter({ hasText: `n2 → n3: InstallSnapshot at ${at} (term ${term}), chunk 3/3 · 1000 B of 4.9 KiB` }).count()).toBe(1);
      expect(await lines.filter({ hasText: `n3 → n2: installed the snapshot at ${at}` }).count()).toBe(1);
      // A resent chunk (every heartbeat while unanswered) is drawn again but not said again.
      fake.resendLastChunk('n2', 'n3', 5000, 2000);
      await page.waitForTimeout(100);
      expect(await lines.filter({ hasText: 'chunk 3/3' }).count()).toBe(1);

      // The follower's block follows the install, and flashes.
      const block = card('n3').locator('[data-field="snapshot"]');
      await expect.poll(() => block.locator('.snapshot-at').textContent()).toBe(`snapshot at ${at}`);
      expect(await block.locator('.snapshot-meta').textContent()).toBe(`term ${term} · 4.9 KiB`);
      expect(await block.getAttribute('class')).toContain('changed');
      expect(await card('n3').locator('.strip.log .cell.compacted.snapshot-edge').getAttribute('title')).toBe(`#${at} · the snapshot's last entry (term ${term})`);
    });

    it('says plainly that the nodes refuse the dashboard (401), instead of "0 up"', async () => {
      const alert = page.locator('[data-testid="alert"]');
      expect(await alert.isVisible()).toBe(false);
      fake.refuse(ADVICE);
      await expect.poll(() => alert.isVisible()).toBe(true);
      expect(await alert.textContent()).toBe(`n1, n2, n3 refuse the dashboard (401 unauthorized): ${ADVICE}.`);
      const summary = (await page.locator('#summary').textContent()) ?? '';
      expect(summary).toContain('all refuse the dashboard (401)');
      expect(summary).not.toMatch(/\b0 up\b|no leader/);
      expect(await roles()).toEqual({ n1: 'refused', n2: 'refused', n3: 'refused' });
      expect(await card('n2').locator('.card-note').textContent()).toContain('401');
      expect(await page.locator('[data-ring-node="n2"]').getAttribute('data-role')).toBe('refused');
      await expect.poll(() => page.locator('.log-lines .line.error').filter({ hasText: 'n2 refuses the dashboard' }).count()).toBe(1);
      mkdirSync(join(SCREENSHOT_REFUSED, '..'), { recursive: true });
      await page.screenshot({ path: SCREENSHOT_REFUSED });
      // Once the dashboard is let in again, the banner goes.
      fake.refuse(null);
      await expect.poll(() => alert.isVisible()).toBe(false);
      await expect.poll(() => page.locator('[data-node][data-role="leader"]').count()).toBe(1);
      expect(await page.locator('#summary').textContent()).toMatch(/^3 nodes · 2 up · leader n2 · term 3$/);
    });

    it('tells voters, learners, removed nodes and a server not yet added apart, marks configuration entries, and posts the membership controls', async () => {
      const member = (id: string) => card(id).getAttribute('data-member');
      const ringMember = (id: string) => page.locator(`[data-ring-node="${id}"]`).getAttribute('data-member');
      const addButton = page.locator('[data-action="add-node"]');
      // Without a configuration (nodes older than membership changes) there is nothing to show or ask.
      expect(await member('n2')).toBe('unknown');
      expect(await card('n3').locator('[data-action="transfer"]').isVisible()).toBe(false);
      expect(await addButton.isVisible()).toBe(false);

      fake.bootstrapMembers();
      await expect.poll(() => member('n2')).toBe('voter');
      expect(await card('n2').locator('[data-field="membership"]').textContent()).toBe('voter');
      expect(await ringMember('n3')).toBe('voter');
      // "Lead here" only for an up follower voter: not the leader, not a node that is down (n1).
      expect(await card('n3').locator('[data-action="transfer"]').isEnabled()).toBe(true);
      expect(await card('n2').locator('[data-action="transfer"]').isEnabled()).toBe(false);
      expect(await card('n1').locator('[data-action="transfer"]').isEnabled()).toBe(false);
      expect(await card('n1').locator('[data-action="remove"]').isEnabled()).toBe(true);
      expect(await page.locator('#summary').textContent()).toContain('3 voters');

      // "Add node": the server starts n4 and adds it as a learner.
      await addButton.click();
      await expect.poll(() => fake.calls.some((c) => c.method === 'POST' && c.path === '/api/members/add')).toBe(true);
      // Followed before it is a member: faded, "not a member".
      await expect.poll(() => member('n4')).toBe('outsider');
      expect(await card('n4').locator('[data-field="membership"]').textContent()).toBe('not a member');
      expect(await page.locator('[data-ring-node="n4"] .ring-role').textContent()).toBe('not a member');
      expect(await card('n4').locator('[data-action="remove"]').isEnabled()).toBe(false);
      fake.configure(['n1', 'n2', 'n3'], ['n4']);
      await expect.poll(() => member('n4')).toBe('learner');
      expect(await page.locator('[data-node]').count()).toBe(4);
      expect(await page.locator('[data-ring-node]').count()).toBe(4);
      expect(await ringMember('n4')).toBe('learner');
      expect(await page.locator('[data-ring-node="n4"] .ring-role').textContent()).toBe('learner');
      expect(await page.locator('[data-ring-node="n4"] .learner-ring').isVisible()).toBe(true);
      expect(await page.locator('[data-ring-node="n3"] .learner-ring').isVisible()).toBe(false);
      expect(await card('n4').locator('[data-action="transfer"]').isEnabled()).toBe(false); // a learner cannot lead
      // Its configuration entry is marked in the strips, its members in the tooltip.
      const entry = (fake.nodes.get('n2') as FakeNode).log.length;
      const cell = card('n2').locator(`.strip.log .cell.config[title^="#${entry} "]`);
      await expect.poll(() => cell.count()).toBe(1);
      expect(await cell.getAttribute('title')).toBe(`#${entry} · term 3 · configuration: voters n1, n2, n3 · learners n4 · committed`);
      // An ordinary entry is not marked.
      expect(
        await card('n2')
          .locator(`.strip.log .cell[title^="#${entry - 1} "]`)
          .getAttribute('class'),
      ).not.toContain('config');

      mkdirSync(join(SCREENSHOT_MEMBERS, '..'), { recursive: true });
      await page.screenshot({ path: SCREENSHOT_MEMBERS, fullPage: true });
      // Promoted: a voter like the others.
      fake.configure(['n1', 'n2', 'n3', 'n4'], []);
      await expect.poll(() => member('n4')).toBe('voter');
      expect(await page.locator('[data-ring-node="n4"] .learner-ring').isVisible()).toBe(false);

      // "Remove" on the node that is down: it stays on the page, greyed and marked removed.
      await card('n1').locator('[data-action="remove"]').click();
      await expect.poll(() => fake.calls.some((c) => c.method === 'POST' && c.path === '/api/nodes/n1/remove')).toBe(true);
      await expect.poll(() => member('n1')).toBe('removed');
      expect(await card('n1').locator('[data-field="membership"]').textContent()).toBe('removed');
      expect(await ringMember('n1')).toBe('removed');
      expect(await card('n1').locator('[data-action="remove"]').isEnabled()).toBe(false);

      // "Lead here", refused: the node's answer is said in the log panel; then granted.
      fake.refuseTransfer = { status: 409, body: { error: 'transfer_failed', reason: 'n2: the transfer was abandoned after an election timeout' } };
      await card('n3').locator('[data-action="transfer"]').click();
      await expect.poll(() => page.locator('.log-lines .line.error').filter({ hasText: 'transfer n3 failed: transfer_failed (n2: the transfer was abandoned' }).count()).toBe(1);
      // The browser reports the refused request on its console; that one was asked for.
      const refusal = pageErrors.findIndex((e) => e.includes('409'));
      if (refusal >= 0) pageErrors.splice(refusal, 1);
      await card('n3').locator('[data-action="transfer"]').click();
      await expect.poll(() => card('n3').getAttribute('data-role')).toBe('leader');
      expect(await card('n2').getAttribute('data-role')).toBe('follower');
      expect(await card('n2').locator('[data-action="transfer"]').isEnabled()).toBe(true);
    });

    it('stays readable 420 px wide: nothing overflows the page or its panel, every panel shows', async () => {
      await page.setViewportSize({ width: 420, height: 900 });
      try {
        const width = () => page.evaluate(() => (globalThis as unknown as { document: { documentElement: { scrollWidth: number } } }).document.documentElement.scrollWidth);
        // Everything visible lies inside the page, and inside its panel (or the header); only what
        // scrolls inside its own frame (timeline, log, statechart) may run past it.
        const escapes = () =>
          page.evaluate(() => {
            type Box = { left: number; right: number; width: number };
            type El = { getBoundingClientRect(): Box; closest(s: string): El | null; namespaceURI: string; tagName: string; className: unknown; id: string };
            const doc = (globalThis as unknown as { document: { querySelectorAll(s: string): Iterable<El> } }).document;
            const name = (el: El) =>
              `${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ''}${typeof el.className === 'string' && el.className ? `.${el.className.split(' ').join('.')}` : ''}`;
            const bad: string[] = [];
            for (const el of doc.querySelectorAll('body *')) {
              const r = el.getBoundingClientRect();
              if (r.width === 0 || el.namespaceURI !== 'http://www.w3.org/1999/xhtml') continue; // hidden, or inside an SVG
              if (el.closest('.timeline-track, .log-lines, .chart-frame') !== null) continue;
              const frame = el.closest('.panel, header.top');
              const box = frame === null || frame === el ? { left: 0, right: 420, width: 420 } : frame.getBoundingClientRect();
              if (r.left < box.left - 0.5 || r.right > box.right + 0.5)
                bad.push(`${name(el)} [${Math.round(r.left)}, ${Math.round(r.right)}] outside [${Math.round(box.left)}, ${Math.round(box.right)}]`);
            }
            return bad;
          });

        // With the longest header there is: the nodes refuse the dashboard, the banner says so.
        fake.refuse(ADVICE);
        await expect.poll(() => page.locator('[data-testid="alert"]').isVisible()).toBe(true);
        expect(await width()).toBeLessThanOrEqual(420);
        expect(await escapes()).toEqual([]);

        fake.refuse(null);
        await expect.poll(() => page.locator('[data-node][data-role="leader"]').count()).toBe(1);
        expect(await width()).toBeLessThanOrEqual(420);
        expect(await escapes()).toEqual([]);
        for (const selector of [
          '#summary',
          '[data-testid="connection"]',
          '.nodes-panel',
          '.ring-panel .ring',
          '.controls-panel',
          '.timeline-panel',
          '.log-panel',
          '[data-testid="propose-form"] [type="submit"]',
        ]) {
          expect(await page.locator(selector).isVisible(), selector).toBe(true);
        }
        // A card's Raft fields show whole: no value cut short, no label broken over two lines.
        const fields = await card('n2')
          .locator('.fields > div')
          .evaluateAll((divs) =>
            divs.map((d) => {
              const [dt, dd] = [d.children[0], d.children[1]] as {
                scrollWidth: number;
                clientWidth: number;
                getClientRects(): { length: number };
                getBoundingClientRect(): { height: number };
              }[];
              return { label: (dt?.getBoundingClientRect().height ?? 0) < 20, value: (dd?.scrollWidth ?? 0) <= (dd?.clientWidth ?? 0) };
            }),
          );
        expect(fields).toEqual(Array(6).fill({ label: true, value: true }));
        mkdirSync(join(SCREENSHOT_NARROW, '..'), { recursive: true });
        await page.screenshot({ path: SCREENSHOT_NARROW, fullPage: true });
        console.log(`dashboard screenshot at 420 px: ${SCREENSHOT_NARROW}`);
      } finally {
        fake.refuse(null);
        await page.setViewportSize({ width: 1280, height: 800 });
      }
    });

    it('takes a screenshot of a cluster at work', async () => {
      await card('n1').locator('[data-action="restart"]').click();
      await expect.poll(() => card('n1').getAttribute('data-role'), { timeout: 1000 }).toBe('follower');
      await card('n3').locator('[data-action="isolate"]').click();
      await expect.poll(() => card('n3').locator('.card-note').textContent(), { timeout: 1000 }).toBe('isolated');
      for (let i = 0; i < 3; i++) fake.append();
      await page.waitForTimeout(250);
      fake.append(); // one more in flight, not yet committed, for the picture
      await page.waitForTimeout(120);
      mkdirSync(join(SCREENSHOT, '..'), { recursive: true });
      await page.screenshot({ path: SCREENSHOT, fullPage: true });
      console.log(`dashboard screenshot: ${SCREENSHOT}`);
    });
  },
);
