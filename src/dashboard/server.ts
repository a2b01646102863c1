/**
 * The dashboard server: serves the bundled page (dist/dashboard), follows every node's
 * /debug/events stream and merges them into one Server-Sent Events stream for the page, and turns
 * the page's controls into real actions — the nodes' isolation switch, KV writes, and (when the
 * dashboard owns the node processes, as in the demo) kill and restart.
 *
 *   GET  /api/events                 SSE: cluster, node, message, leader, log
 *   GET  /api/chart.svg              the node statechart, generated from the machine definition
 *   POST /api/nodes/:id/kill|restart|isolate|rejoin
 *   POST /api/nodes/:id/remove      DELETE /admin/members/:id on the leader
 *   POST /api/nodes/:id/transfer    POST /admin/transfer-leadership {"to": id} on the leader
 *   POST /api/members/add           (the demo) start a node with --join, add it as a learner, promote it
 *   POST /api/split {"groups": [[ids], [ids]]}  ·  POST /api/heal
 *   POST /api/propose {"key", "value"}  ·  POST /api/workload/pause|resume
 *   GET  /api/coord                  {leases, queues, now}: the coordination state (below)
 *   GET  /api/agents                 [{name, state, value, alive, claim?, lease?, completed, failed, lost}]
 *   POST /api/agents/:name/kill|restart   (the demo's agents) crash one, or start it again
 *
 * GET /api/coord reads GET /v1/leases and GET /v1/queues from a node (those that stream first,
 * then the rest: a node that is down or has no leader is passed over), parses them, and answers
 * them with `now`, the dashboard's clock when it answered, so that the page can say how long a
 * lease or a claim has left (`expiresAt` is the leader's wall clock: on one machine, the same).
 * A queue's tasks are cut to those not done and the last DONE_SHOWN done ones (its counts are
 * whole); the nodes list at most the 1000 oldest tasks of a queue.
 *
 * The mutating routes are POST. They ask the page for no credential, yet the dashboard adds the
 * cluster's to what it sends the nodes, so only the dashboard's own page may reach them
 * (src/dashboard/guard.ts): every request must name in `Host` an address the server listens on
 * (421 otherwise: a DNS-rebound name), and a request that is not GET or HEAD must not come from
 * another site (`Sec-Fetch-Site`, `Origin`: 403 cross_site) and must be `application/json` (415),
 * which another origin cannot send without a CORS preflight that is never granted. (So a reverse
 * proxy that renames the dashboard has to keep Host and Origin as the dashboard knows them.)
 *
 * A node's `node` events come from its debug stream, with the snapshot's index, term and, once it
 * is on disk, size (`snapshotBytes`: see NodeDebugHub.state in src/server/debug.ts).
 *
 * The configuration comes from GET /admin/members, asked of every node that is up once a second
 * (and right after a change the page asked for): the most advanced answer (highest configuration
 * index) is the cluster's, sent in the `cluster` event with the configuration entries seen so far
 * (index, term, voters, learners) and the nodes that left. A member the dashboard does not follow
 * yet is followed at the address the configuration gives for it: a node added at run time, by the
 * page or by `xstate-raft member add`, appears by itself. Membership changes go to the leader (a
 * follower answers 503 no_leader, naming the leader when it knows it).
 *
 * Every request to a node carries `Authorization: Bearer <clientToken ?? secret>`: a node started
 * with --client-token wants that token on every route but the probes, one started with only
 * --secret wants the secret on /debug and /admin (src/server/node-server.ts: adminSecret =
 * clientToken ?? secret). A node that answers 401 is reachable but refuses the dashboard: it is
 * reported as such (a `node` event with `refused`, an error line in the log), never as down.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { chartModel, toSvg } from '../chart/statechart.js';
import { HttpError, readJsonBody } from '../server/body.js';
import { type BoundAddress, refusal } from './guard.js';

export interface DashboardControl {
  kill(id: string): Promise<void>;
  restart(id: string): Promise<void>;
  /**
   * Start a new, empty node process `id` that learns the cluster from `via` (a member's
   * host:port) and waits to be added (`xstate-raft node --join`); resolves with its address once
   * spawned. Without it the page offers no "add node".
   */
  startJoining?(id: string, via: string): Promise<{ address: string }>;
  /** Stop a process startJoining started and forget it (an addition that failed). */
  forget?(id: string): Promise<void>;
}

export interface DashboardWorkload {
  readonly state: 'running' | 'paused';
  pause(): void;
  resume(): void;
}

/** One agent of the demo's team as GET /api/agents answers it (see src/dashboard/workload.ts). */
export interface AgentView {
  name: string;
  /**
   * The worker region of the agent machine (machines/agent.ts): idle, claiming, working,
   * completing, failing, resting — or, with no actor running, killed, paused or stopped.
   */
  state: string;
  /** The machine's whole state value, one dotted path per region ("running.lease.unused, running.worker.busy.working"). */
  value: string;
  /** An actor runs for it. */
  alive: boolean;
  /** The claim it works on or is recording (`attempt`: 1 for the task's first claim, …). */
  claim?: { id: string; token: number; attempt: number };
  /** With a coordinator lease: seeking it or holding it (and the token). */
  lease?: { name: string; state: string; token?: number };
  /** Tasks this actor completed, failed, and claims it lost. */
  completed: number;
  failed: number;
  lost: number;
}

/**
 * A control's outcome: the agent after it (after a kill, with the claim it held and left to
 * expire), or why not — a value the route turns into 404 or 409.
 */
export type AgentAnswer = { ok: true; agent: AgentView } | { ok: false; reason: 'unknown_agent' | 'not_running' | 'running' };

/** A team of agents the dashboard shows and controls (the demo's AgentWorkload). */
export interface DashboardAgents {
  list(): AgentView[];
  /** Crash it: its claim and lease are left to expire. */
  kill(name: string): AgentAnswer;
  /** Start a new actor for a killed agent. */
  restart(name: string): AgentAnswer;
}

export interface DashboardOptions {
  /** Node id → "host:port". */
  nodes: Record<string, string>;
  /** The cluster secret: what the nodes' /debug and /admin routes want when they have no client token. */
  secret?: string;
  /** The nodes' client token: when they have one, every route wants it (and it replaces the secret). */
  clientToken?: string;
  host?: string;
  /** 0 = any free port. */
  port?: number;
  /** Present when the dashboard owns the node processes (the demo). */
  control?: DashboardControl;
  workload?: DashboardWorkload;
  /** The demo's agents: GET /api/agents, POST /api/agents/:name/kill|restart. */
  agents?: DashboardAgents;
  /** Folder of the built page; default: dist/dashboard of this package. */
  assetsDir?: string;
  /** Every line of the cluster log as the page gets it (the CLI prints the errors). */
  onLog?: (line: LogLine) => void;
}

export type LogLevel = 'info' | 'warn' | 'error';

export interface LogLine {
  level: LogLevel;
  text: string;
  time: number;
}

/** Which credential the dashboard was given, to say what to do about a refusal. */
export type Credential = 'none' | 'secret' | 'client-token';

/** How often every node that is up is asked for its configuration (GET /admin/members). */
const MEMBERS_POLL_MS = 1000;
/** How long a membership change or a transfer may take at the leader (a promotion waits for the learner to catch up). */
const CHANGE_TIMEOUT_MS = 60_000;
/** How long a node started with --join has to start streaming its state. */
const JOIN_START_MS = 30_000;
/** Configuration entries kept for the page (the log strips show the last 40 entries). */
const MAX_CONFIGS = 64;

/** A node's answer to GET /admin/members (see src/server/debug.ts). */
const membersAnswer = z.object({
  voters: z.array(z.string()),
  learners: z.array(z.string()),
  addresses: z.record(z.string(), z.string()).optional(),
  index: z.number().int().min(0),
  committed: z.boolean(),
  leaderId: z.string().nullable().optional(),
});
type MembersAnswer = z.infer<typeof membersAnswer> & { from: string };

/** A configuration entry of the log: the page marks it in the strips (ConfigEntry in ui/types.ts). */
interface ConfigEntry {
  index: number;
  /** Known once a node's log tail or a change's answer showed it. */
  term?: number;
  voters: string[];
  learners: string[];
}

/** What a membership change answers once committed. */
const changeAnswer = z.object({ index: z.number().int(), term: z.number().int() });

/** Done tasks GET /api/coord keeps per queue (the newest): the page shows counts, claims and dead letters. */
const DONE_SHOWN = 10;
/** How long a node has to answer a read of /v1/leases or /v1/queues before the next is asked. */
const COORD_READ_MS = 3000;

// The nodes' coordination answers (src/server/coord-api.ts), parsed once, here.
const leaseAnswer = z.object({ name: z.string(), holder: z.string(), token: z.number().int(), expiresAt: z.number(), ttlMs: z.number() });
const taskAnswer = z.object({
  id: z.string(),
  queue: z.string(),
  task: z.json(),
  state: z.enum(['queued', 'claimed', 'done', 'dead']),
  attempts: z.number().int(),
  maxAttempts: z.number().int(),
  postedAt: z.number().int(),
  claim: z.object({ worker: z.string(), token: z.number().int(), expiresAt: z.number() }).optional(),
  result: z.json().optional(),
  completedBy: z.object({ worker: z.string(), token: z.number().int() }).optional(),
  reason: z.string().optional(),
});
const queueAnswer = z.object({
  queue: z.string(),
  counts: z.object({ queued: z.number().int(), claimed: z.number().int(), done: z.number().int(), dead: z.number().int() }),
  tasks: z.array(taskAnswer),
});
const leasesAnswer = z.object({ leases: z.array(leaseAnswer) });
const queuesAnswer = z.object({ queues: z.array(queueAnswer) });
export type CoordView = { leases: z.infer<typeof leaseAnswer>[]; queues: z.infer<typeof queueAnswer>[]; now: number };

/** How soon to look again at a node that is down (it may be restarting) … */
const DOWN_RETRY_MS = 300;
/** … and at one that refuses the dashboard (that takes a person restarting something). */
const REFUSED_RETRY_MS = 2000;

/**
 * What to do when a node answers 401, from what the node says it wants: its client token
 * (src/server/auth.ts: "needs a client token", "the client token is wrong") or, with no client
 * token, its cluster secret (src/server/debug.ts: "has a cluster secret").
 */
export function refusalAdvice(nodeReason: string, sent: Credential): string {
  if (/client token/i.test(nodeReason)) {
    return sent === 'client-token'
      ? 'the nodes refuse its client token: start the dashboard with the --client-token the nodes were started with'
      : 'the nodes have a client token: start the dashboard with --client-token <token> (or $XSTATE_RAFT_CLIENT_TOKEN)';
  }
  if (/secret/i.test(nodeReason)) {
    return sent === 'none'
      ? 'the nodes have a cluster secret: start the dashboard with --secret <secret> (or $XSTATE_RAFT_SECRET)'
      : 'the nodes refuse its credential: start the dashboard with the --secret the nodes were started with';
  }
  return "start the dashboard with the nodes' --client-token <token>, or their --secret <secret> if they have no client token";
}

type Sse = { event: string; data: unknown };

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
};

export class DashboardServer {
  private readonly server: Server;
  private readonly clients = new Set<ServerResponse>();
  private readonly latest = new Map<string, unknown>();
  private readonly leaders: Sse[] = [];
  private readonly logs: Sse[] = [];
  private readonly leaderTerms = new Set<number>();
  private readonly streams = new Map<string, AbortController>();
  private readonly chartSvg: string;
  private closed = false;
  private readonly closing = new AbortController();
  private bound: { host: string; port: number } | undefined;
  /** Node id → host:port: the options' nodes, then those met in a configuration or started by the page. */
  private readonly addresses: Map<string, string>;
  /** The configuration in force on the most advanced node that answered GET /admin/members. */
  private members: MembersAnswer | undefined;
  private readonly configs: ConfigEntry[] = [];
  /** Terms of configuration entries from the answers to this dashboard's own changes (committed: final). */
  private readonly changeTerms = new Map<number, number>();
  /**
   * Every member of a configuration any node answered with: one missing from the current
   * configuration left it (a change seen only once it was superseded still counts).
   */
  private readonly everMembers = new Set<string>();
  /** Members whose address no node gave (said once each). */
  private readonly unreachable = new Set<string>();
  private membersPoll: Promise<void> = Promise.resolve();
  private clusterKey = '';
  /** The node "add node" is adding (one at a time, as the cluster changes one server at a time). */
  private adding: string | undefined;
  /** What the nodes get in `Authorization` (see the header comment). */
  private readonly authorization: Record<string, string>;
  private readonly credential: Credential;

  constructor(private readonly options: DashboardOptions) {
    this.chartSvg = toSvg(chartModel());
    this.server = createServer((req, res) => void this.handle(req, res));
    const bearer = options.clientToken ?? options.secret;
    this.authorization = bearer !== undefined ? { authorization: `Bearer ${bearer}` } : {};
    this.credential = options.clientToken !== undefined ? 'client-token' : options.secret !== undefined ? 'secret' : 'none';
    this.addresses = new Map(Object.entries(options.nodes));
  }

  get ids(): string[] {
    return [...this.addresses.keys()];
  }

  /** The voters' addresses (every node's until a configuration is known): where clients should go. */
  memberAddresses(): string[] {
    const ids = this.members?.voters.filter((id) => this.addresses.has(id)) ?? [];
    return (ids.length > 0 ? ids : this.ids).map((id) => this.addresses.get(id) as string);
  }

  /** Where the dashboard reaches `id` (a node it follows), or undefined. */
  addressOf(id: string): string | undefined {
    return this.addresses.get(id);
  }

  /** Follow one more node (one that joins at run time): its state streams like the others'. */
  followNode(id: string, address: string): void {
    if (this.addresses.get(id) === address) return;
    this.streams.get(id)?.abort();
    this.addresses.set(id, address);
    this.unreachable.delete(id);
    if (this.bound) this.follow(id);
    this.announceIfChanged();
  }

  /** Stop following a node and forget it. */
  unfollowNode(id: string): void {
    this.streams.get(id)?.abort();
    this.streams.delete(id);
    this.addresses.delete(id);
    this.latest.delete(id);
    this.announceIfChanged();
  }

  get url(): string {
    if (!this.bound) throw new Error('the dashboard is not listening yet');
    return `http://${this.bound.host}:${this.bound.port}`;
  }

  async listen(): Promise<{ host: string; port: number }> {
    const host = this.options.host ?? '127.0.0.1';
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.port ?? 0, host, () => resolve());
    });
    this.bound = { host, port: (this.server.address() as AddressInfo).port };
    for (const id of this.ids) this.follow(id);
    void this.watchMembers();
    return this.bound;
  }

  /** A human-readable line for the page's log panel. */
  log(text: string, level: LogLevel = 'info'): void {
    const line: LogLine = { level, text, time: Date.now() };
    const event = { event: 'log', data: line };
    this.logs.push(event);
    if (this.logs.length > 100) this.logs.shift();
    this.broadcast(event);
    this.options.onLog?.(line);
  }

  /** Tell the page that what it can do or the workload's state changed. */
  announceCluster(): void {
    const event = this.clusterEvent();
    this.clusterKey = JSON.stringify(event.data);
    this.broadcast(event);
  }

  /** announceCluster() if the cluster's picture changed since it was last sent. */
  private announceIfChanged(): void {
    if (JSON.stringify(this.clusterEvent().data) !== this.clusterKey) this.announceCluster();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.closing.abort();
    for (const controller of this.streams.values()) controller.abort();
    for (const res of this.clients) res.end();
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  // ------------------------------------------------------------ following the nodes

  private follow(id: string): void {
    const controller = new AbortController();
    this.streams.set(id, controller);
    const address = this.addresses.get(id) as string;
    const loop = async () => {
      while (!this.closed && !controller.signal.aborted) {
        let refused: string | undefined;
        try {
          const res = await fetch(`http://${address}/debug/events`, { headers: this.authorization, signal: controller.signal });
          if (res.status === 401) refused = await nodeReason(res);
          else if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
          else await this.readStream(id, res.body);
        } catch {
          // The node is down (or restarting): say so, and try again shortly.
        }
        if (this.closed || controller.signal.aborted) return; // closed, or no longer followed
        if (refused !== undefined) this.nodeRefused(id, refused);
        else this.nodeDown(id);
        await sleep(refused !== undefined ? REFUSED_RETRY_MS : DOWN_RETRY_MS, undefined, { signal: controller.signal }).catch(() => undefined); // close() aborts
      }
    };
    void loop();
  }

  private async readStream(id: string, body: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    let buffer = '';
    for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let event = 'message';
        let data = '';
        for (const line of block.split('\n')) {
          if (line.startsWith('event: ')) event = line.slice(7);
          else if (line.startsWith('data: ')) data += line.slice(6);
        }
        if (data === '') continue;
        this.fromNode(id, event, JSON.parse(data) as Record<string, unknown>);
      }
    }
  }

  private fromNode(id: string, event: string, data: Record<string, unknown>): void {
    if (event === 'node') {
      this.latest.set(id, data);
      this.broadcast({ event: 'node', data });
      if (data.role === 'leader' && typeof data.term === 'number' && !this.leaderTerms.has(data.term)) {
        this.leaderTerms.add(data.term);
        const leader = { event: 'leader', data: { term: data.term, leaderId: id, time: Date.now() } };
        this.leaders.push(leader);
        if (this.leaders.length > 50) this.leaders.shift();
        this.broadcast(leader);
        this.log(`${id} became leader of term ${data.term}`);
      }
    } else if (event === 'message') {
      this.broadcast({ event: 'message', data });
    }
  }

  private nodeDown(id: string): void {
    const was = this.latest.get(id) as { up?: boolean; refused?: string } | undefined;
    if (was && was.up === false && was.refused === undefined) return;
    const data = { id, up: false, time: Date.now() };
    this.latest.set(id, data);
    this.broadcast({ event: 'node', data });
  }

  /** The node answered 401: it lives, but will not talk to this dashboard. Said once per change. */
  private nodeRefused(id: string, reason: string): void {
    const advice = refusalAdvice(reason, this.credential);
    const was = this.latest.get(id) as { refused?: string } | undefined;
    if (was?.refused === advice) return;
    const data = { id, up: false, refused: advice, time: Date.now() };
    this.latest.set(id, data);
    this.broadcast({ event: 'node', data });
    this.log(`${id} refuses the dashboard (401 unauthorized): ${advice}`, 'error');
  }

  // ------------------------------------------------------------ the page's stream

  private clusterEvent(): Sse {
    const members = this.members;
    const current = new Set(members ? [...members.voters, ...members.learners] : []);
    return {
      event: 'cluster',
      data: {
        nodes: this.ids,
        controls: {
          kill: !!this.options.control,
          restart: !!this.options.control,
          workload: !!this.options.workload,
          addNode: this.options.control?.startJoining !== undefined,
          coord: true,
          agents: this.options.agents !== undefined,
        },
        workload: this.options.workload?.state ?? 'off',
        ...(members
          ? {
              members: { voters: members.voters, learners: members.learners, index: members.index, committed: members.committed },
              configs: this.configs,
              removed: [...this.everMembers].filter((id) => !current.has(id)),
            }
          : {}),
      },
    };
  }

  private stream(res: ServerResponse): void {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    const send = (e: Sse) => res.write(`event: ${e.event}\ndata: ${JSON.stringify(e.data)}\n\n`);
    send(this.clusterEvent());
    for (const id of this.ids) {
      const state = this.latest.get(id);
      if (state !== undefined) send({ event: 'node', data: state });
    }
    for (const e of [...this.leaders, ...this.logs]) send(e);
    this.clients.add(res);
    const keepAlive = setInterval(() => res.write(': ping\n\n'), 15_000);
    res.on('close', () => {
      clearInterval(keepAlive);
      this.clients.delete(res);
    });
  }

  private broadcast(e: Sse): void {
    const text = `event: ${e.event}\ndata: ${JSON.stringify(e.data)}\n\n`;
    for (const res of this.clients) res.write(text);
  }

  // ------------------------------------------------------------ requests

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://dashboard');
    // Another page's request, or one under a rebound name, stops here (src/dashboard/guard.ts).
    const refused = refusal(req.method, req.headers, this.bound as BoundAddress);
    if (refused !== undefined) {
      req.resume();
      return send(res, refused.status, JSON.stringify(refused.body), 'application/json');
    }
    try {
      if (req.method === 'GET' && url.pathname === '/api/events') return this.stream(res);
      if (req.method === 'GET' && url.pathname === '/api/chart.svg') return send(res, 200, this.chartSvg, 'image/svg+xml');
      if (req.method === 'GET' && url.pathname === '/api/coord') return send(res, 200, JSON.stringify(await this.coordView()), 'application/json');
      if (req.method === 'GET' && url.pathname === '/api/agents') return send(res, 200, JSON.stringify(this.options.agents?.list() ?? []), 'application/json');
      if (req.method === 'GET' && !url.pathname.startsWith('/api/')) return this.asset(res, url.pathname);
      if (req.method !== 'POST') throw new HttpError(405, { error: 'method_not_allowed' });
      const result = await this.control(url.pathname, req);
      return send(res, 200, JSON.stringify(result ?? { ok: true }), 'application/json');
    } catch (error) {
      const e = error instanceof HttpError ? error : new HttpError(502, { error: 'failed', reason: error instanceof Error ? error.message : String(error) });
      send(res, e.status, JSON.stringify(e.body), 'application/json');
    }
  }

  private async control(path: string, req: IncomingMessage): Promise<unknown> {
    const node = /^\/api\/nodes\/([^/]+)\/(kill|restart|isolate|rejoin|remove|transfer)$/.exec(path);
    if (node) {
      const [, id, action] = node as unknown as [string, string, string];
      if (!this.ids.includes(id)) throw new HttpError(404, { error: 'not_found', reason: `no node ${id}` });
      if (action === 'remove') return this.removeMember(id);
      if (action === 'transfer') return this.transferTo(id);
      if (action === 'kill' || action === 'restart') {
        if (!this.options.control) throw new HttpError(501, { error: 'not_available', reason: 'this dashboard does not own the node processes' });
        await (action === 'kill' ? this.options.control.kill(id) : this.options.control.restart(id));
        this.log(`${id} ${action === 'kill' ? 'killed (kill -9)' : 'restarted from its data'}`, action === 'kill' ? 'warn' : 'info');
        return { ok: true };
      }
      if (action === 'isolate') {
        await this.admin(
          id,
          'isolate',
          this.ids.filter((peer) => peer !== id),
        );
        this.log(`${id} isolated from every other node`, 'warn');
      } else {
        await Promise.all(this.ids.map((peer) => (peer === id ? this.admin(peer, 'rejoin') : this.admin(peer, 'rejoin', [id]).catch(() => undefined))));
        this.log(`${id} rejoined`);
      }
      return { ok: true };
    }
    const agent = /^\/api\/agents\/([^/]+)\/(kill|restart)$/.exec(path);
    if (agent) {
      const [, name, action] = agent as unknown as [string, string, 'kill' | 'restart'];
      return this.agentControl(decodePathSegment(name), action);
    }
    switch (path) {
      case '/api/split': {
        const body = z.object({ groups: z.array(z.array(z.string())).min(2) }).safeParse(await readJsonBody(req, 64 * 1024));
        if (!body.success) throw new HttpError(400, { error: 'bad_request', reason: 'the body is {"groups": [[ids], [ids]]}' });
        const groups = body.data.groups;
        await Promise.all(
          this.ids.map((id) => {
            const mine = groups.find((g) => g.includes(id)) ?? [id];
            return this.admin(
              id,
              'isolate',
              this.ids.filter((peer) => !mine.includes(peer)),
            ).catch(() => undefined);
          }),
        );
        this.log(`cluster split into ${groups.map((g) => `{${g.join(', ')}}`).join(' and ')}`, 'warn');
        return { ok: true };
      }
      case '/api/members/add':
        return this.addNode();
      case '/api/heal':
        await Promise.all(this.ids.map((id) => this.admin(id, 'rejoin').catch(() => undefined)));
        this.log('network healed');
        return { ok: true };
      case '/api/propose': {
        const body = z
          .object({ key: z.string().min(1).max(1024), value: z.json() })
          .strict()
          .safeParse(await readJsonBody(req, 1024 * 1024));
        if (!body.success) throw new HttpError(400, { error: 'bad_request', reason: 'the body is {"key": string, "value": json}' });
        const reply = await this.propose(body.data.key, body.data.value);
        this.log(`proposed ${body.data.key} = ${JSON.stringify(body.data.value)} → committed at index ${String((reply as { index?: number }).index)}`);
        return reply;
      }
      case '/api/workload/pause':
      case '/api/workload/resume':
        if (!this.options.workload) throw new HttpError(501, { error: 'not_available', reason: 'no workload is running' });
        if (path.endsWith('pause')) this.options.workload.pause();
        else this.options.workload.resume();
        this.log(`workload ${this.options.workload.state}`);
        this.announceCluster();
        return { workload: this.options.workload.state };
      default:
        throw new HttpError(404, { error: 'not_found' });
    }
  }

  // ------------------------------------------------------------ coordination and agents

  private agentControl(name: string, action: 'kill' | 'restart'): AgentView {
    const agents = this.options.agents;
    if (agents === undefined) throw new HttpError(404, { error: 'not_found', reason: `no agent ${name}: this dashboard runs no agents` });
    const answer = action === 'kill' ? agents.kill(name) : agents.restart(name);
    if (answer.ok) return answer.agent;
    if (answer.reason === 'unknown_agent') throw new HttpError(404, { error: 'not_found', reason: `no agent ${name}` });
    throw new HttpError(409, { error: answer.reason, reason: answer.reason === 'running' ? `${name} is running: kill it first` : `${name} is not running` });
  }

  /** GET /v1/leases and /v1/queues from one node: those that stream first, then the rest (see the header). */
  private async coordView(): Promise<CoordView> {
    const order = [...this.ids.filter((id) => this.isUp(id)), ...this.ids.filter((id) => !this.isUp(id))];
    let last = 'no node is known';
    for (const id of order) {
      try {
        const leases = leasesAnswer.parse(await this.read(id, '/v1/leases'));
        const queues = queuesAnswer.parse(await this.read(id, '/v1/queues'));
        return { leases: leases.leases, queues: queues.queues.map(trimDone), now: Date.now() };
      } catch (error) {
        if (error instanceof HttpError) throw error;
        last = `${id}: ${error instanceof z.ZodError ? `an answer that is not the coordination API's (${error.issues[0]?.message ?? 'invalid'})` : (error as Error).message}`;
      }
    }
    throw new HttpError(503, { error: 'unavailable', reason: `no node answered the coordination reads (last: ${last})`, retry: true });
  }

  /** A GET of a node's JSON; 401 is the dashboard's credential refused, 404 a node older than the route. */
  private async read(id: string, path: string): Promise<unknown> {
    const res = await fetch(`http://${this.addresses.get(id)}${path}`, {
      headers: this.authorization,
      signal: AbortSignal.any([AbortSignal.timeout(COORD_READ_MS), this.closing.signal]),
    });
    if (res.status === 401) throw this.refusedError(id, await nodeReason(res));
    if (res.status === 404) {
      await res.arrayBuffer();
      throw new HttpError(502, { error: 'not_available', reason: `${id} has no ${path} route (a node older than the coordination API?)` });
    }
    if (!res.ok) throw new Error(`HTTP ${res.status} ${await nodeReason(res)}`);
    return res.json();
  }

  private async admin(id: string, action: 'isolate' | 'rejoin', peers?: string[]): Promise<void> {
    const res = await fetch(`http://${this.addresses.get(id)}/admin/${action}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...this.authorization },
      body: JSON.stringify(peers ? { peers } : {}),
      signal: AbortSignal.timeout(2000),
    });
    if (res.status === 401) throw this.refusedError(id, await nodeReason(res));
    if (!res.ok) throw new HttpError(502, { error: 'node_refused', reason: `${id}: ${await res.text()}` });
  }

  /** This dashboard's session in the nodes' dedup table, and its proposals so far. */
  private readonly clientSession = `dashboard#${randomUUID()}`;
  private proposals = 0;

  private refusedError(id: string, reason: string): HttpError {
    return new HttpError(502, { error: 'unauthorized', reason: `${id} refuses the dashboard (401): ${refusalAdvice(reason, this.credential)}` });
  }

  private async propose(key: string, value: unknown): Promise<unknown> {
    let last = 'no node is up';
    let refused: HttpError | undefined;
    // Numbered as a client session (see the client HTTP API): a PUT retried on the next node after
    // a timeout or a dropped connection, that the first node may have applied, is applied once.
    const numbered = { 'x-client-id': this.clientSession, 'x-request-seq': String(++this.proposals) };
    for (const id of this.ids) {
      try {
        const res = await fetch(`http://${this.addresses.get(id)}/kv/${encodeURIComponent(key)}`, {
          method: 'PUT',
          headers: { 'content-type': 'application/json', ...numbered, ...this.authorization },
          body: JSON.stringify({ value }),
          signal: AbortSignal.timeout(10_000),
        });
        // Every node has the same client token: one refusal answers for all of them.
        if (res.status === 401) {
          refused = this.refusedError(id, await nodeReason(res));
          break;
        }
        const body = (await res.json()) as Record<string, unknown>;
        if (res.ok) return body;
        last = `${id}: ${JSON.stringify(body)}`;
        if (res.status !== 503) break;
      } catch (error) {
        last = `${id}: ${(error as Error).message}`;
      }
    }
    throw refused ?? new HttpError(503, { error: 'no_leader', reason: last });
  }

  // ------------------------------------------------------------ membership

  private async watchMembers(): Promise<void> {
    while (!this.closed) {
      await this.readMembers();
      await sleep(MEMBERS_POLL_MS, undefined, { signal: this.closing.signal }).catch(() => undefined); // close() aborts
    }
  }

  /** Ask every node that is up for its configuration (one round at a time; a caller waits for its own). */
  readMembers(): Promise<void> {
    this.membersPoll = this.membersPoll.then(() => this.pollMembers()).catch(() => undefined);
    return this.membersPoll;
  }

  private async pollMembers(): Promise<void> {
    const up = this.ids.filter((id) => this.isUp(id));
    const answers = (await Promise.all(up.map((id) => this.askMembers(id)))).filter((a): a is MembersAnswer => a !== undefined);
    for (const a of answers) {
      this.sawConfig({ index: a.index, voters: a.voters, learners: a.learners, ...optionalTerm(this.termAt(a.from, a.index)) });
      for (const id of [...a.voters, ...a.learners]) this.everMembers.add(id);
    }
    // A configuration is in force once appended: the highest index is the newest (if it is later
    // truncated, the next round says so), and a committed one beats an uncommitted copy.
    let best: MembersAnswer | undefined;
    for (const a of answers) if (best === undefined || a.index > best.index || (a.index === best.index && a.committed && !best.committed)) best = a;
    if (best !== undefined && this.closed === false) {
      this.members = best;
      for (const id of [...best.voters, ...best.learners]) {
        if (this.addresses.has(id)) continue;
        const address = answers.map((a) => a.addresses?.[id]).find((a) => a !== undefined);
        if (address !== undefined) {
          this.log(`${id} is in the configuration: following it at ${address}`);
          this.followNode(id, address);
        } else if (!this.unreachable.has(id)) {
          this.unreachable.add(id);
          this.log(`${id} is in the configuration, but no node gave its address: the dashboard cannot show it`, 'warn');
        }
      }
    }
    this.announceIfChanged();
  }

  private async askMembers(id: string): Promise<MembersAnswer | undefined> {
    try {
      const res = await fetch(`http://${this.addresses.get(id)}/admin/members`, { headers: this.authorization, signal: AbortSignal.timeout(2000) });
      if (!res.ok) {
        await res.arrayBuffer(); // an older node without the route (404), or one that refuses (said by its stream)
        return undefined;
      }
      const parsed = membersAnswer.safeParse(await res.json());
      return parsed.success ? { ...parsed.data, from: id } : undefined;
    } catch {
      return undefined;
    }
  }

  /** The term of entry `index` in `id`'s log as its stream last showed it, or as a change's answer gave it. */
  private termAt(id: string, index: number): number | undefined {
    const known = this.changeTerms.get(index);
    if (known !== undefined) return known;
    const state = this.latest.get(id) as { up?: boolean; lastLogIndex?: number; log?: { start: number; terms: number[] } } | undefined;
    if (state?.up !== true || state.log === undefined || state.lastLogIndex === undefined) return undefined;
    if (index < state.log.start || index > state.lastLogIndex) return undefined;
    return state.log.terms[index - state.log.start];
  }

  /** Keep a configuration entry for the page (index 0 is the bootstrap list, not an entry). */
  private sawConfig(entry: ConfigEntry): void {
    if (entry.index === 0) return;
    const sameConfig = (c: ConfigEntry) => c.index === entry.index && c.voters.join() === entry.voters.join() && c.learners.join() === entry.learners.join();
    const known = this.configs.find((c) => sameConfig(c) && (c.term === undefined || entry.term === undefined || c.term === entry.term));
    if (known !== undefined) {
      if (known.term === undefined && entry.term !== undefined) known.term = entry.term;
      return;
    }
    let at = this.configs.length;
    while (at > 0 && (this.configs[at - 1] as ConfigEntry).index > entry.index) at--;
    this.configs.splice(at, 0, { ...entry, voters: [...entry.voters], learners: [...entry.learners] });
    if (this.configs.length > MAX_CONFIGS) this.configs.splice(0, this.configs.length - MAX_CONFIGS);
  }

  private isUp(id: string): boolean {
    return (this.latest.get(id) as { up?: boolean } | undefined)?.up === true;
  }

  /** The node that leads the highest term any node streams itself leading in. */
  private leaderId(): string | undefined {
    let best: { id: string; term: number } | undefined;
    for (const id of this.ids) {
      const state = this.latest.get(id) as { up?: boolean; role?: string; term?: number } | undefined;
      if (state?.up === true && state.role === 'leader' && typeof state.term === 'number' && (best === undefined || state.term > best.term)) best = { id, term: state.term };
    }
    return best?.id;
  }

  /**
   * A request only the leader takes: to the node the streams show leading, then to the one a
   * follower's 503 names, then to every other node that is up. Any other refusal is the answer.
   */
  private async toLeader(method: 'POST' | 'DELETE', path: string, body?: unknown): Promise<Record<string, unknown>> {
    const leader = this.leaderId();
    const order = [...(leader !== undefined ? [leader] : []), ...this.ids.filter((id) => id !== leader && this.isUp(id))];
    const tried = new Set<string>();
    let last = 'no node is up';
    for (let id = order.shift(); id !== undefined; id = order.shift()) {
      const address = this.addresses.get(id);
      if (tried.has(id) || address === undefined) continue;
      tried.add(id);
      let res: Response;
      try {
        res = await fetch(`http://${address}${path}`, {
          method,
          headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...this.authorization },
          ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
          signal: AbortSignal.any([AbortSignal.timeout(CHANGE_TIMEOUT_MS), this.closing.signal]),
        });
      } catch (error) {
        last = `${id}: ${(error as Error).message}`;
        continue;
      }
      if (res.status === 401) throw this.refusedError(id, await nodeReason(res));
      const text = await res.text();
      let answer: Record<string, unknown> = {};
      try {
        answer = JSON.parse(text) as Record<string, unknown>;
      } catch {
        answer = { reason: text };
      }
      if (res.ok) return answer;
      if (res.status === 503) {
        // Not the leader (or none is known): the one it names next, else the others.
        const named = answer['leaderId'];
        if (typeof named === 'string') {
          if (!this.addresses.has(named) && typeof answer['leaderAddress'] === 'string') this.followNode(named, answer['leaderAddress']);
          order.unshift(named);
        }
        last = `${id}: ${typeof answer['error'] === 'string' ? answer['error'] : `HTTP ${res.status}`}${typeof answer['reason'] === 'string' ? ` (${answer['reason']})` : ''}`;
        continue;
      }
      if (res.status === 404 && answer['error'] === 'not_found') {
        throw new HttpError(502, { error: 'not_available', reason: `${id} has no ${method} ${path.replace(/\/[^/]*$/, '/…')} route (a node older than membership changes?)` });
      }
      // The node's own refusal (400 invalid_request, 409 config_change_in_progress or transfer_failed, 504 …), said as its.
      throw new HttpError(res.status === 500 ? 502 : res.status, {
        error: typeof answer['error'] === 'string' ? answer['error'] : 'node_refused',
        reason: `${id}: ${typeof answer['reason'] === 'string' ? answer['reason'] : `HTTP ${res.status}`}`,
      });
    }
    throw new HttpError(503, { error: 'no_leader', reason: last });
  }

  /** "configuration entry 57, term 3", and its term kept to mark it in the strips. */
  private committedAt(answer: Record<string, unknown>): string {
    const parsed = changeAnswer.safeParse(answer);
    if (!parsed.success) return 'committed';
    this.changeTerms.set(parsed.data.index, parsed.data.term);
    if (this.changeTerms.size > MAX_CONFIGS) this.changeTerms.delete(this.changeTerms.keys().next().value as number);
    return `configuration entry ${parsed.data.index}, term ${parsed.data.term}`;
  }

  private async removeMember(id: string): Promise<unknown> {
    const answer = await this.toLeader('DELETE', `/admin/members/${encodeURIComponent(id)}`);
    this.log(`${id} removed from the configuration (${this.committedAt(answer)})`, 'warn');
    await this.readMembers();
    return answer;
  }

  private async transferTo(id: string): Promise<unknown> {
    const answer = await this.toLeader('POST', '/admin/transfer-leadership', { to: id });
    const term = typeof answer['term'] === 'number' ? ` (term ${answer['term']})` : '';
    this.log(`leadership transferred to ${typeof answer['leaderId'] === 'string' ? answer['leaderId'] : id}${term}`);
    return answer;
  }

  /**
   * "Add node": a new process started with --join, followed at once (shown as not a member yet);
   * once it streams, added as a learner through the leader, then named again as a voter, which
   * the leader promotes once the learner has caught up (src/server/admin-members.ts). Two steps
   * rather than one `role: "voter"` so that the page shows the learner. Its process is stopped
   * again if it could not be added at all.
   */
  private async addNode(): Promise<unknown> {
    const control = this.options.control;
    if (control?.startJoining === undefined) {
      throw new HttpError(501, {
        error: 'not_available',
        reason: 'this dashboard does not own the node processes: start one with `xstate-raft node --join <address>` and add it with `xstate-raft member add`',
      });
    }
    if (this.adding !== undefined) throw new HttpError(409, { error: 'busy', reason: `${this.adding} is being added` });
    // The new server asks any member for the cluster (the leader, if there is one yet).
    const via = this.leaderId() ?? this.ids.find((id) => this.isUp(id) && (this.members === undefined || this.members.voters.includes(id)));
    if (via === undefined) throw new HttpError(503, { error: 'no_leader', reason: 'no member is up for a new server to join through', retry: true });
    const id = this.nextId();
    this.adding = id;
    try {
      const { address } = await control.startJoining(id, this.addresses.get(via) as string);
      this.followNode(id, address);
      this.log(`${id} started on ${address}: a new, empty node that learns the cluster from ${via} (node --join)`);
      let added = false;
      try {
        await this.until(() => this.isUp(id), JOIN_START_MS, `${id} did not start within ${JOIN_START_MS / 1000} s`);
        const learner = await this.toLeader('POST', '/admin/members', { id, address, role: 'learner' });
        added = true;
        this.log(`${id} added as a learner (${this.committedAt(learner)})`);
        await this.readMembers();
        // A learner named again as a voter: the leader promotes it once it has caught up.
        const voter = await this.toLeader('POST', '/admin/members', { id, address, role: 'voter' });
        this.log(`${id} promoted to voter (${this.committedAt(voter)})`);
        await this.readMembers();
        return { id, address, learner, voter };
      } catch (error) {
        const reason = error instanceof HttpError ? String((error.body as { reason?: unknown }).reason ?? error.message) : (error as Error).message;
        if (added) {
          this.log(`${id} stays a learner: ${reason}`, 'warn');
        } else {
          await control.forget?.(id);
          this.unfollowNode(id);
          this.log(`${id} was not added (${reason}): its process is stopped`, 'warn');
        }
        throw error;
      }
    } finally {
      this.adding = undefined;
    }
  }

  private async until(condition: () => boolean, ms: number, failure: string): Promise<void> {
    const deadline = Date.now() + ms;
    while (!condition()) {
      if (Date.now() > deadline) throw new HttpError(504, { error: 'timeout', reason: failure });
      await sleep(100, undefined, { signal: this.closing.signal });
    }
  }

  /** The first n<k> no node, member or former member has. */
  private nextId(): string {
    const taken = new Set([...this.ids, ...this.everMembers, ...(this.members?.voters ?? []), ...(this.members?.learners ?? [])]);
    let k = 1;
    while (taken.has(`n${k}`)) k++;
    return `n${k}`;
  }

  private asset(res: ServerResponse, path: string): void {
    const dir = this.options.assetsDir ?? defaultAssetsDir();
    const name = path === '/' ? 'index.html' : path.slice(1);
    if (!/^[\w.-]+$/.test(name)) throw new HttpError(404, { error: 'not_found' });
    const file = join(dir, name);
    if (!existsSync(file)) {
      if (name === 'index.html') throw new HttpError(500, { error: 'not_built', reason: `the dashboard page is not built (${dir}); run npm run build` });
      throw new HttpError(404, { error: 'not_found' });
    }
    const ext = name.slice(name.lastIndexOf('.'));
    send(res, 200, readFileSync(file), CONTENT_TYPES[ext] ?? 'application/octet-stream');
  }
}

/** A queue with its tasks cut to those not done and the newest DONE_SHOWN done ones (its counts stay whole). */
function trimDone(queue: z.infer<typeof queueAnswer>): z.infer<typeof queueAnswer> {
  const done = queue.tasks.filter((t) => t.state === 'done').slice(-DONE_SHOWN);
  return { ...queue, tasks: queue.tasks.filter((t) => t.state !== 'done' || done.includes(t)) };
}

/** A percent-encoded path segment, or a name no agent has when it is not well-formed. */
function decodePathSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return '';
  }
}

function optionalTerm(term: number | undefined): { term?: number } {
  return term !== undefined ? { term } : {};
}

/** The `reason` of a node's JSON error answer, or its text. */
async function nodeReason(res: Response): Promise<string> {
  const text = await res.text().catch(() => '');
  try {
    const body = JSON.parse(text) as { reason?: unknown };
    if (typeof body.reason === 'string') return body.reason;
  } catch {
    // not JSON: the text says what it says
  }
  return text;
}

function send(res: ServerResponse, status: number, body: string | Buffer, contentType: string): void {
  res.writeHead(status, { 'content-type': contentType, 'cache-control': 'no-store' });
  res.end(body);
}

/** dist/dashboard of this package, found from this file whether it runs from src/ (tsx) or dist/. */
export function defaultAssetsDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  return join(dir, 'dist', 'dashboard');
}
