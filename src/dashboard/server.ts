/**
 * The dashboard server: serves the bundled page (dist/dashboard), follows every node's
 * /debug/events stream and merges them into one Server-Sent Events stream for the page, and turns
 * the page's controls into real actions — the nodes' isolation switch, KV writes, and (when the
 * dashboard owns the node processes, as in the demo) kill and restart.
 *
 *   GET  /api/events                 SSE: cluster, node, message, leader, log
 *   GET  /api/chart.svg              the node statechart, generated from the machine definition
 *   POST /api/nodes/:id/kill|restart|isolate|rejoin
 *   POST /api/split {"groups": [[ids], [ids]]}  ·  POST /api/heal
 *   POST /api/propose {"key", "value"}  ·  POST /api/workload/pause|resume
 *
 * A node's `node` events come from its debug stream, with the snapshot's index, term and, once it
 * is on disk, size (`snapshotBytes`: see NodeDebugHub.state in src/server/debug.ts).
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

export interface DashboardControl {
  kill(id: string): Promise<void>;
  restart(id: string): Promise<void>;
}

export interface DashboardWorkload {
  readonly state: 'running' | 'paused';
  pause(): void;
  resume(): void;
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
  private bound: { host: string; port: number } | undefined;
  /** What the nodes get in `Authorization` (see the header comment). */
  private readonly authorization: Record<string, string>;
  private readonly credential: Credential;

  constructor(private readonly options: DashboardOptions) {
    this.chartSvg = toSvg(chartModel());
    this.server = createServer((req, res) => void this.handle(req, res));
    const bearer = options.clientToken ?? options.secret;
    this.authorization = bearer !== undefined ? { authorization: `Bearer ${bearer}` } : {};
    this.credential = options.clientToken !== undefined ? 'client-token' : options.secret !== undefined ? 'secret' : 'none';
  }

  get ids(): string[] {
    return Object.keys(this.options.nodes);
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
    this.broadcast(this.clusterEvent());
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const controller of this.streams.values()) controller.abort();
    for (const res of this.clients) res.end();
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  // ------------------------------------------------------------ following the nodes

  private follow(id: string): void {
    const controller = new AbortController();
    this.streams.set(id, controller);
    const address = this.options.nodes[id] as string;
    const loop = async () => {
      while (!this.closed) {
        let refused: string | undefined;
        try {
          const res = await fetch(`http://${address}/debug/events`, { headers: this.authorization, signal: controller.signal });
          if (res.status === 401) refused = await nodeReason(res);
          else if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
          else await this.readStream(id, res.body);
        } catch {
          // The node is down (or restarting): say so, and try again shortly.
        }
        if (this.closed) return;
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
    return {
      event: 'cluster',
      data: {
        nodes: this.ids,
        controls: { kill: !!this.options.control, restart: !!this.options.control, workload: !!this.options.workload },
        workload: this.options.workload?.state ?? 'off',
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
    try {
      if (req.method === 'GET' && url.pathname === '/api/events') return this.stream(res);
      if (req.method === 'GET' && url.pathname === '/api/chart.svg') return send(res, 200, this.chartSvg, 'image/svg+xml');
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
    const node = /^\/api\/nodes\/([^/]+)\/(kill|restart|isolate|rejoin)$/.exec(path);
    if (node) {
      const [, id, action] = node as unknown as [string, string, string];
      if (!this.ids.includes(id)) throw new HttpError(404, { error: 'not_found', reason: `no node ${id}` });
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

  private async admin(id: string, action: 'isolate' | 'rejoin', peers?: string[]): Promise<void> {
    const res = await fetch(`http://${this.options.nodes[id]}/admin/${action}`, {
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
        const res = await fetch(`http://${this.options.nodes[id]}/kv/${encodeURIComponent(key)}`, {
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
