/**
 * What the dashboard does about membership, against real nodes: three node servers in this
 * process (SQLite in temp folders, run-time ports, a client token) and a DashboardServer in
 * front of them whose "add node" starts a fourth in-process server with `join`, read through its
 * own /api/events stream.
 *
 * The `cluster` event carries the configuration (GET /admin/members) and the configuration
 * entries with their terms; "add node" shows the new server before it is a member, then as a
 * learner, then as a voter; a server added behind the dashboard's back (POST /admin/members on
 * the leader) is followed at the address the configuration gives; "lead here" and "remove" go to
 * the leader; the leader's refusals reach the page as the node said them.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { DashboardServer } from '../../src/dashboard/server.js';
import { startNodeServer, type NodeServer } from '../../src/server/node-server.js';
import { freePorts, http, sleep } from './processes.js';
import { dashboardEvents } from './dashboard-events.js';

const TOKEN = 'dashboard-members-token';
const auth = { authorization: `Bearer ${TOKEN}` };
const DEADLINE_MS = 30_000;

const cleanups: (() => Promise<void> | void)[] = [];
// Stopping five in-process nodes, one after the other, can take a while (a node's stop may wait out a request to a peer that stopped before it).
afterAll(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
}, 90_000);

interface ClusterEvent {
  nodes: string[];
  controls: { addNode?: boolean };
  members?: { voters: string[]; learners: string[]; index: number; committed: boolean };
  configs?: { index: number; term?: number; voters: string[]; learners: string[] }[];
  removed?: string[];
}

interface NodeEvent {
  id: string;
  up: boolean;
  role?: string;
  term?: number;
}

/** Everything the dashboard streams, kept; `until` waits for an event that matches. */
class EventLog {
  readonly clusters: ClusterEvent[] = [];
  readonly nodes: NodeEvent[] = [];
  readonly logs: { level: string; text: string }[] = [];
  private readonly controller = new AbortController();

  constructor(url: string) {
    void this.read(url);
  }

  async until<K extends 'clusters' | 'nodes' | 'logs'>(list: K, match: (event: EventLog[K][number]) => boolean, what: string, from = 0): Promise<EventLog[K][number]> {
    const deadline = Date.now() + DEADLINE_MS;
    for (let seen = from; Date.now() < deadline; await sleep(20)) {
      const events = this[list] as EventLog[K][number][];
      for (; seen < events.length; seen++) if (match(events[seen] as EventLog[K][number])) return events[seen] as EventLog[K][number];
    }
    throw new Error(`no ${what} within ${DEADLINE_MS} ms; last cluster event: ${JSON.stringify(this.clusters.at(-1))}; log: ${JSON.stringify(this.logs.slice(-5))}`);
  }

  close(): void {
    this.controller.abort();
  }

  private async read(url: string): Promise<void> {
    try {
      for await (const { event, data } of dashboardEvents(url, this.controller.signal)) {
        if (event === 'cluster') this.clusters.push(data as ClusterEvent);
        if (event === 'node') this.nodes.push(data as NodeEvent);
        if (event === 'log') this.logs.push(data as { level: string; text: string });
      }
    } catch {
      // closed by the test
    }
  }
}

async function startServer(id: string, port: number, how: { peers: Record<string, string> } | { join: string }): Promise<NodeServer> {
  const dataDir = mkdtempSync(join(tmpdir(), 'xstate-raft-dashboard-members-'));
  const server = await startNodeServer({ id, listen: { host: '127.0.0.1', port }, ...how, dataDir, clientToken: TOKEN, logger: pino({ level: 'silent' }) });
  cleanups.push(async () => {
    await server.stop().catch(() => undefined);
    rmSync(dataDir, { recursive: true, force: true });
  });
  return server;
}

async function post(url: string, path: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, signal: AbortSignal.timeout(90_000) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe("the dashboard's membership controls", { timeout: 120_000 }, () => {
  const servers = new Map<string, NodeServer>();
  let dashboard: DashboardServer;
  let events: EventLog;
  const latest = () => events.clusters.at(-1) as ClusterEvent;
  const leaderOf = async (from = 0) => (await events.until('nodes', (e) => e.up && e.role === 'leader', 'a leader', from)).id;

  it('sends the bootstrap configuration, its entry marked with its term', async () => {
    const ports = await freePorts(3);
    const peers = Object.fromEntries(ports.map((port, i) => [`n${i + 1}`, `127.0.0.1:${port}`]));
    for (const [i, id] of Object.keys(peers).entries()) servers.set(id, await startServer(id, ports[i] as number, { peers }));
    dashboard = new DashboardServer({
      nodes: peers,
      clientToken: TOKEN,
      port: 0,
      control: {
        kill: async () => undefined,
        restart: async () => undefined,
        startJoining: async (id, via) => {
          const [port] = await freePorts(1);
          // Started in the background, as a process would be: it asks `via` for the cluster first.
          const started = startServer(id, port as number, { join: via }).then((s) => servers.set(id, s));
          cleanups.push(() => started.then(() => undefined).catch(() => undefined));
          return { address: `127.0.0.1:${port}` };
        },
        forget: async (id) => {
          await servers.get(id)?.stop();
          servers.delete(id);
        },
      },
    });
    await dashboard.listen();
    cleanups.push(() => dashboard.close());
    events = new EventLog(dashboard.url);
    cleanups.push(() => events.close());

    const bootstrap = await events.until('clusters', (c) => c.members?.committed === true && (c.configs ?? []).some((e) => e.term !== undefined), 'the bootstrap configuration');
    expect(bootstrap.members).toEqual({ voters: ['n1', 'n2', 'n3'], learners: [], index: 1, committed: true });
    expect(bootstrap.configs).toEqual([{ index: 1, term: expect.any(Number), voters: ['n1', 'n2', 'n3'], learners: [] }]);
    expect(bootstrap.removed).toEqual([]);
    expect(bootstrap.controls.addNode).toBe(true);
  });

  it('"add node" shows the new server before it is a member, then as a learner, then as a voter', async () => {
    const from = events.clusters.length;
    const added = await post(dashboard.url, '/api/members/add');
    expect(added.status, JSON.stringify(added.body)).toBe(200);
    expect(added.body).toMatchObject({ id: 'n4', learner: { index: expect.any(Number), term: expect.any(Number) }, voter: { index: expect.any(Number) } });
    const { learner, voter } = added.body as { learner: { index: number; term: number }; voter: { index: number; term: number } };
    // The stream may trail the answer by a moment.
    await events.until('clusters', (c) => c.members?.voters.includes('n4') === true, 'n4 a voter', from);
    const seen = events.clusters.slice(from);
    const outsider = seen.findIndex((c) => c.nodes.includes('n4') && !c.members?.voters.includes('n4') && !c.members?.learners.includes('n4'));
    const asLearner = seen.findIndex((c) => c.members?.learners.includes('n4'));
    const asVoter = seen.findIndex((c) => c.members?.voters.includes('n4'));
    expect(outsider).toBeGreaterThanOrEqual(0);
    expect(asLearner).toBeGreaterThan(outsider);
    expect(asVoter).toBeGreaterThan(asLearner);
    // Both entries are kept with the terms the leader answered, for the strips.
    expect(latest().configs).toEqual(
      expect.arrayContaining([
        { index: learner.index, term: learner.term, voters: ['n1', 'n2', 'n3'], learners: ['n4'] },
        { index: voter.index, term: voter.term, voters: expect.arrayContaining(['n1', 'n2', 'n3', 'n4']), learners: [] },
      ]),
    );
    await events.until('nodes', (e) => e.id === 'n4' && e.up, 'n4 streaming');
    expect(events.logs.map((l) => l.text)).toEqual(expect.arrayContaining([expect.stringMatching(/^n4 added as a learner/), expect.stringMatching(/^n4 promoted to voter/)]));
  });

  it('follows a server added behind its back, at the address the configuration gives', async () => {
    const [port] = await freePorts(1);
    const n5 = `127.0.0.1:${port}`;
    const leader = await leaderOf();
    const joining = startServer('n5', port as number, { join: servers.get(leader)?.address as string });
    const reply = await http(servers.get(leader)?.address as string, 'POST', '/admin/members', { id: 'n5', address: n5, role: 'learner' }, auth);
    expect(reply.status, JSON.stringify(reply.body)).toBe(200);
    servers.set('n5', await joining);
    const seen = await events.until('clusters', (c) => c.nodes.includes('n5') && c.members?.learners.includes('n5') === true, 'n5 followed');
    expect(seen.nodes).toEqual(['n1', 'n2', 'n3', 'n4', 'n5']);
    await events.until('nodes', (e) => e.id === 'n5' && e.up, 'n5 streaming');
  });

  it('"lead here" hands leadership to a follower voter; a learner is refused in the node\'s words', async () => {
    const refused = await post(dashboard.url, '/api/nodes/n5/transfer');
    expect(refused.status).toBe(400);
    expect(refused.body.error).toBe('invalid_request');
    expect(String(refused.body.reason)).toMatch(/^n\d: /);

    const leader = await leaderOf();
    const target = ['n1', 'n2', 'n3', 'n4'].find((id) => id !== leader) as string;
    const from = events.nodes.length;
    const moved = await post(dashboard.url, `/api/nodes/${target}/transfer`);
    expect(moved.status, JSON.stringify(moved.body)).toBe(200);
    expect(moved.body.leaderId).toBe(target);
    await events.until('nodes', (e) => e.id === target && e.role === 'leader', `${target} leading`, from);
  });

  it('"remove" takes a node out: it stays on the page, listed as removed', async () => {
    const removed = await post(dashboard.url, '/api/nodes/n5/remove');
    expect(removed.status, JSON.stringify(removed.body)).toBe(200);
    const seen = await events.until('clusters', (c) => c.removed?.includes('n5') === true, 'n5 removed');
    expect(seen.nodes).toContain('n5');
    expect(seen.members?.learners).toEqual([]);
    expect(events.logs.some((l) => l.text.startsWith('n5 removed from the configuration (configuration entry'))).toBe(true);
    // Unknown to the dashboard: 404, not a request to the leader.
    expect((await post(dashboard.url, '/api/nodes/n9/remove')).status).toBe(404);
  });

  it('without the node processes, "add node" is not offered and says where to do it', async () => {
    const bare = new DashboardServer({ nodes: { n1: servers.get('n1')?.address as string }, clientToken: TOKEN, port: 0 });
    await bare.listen();
    cleanups.push(() => bare.close());
    const refused = await post(bare.url, '/api/members/add');
    expect(refused.status).toBe(501);
    expect(String(refused.body.reason)).toContain('xstate-raft node --join');
  });
});
