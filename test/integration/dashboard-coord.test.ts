/**
 * The demo's agent team and what the dashboard shows of it, against real nodes: three node servers
 * in this process (SQLite in temp folders, run-time ports, a client token), the demo's
 * AgentWorkload (a planner posting to queue `tasks`, agent-ada, agent-bob and agent-cy as agent
 * machines over connect(), agent-ada the coordinator) and a DashboardServer in front of them.
 *
 * The rules: tasks are claimed and completed, each one's `results/<id>` written under the token
 * that completed it; killing an agent is a crash — its claim is not handed back but expires, and
 * another agent completes the task under a larger token; killing the coordinator leaves its lease
 * held until it expires, and restarted it takes the lease under a larger token; GET /api/coord
 * answers the leases and queues; unknown agents and routes are refused; another web page can
 * neither kill an agent (Origin, Sec-Fetch-Site, a body that is not JSON) nor read the views under
 * a rebound name (Host).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type ClusterClient } from '../../src/client/connect.js';
import type { TaskView } from '../../src/coord/types.js';
import { DashboardServer, type AgentView, type CoordView } from '../../src/dashboard/server.js';
import { AgentWorkload, TASK_QUEUE } from '../../src/dashboard/workload.js';
import { startNodeServer, type NodeServer } from '../../src/server/node-server.js';
import { freePorts, sleep } from './processes.js';

const TOKEN = 'dashboard-coord-token';
/** Generous: the machine running this may be slow and busy. */
const DEADLINE_MS = 60_000;
const CLAIM_TTL_MS = 3000;

const cleanups: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
}, 90_000);

async function startServer(id: string, port: number, peers: Record<string, string>): Promise<NodeServer> {
  const dataDir = mkdtempSync(join(tmpdir(), 'xstate-raft-dashboard-coord-'));
  const server = await startNodeServer({ id, listen: { host: '127.0.0.1', port }, peers, dataDir, clientToken: TOKEN, logger: pino({ level: 'silent' }) });
  cleanups.push(async () => {
    await server.stop().catch(() => undefined);
    rmSync(dataDir, { recursive: true, force: true });
  });
  return server;
}

/** Polls `read` until `match` holds (a read that throws counts as not yet). */
async function until<T>(what: string, read: () => Promise<T>, match: (value: T) => boolean): Promise<T> {
  const deadline = Date.now() + DEADLINE_MS;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      last = await read();
      if (match(last as T)) return last as T;
    } catch (error) {
      last = error;
    }
    await sleep(200);
  }
  throw new Error(`${what}: not within ${DEADLINE_MS} ms; last: ${JSON.stringify(last, null, 1)?.slice(0, 2000)}`);
}

/** The page's own request: a control is sent as JSON, as src/dashboard/ui/api.ts sends it. */
async function call(url: string, method: string, path: string): Promise<{ status: number; body: unknown }> {
  const headers: Record<string, string> = method === 'GET' ? {} : { 'content-type': 'application/json' };
  const res = await fetch(`${url}${path}`, { method, headers, signal: AbortSignal.timeout(30_000) });
  return { status: res.status, body: await res.json().catch(() => undefined) };
}

/** A request with exactly these headers (fetch would not let a test choose Host), as another page's browser sends it. */
function raw(url: string, method: string, path: string, headers: Record<string, string>, body?: string): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}${path}`, { method, headers, timeout: 30_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let parsed: unknown;
        try {
          parsed = JSON.parse(text);
        } catch {
          parsed = text;
        }
        resolve({ status: res.statusCode ?? 0, body: parsed });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe("the demo's agents and the dashboard's coordination views", { timeout: 180_000 }, () => {
  let dashboard: DashboardServer;
  let workload: AgentWorkload;
  let client: ClusterClient;
  const lines: string[] = [];
  const agents = async () => (await call(dashboard.url, 'GET', '/api/agents')).body as AgentView[];
  const coord = async () => {
    const reply = await call(dashboard.url, 'GET', '/api/coord');
    if (reply.status !== 200) throw new Error(`GET /api/coord: ${reply.status} ${JSON.stringify(reply.body)}`);
    return reply.body as CoordView;
  };
  const task = async (id: string) => (await client.tasks.get(id)) as TaskView;

  beforeAll(async () => {
    const ports = await freePorts(3);
    const peers = Object.fromEntries(ports.map((port, i) => [`n${i + 1}`, `127.0.0.1:${port}`]));
    for (const [i, id] of Object.keys(peers).entries()) await startServer(id, ports[i] as number, peers);
    workload = new AgentWorkload({
      addresses: () => Object.values(peers),
      log: (text) => lines.push(text),
      token: TOKEN,
      claimTtlMs: CLAIM_TTL_MS,
      leaseTtlMs: 5000,
      // Long enough that an agent found working is still working when the kill arrives.
      workMs: [2500, 4000],
      postEveryMs: 500,
    });
    dashboard = new DashboardServer({ nodes: peers, clientToken: TOKEN, port: 0, workload, agents: workload });
    await dashboard.listen();
    cleanups.push(() => dashboard.close());
    cleanups.push(() => workload.stop());
    client = connect({ peers: Object.values(peers), token: TOKEN, clientId: 'dashboard-coord-test' });
    workload.resume();
  }, 60_000);

  it('tasks are claimed and completed, each result written under the token that completed it', async () => {
    const view = await until('two tasks done', coord, (c) => (c.queues.find((q) => q.queue === TASK_QUEUE)?.counts.done ?? 0) >= 2);
    const done = (view.queues.find((q) => q.queue === TASK_QUEUE)?.tasks ?? []).filter((t) => t.state === 'done');
    expect(done.length).toBeGreaterThanOrEqual(2);
    for (const t of done) {
      expect(t.completedBy?.worker).toMatch(/^agent-(ada|bob|cy)$/);
      const written = await client.get(`results/${t.id}`);
      expect(written.found).toBe(true);
      if (!written.found) continue;
      // The last fenced write is the completing claim's (an expired claim's write is refused after).
      expect((written.value as { token: number }).token).toBe(t.completedBy?.token);
    }
    expect(lines.some((l) => /^agent-\w+ claimed task-\d+ \(token \d+/.test(l))).toBe(true);
    expect(lines.some((l) => /^agent-\w+ completed task-\d+/.test(l))).toBe(true);
  });

  it('GET /api/coord answers the leases and queues, with the time now', async () => {
    const view = await until(
      'the coordinator lease and the tasks queue',
      coord,
      (c) => c.leases.some((l) => l.name === 'coordinator') && c.queues.some((q) => q.queue === TASK_QUEUE),
    );
    expect(view.leases).toContainEqual({ name: 'coordinator', holder: 'agent-ada', token: expect.any(Number), expiresAt: expect.any(Number), ttlMs: 5000 });
    expect(Math.abs(view.now - Date.now())).toBeLessThan(DEADLINE_MS);
    const queue = view.queues.find((q) => q.queue === TASK_QUEUE);
    expect(queue?.counts).toEqual({ queued: expect.any(Number), claimed: expect.any(Number), done: expect.any(Number), dead: expect.any(Number) });
    for (const t of queue?.tasks ?? [])
      if (t.state === 'claimed') expect(t.claim).toEqual({ worker: expect.any(String), token: expect.any(Number), expiresAt: expect.any(Number) });
    const list = await agents();
    expect(list.map((a) => a.name)).toEqual(['agent-ada', 'agent-bob', 'agent-cy']);
    for (const a of list) expect(a).toMatchObject({ alive: true, state: expect.any(String), value: expect.stringContaining('running.worker.') });
    expect(list[0]?.lease).toMatchObject({ name: 'coordinator' });
  });

  it('an agent killed while it holds a claim leaves it to expire: another agent completes the task under a larger token', async () => {
    // Killed as it completes (its request already sent), an agent may finish the task itself: then again.
    for (let round = 1; ; round++) {
      const working = await until('an agent other than the coordinator working on a task', agents, (list) =>
        list.some((a) => a.name !== 'agent-ada' && a.alive && a.state === 'working' && a.claim !== undefined),
      );
      const victim = working.find((a) => a.name !== 'agent-ada' && a.state === 'working') as AgentView;
      const killed = await call(dashboard.url, 'POST', `/api/agents/${victim.name}/kill`);
      expect(killed.status, JSON.stringify(killed.body)).toBe(200);
      const claim = (killed.body as AgentView).claim;
      expect(claim).toBeDefined();
      if (claim === undefined) return;
      expect(killed.body).toMatchObject({ name: victim.name, state: 'killed', alive: false });
      expect((await agents()).find((a) => a.name === victim.name)).toMatchObject({ state: 'killed', alive: false });
      // Not handed back: still claimed under the dead agent's token, until that claim expires.
      const right = await task(claim.id);
      expect(right.reason).not.toBe('the claiming actor was stopped');
      if (right.state === 'claimed' && right.claim?.token === claim.token) expect(right.claim.worker).toBe(victim.name);
      else expect(right.reason).toBe(`claim ${claim.token} expired`);

      const done = await until(
        `${claim.id} done`,
        () => task(claim.id),
        (t) => t.state === 'done',
      );
      expect(await call(dashboard.url, 'POST', `/api/agents/${victim.name}/restart`)).toMatchObject({ status: 200 });
      if (done.completedBy?.token === claim.token && round < 3) continue;
      expect(done.completedBy?.worker).not.toBe(victim.name);
      expect(done.completedBy?.token).toBeGreaterThan(claim.token);
      expect(done.attempts).toBeGreaterThan(claim.attempt);
      // The claim after the dead agent's completed it: the dead one's ended by expiring, not handed back.
      if (done.attempts === claim.attempt + 1) expect(done.reason).toBe(`claim ${claim.token} expired`);
      expect(lines).toContain(`${victim.name} killed while holding ${claim.id} (token ${claim.token}): the claim is left to expire`);
      return;
    }
  });

  it('the coordinator killed leaves its lease held until it expires; restarted, it takes it under a larger token', async () => {
    await until('agent-ada holding the coordinator lease', agents, (list) => list[0]?.lease?.state === 'held');
    const held = (await until('the coordinator lease', coord, (c) => c.leases.some((l) => l.name === 'coordinator'))).leases.find((l) => l.name === 'coordinator');
    const token = held?.token as number;
    expect((await call(dashboard.url, 'POST', '/api/agents/agent-ada/kill')).status).toBe(200);
    const view = await coord();
    const lease = view.leases.find((l) => l.name === 'coordinator');
    // Released, it would be gone at once; it stays until its TTL runs out (renewals only push that later).
    if (lease !== undefined) expect(lease).toMatchObject({ holder: 'agent-ada', token });
    else expect(view.now).toBeGreaterThanOrEqual(held?.expiresAt as number);
    expect((await call(dashboard.url, 'POST', '/api/agents/agent-ada/restart')).status).toBe(200);
    const after = await until('agent-ada holding the lease again', coord, (c) => c.leases.some((l) => l.name === 'coordinator' && l.token > token));
    expect(after.leases.find((l) => l.name === 'coordinator')?.holder).toBe('agent-ada');
  });

  it('refuses what it cannot do: unknown agents 404, a kill of a dead agent or a restart of a live one 409, other methods 405', async () => {
    expect((await call(dashboard.url, 'POST', '/api/agents/agent-zed/kill')).status).toBe(404);
    expect((await call(dashboard.url, 'POST', '/api/agents/agent-zed/restart')).status).toBe(404);
    expect((await call(dashboard.url, 'POST', '/api/agents/%E0%A4%A/kill')).status).toBe(404);
    expect((await call(dashboard.url, 'POST', '/api/agents/agent-bob/explode')).status).toBe(404);
    expect((await call(dashboard.url, 'POST', '/api/agents/agent-bob')).status).toBe(404);
    expect((await call(dashboard.url, 'GET', '/api/agents/agent-bob/kill')).status).toBe(405);
    expect((await call(dashboard.url, 'DELETE', '/api/agents')).status).toBe(405);
    await until('agent-cy alive', agents, (list) => list.find((a) => a.name === 'agent-cy')?.alive === true);
    expect(await call(dashboard.url, 'POST', '/api/agents/agent-cy/restart')).toMatchObject({ status: 409, body: { error: 'running' } });
    expect((await call(dashboard.url, 'POST', '/api/agents/agent-cy/kill')).status).toBe(200);
    expect(await call(dashboard.url, 'POST', '/api/agents/agent-cy/kill')).toMatchObject({ status: 409, body: { error: 'not_running' } });
    expect((await call(dashboard.url, 'POST', '/api/agents/agent-cy/restart')).status).toBe(200);
  });

  it('another web page cannot drive the controls (CSRF) nor read the views under a rebound name (DNS rebinding)', async () => {
    await until('agent-bob alive', agents, (list) => list.find((a) => a.name === 'agent-bob')?.alive === true);
    const own = new URL(dashboard.url).host;
    const kill = '/api/agents/agent-bob/kill';
    const json = { host: own, 'content-type': 'application/json' };
    // A page of another origin: fetch(…, {method: 'POST', mode: 'no-cors'}) names its origin.
    expect(await raw(dashboard.url, 'POST', kill, { ...json, origin: 'https://evil.example' })).toMatchObject({ status: 403, body: { error: 'cross_site' } });
    expect(await raw(dashboard.url, 'POST', kill, { ...json, origin: 'null' })).toMatchObject({ status: 403, body: { error: 'cross_site' } });
    expect(await raw(dashboard.url, 'POST', kill, { ...json, 'sec-fetch-site': 'cross-site' })).toMatchObject({ status: 403, body: { error: 'cross_site' } });
    expect(await raw(dashboard.url, 'POST', kill, { ...json, 'sec-fetch-site': 'same-site' })).toMatchObject({ status: 403, body: { error: 'cross_site' } });
    // What a form or a no-cors fetch can send without a preflight: text/plain (or no type at all).
    const propose = JSON.stringify({ key: 'csrf', value: 1 });
    expect(await raw(dashboard.url, 'POST', '/api/propose', { host: own, 'content-type': 'text/plain' }, propose)).toMatchObject({
      status: 415,
      body: { error: 'unsupported_media_type' },
    });
    expect(await raw(dashboard.url, 'POST', kill, { host: own })).toMatchObject({ status: 415 });
    expect((await client.get('csrf')).found).toBe(false);
    // DNS rebinding: evil.example resolved to 127.0.0.1 reaches the port, but names itself in Host.
    const port = new URL(dashboard.url).port;
    for (const path of ['/api/agents', '/api/coord', '/api/events', '/']) {
      expect(await raw(dashboard.url, 'GET', path, { host: `evil.example:${port}` })).toMatchObject({ status: 421, body: { error: 'misdirected_request' } });
    }
    expect(await raw(dashboard.url, 'POST', kill, { ...json, host: `evil.example:${port}`, origin: `http://evil.example:${port}` })).toMatchObject({ status: 421 });
    expect((await agents()).find((a) => a.name === 'agent-bob')).toMatchObject({ alive: true });
    // The page's own requests: Origin and Sec-Fetch-Site as a browser sends them, under each loopback name.
    expect(await raw(dashboard.url, 'GET', '/api/agents', { host: `localhost:${port}`, 'sec-fetch-site': 'same-origin' })).toMatchObject({ status: 200 });
    expect(await raw(dashboard.url, 'GET', '/api/agents', { host: `[::1]:${port}` })).toMatchObject({ status: 200 });
    expect(await raw(dashboard.url, 'POST', kill, { ...json, origin: `http://${own}`, 'sec-fetch-site': 'same-origin' })).toMatchObject({ status: 200 });
    expect((await agents()).find((a) => a.name === 'agent-bob')).toMatchObject({ alive: false });
    expect(
      await raw(dashboard.url, 'POST', '/api/agents/agent-bob/restart', {
        host: `localhost:${port}`,
        origin: `http://localhost:${port}`,
        'content-type': 'application/json; charset=utf-8',
      }),
    ).toMatchObject({ status: 200 });
  });

  it('without agents, GET /api/agents is empty and a kill 404; with no node answering, GET /api/coord is 503', async () => {
    const [port] = await freePorts(1);
    const bare = new DashboardServer({ nodes: { n9: `127.0.0.1:${port}` }, clientToken: TOKEN, port: 0 });
    await bare.listen();
    cleanups.push(() => bare.close());
    expect(await call(bare.url, 'GET', '/api/agents')).toEqual({ status: 200, body: [] });
    expect((await call(bare.url, 'POST', '/api/agents/agent-ada/kill')).status).toBe(404);
    expect(await call(bare.url, 'GET', '/api/coord')).toMatchObject({ status: 503, body: { error: 'unavailable' } });
  });

  it('pause stops every agent politely and resume starts them again', async () => {
    for (const a of await agents()) if (a.state === 'killed') await call(dashboard.url, 'POST', `/api/agents/${a.name}/restart`);
    workload.pause();
    expect((await agents()).map((a) => a.state)).toEqual(['paused', 'paused', 'paused']);
    workload.resume();
    await until('every agent alive again', agents, (list) => list.every((a) => a.alive));
  });
});
