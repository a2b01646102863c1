/**
 * What the dashboard tells its page about snapshots, from real nodes: three node servers in this
 * process (SQLite in temp folders, run-time ports, a client token, --snapshot-threshold 10) and a
 * DashboardServer in front of them, read through its own /api/events stream.
 *
 * A node's `node` events carry its snapshot's index and term and a log tail that starts after it
 * (src/server/debug.ts), and the dashboard adds the snapshot's size from the node's /status; a
 * follower cut off while the leader compacts gets the snapshot through InstallSnapshot once it
 * rejoins, and the stream shows the chunk (index, term, offset, length, last, whole length), the
 * follower's "installed", and then the follower's own state with the snapshot.
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

const TOKEN = 'dashboard-snapshot-token';
const auth = { authorization: `Bearer ${TOKEN}` };
const THRESHOLD = 10;
const DEADLINE_MS = 20_000;

const cleanups: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface NodeEvent {
  id: string;
  up: boolean;
  role?: string;
  term?: number;
  lastLogIndex?: number;
  snapshotIndex?: number;
  snapshotTerm?: number;
  snapshotBytes?: number;
  log?: { start: number; terms: number[] };
}

interface MessageEvent {
  from: string;
  to: string;
  type: string;
  term: number;
  success?: boolean;
  snapshot?: { index: number; term?: number; offset: number; bytes?: number; done?: boolean; total?: number };
}

/** Everything the dashboard streams, kept; `until` waits for an event that matches. */
class EventLog {
  readonly nodes: NodeEvent[] = [];
  readonly messages: MessageEvent[] = [];
  private readonly controller = new AbortController();

  constructor(url: string) {
    void this.read(url);
  }

  /** The first event of `list` (from its `from`-th on) that matches. */
  async until<T>(list: 'nodes' | 'messages', match: (event: T) => boolean, what: string, from = 0): Promise<T> {
    const deadline = Date.now() + DEADLINE_MS;
    for (let seen = from; Date.now() < deadline; await sleep(20)) {
      const events = this[list] as unknown as T[];
      for (; seen < events.length; seen++) if (match(events[seen] as T)) return events[seen] as T;
    }
    throw new Error(`no ${what} within ${DEADLINE_MS} ms; last node events: ${JSON.stringify(this.nodes.slice(-6))}`);
  }

  close(): void {
    this.controller.abort();
  }

  private async read(url: string): Promise<void> {
    try {
      for await (const { event, data } of dashboardEvents(url, this.controller.signal)) {
        if (event === 'node') this.nodes.push(data as NodeEvent);
        if (event === 'message') this.messages.push(data as MessageEvent);
      }
    } catch {
      // closed by the test
    }
  }
}

async function startCluster(): Promise<Record<string, NodeServer>> {
  const ports = await freePorts(3);
  const peers = Object.fromEntries(ports.map((port, i) => [`n${i + 1}`, `127.0.0.1:${port}`]));
  const servers: Record<string, NodeServer> = {};
  for (const [i, id] of Object.keys(peers).entries()) {
    const dataDir = mkdtempSync(join(tmpdir(), 'xstate-raft-dashboard-snapshot-'));
    const server = await startNodeServer({
      id,
      listen: { host: '127.0.0.1', port: ports[i] as number },
      peers,
      dataDir,
      clientToken: TOKEN,
      snapshotThreshold: THRESHOLD,
      logger: pino({ level: 'silent' }),
    });
    cleanups.push(async () => {
      await server.stop();
      rmSync(dataDir, { recursive: true, force: true });
    });
    servers[id] = server;
  }
  return servers;
}

describe("the dashboard's picture of snapshots", { timeout: 90_000 }, () => {
  it("streams each node's snapshot (index, term, size from /status) and InstallSnapshot to a follower that rejoins", async () => {
    const servers = await startCluster();
    const dashboard = new DashboardServer({ nodes: Object.fromEntries(Object.entries(servers).map(([id, s]) => [id, s.address])), clientToken: TOKEN, port: 0 });
    await dashboard.listen();
    cleanups.push(() => dashboard.close());
    const events = new EventLog(dashboard.url);
    cleanups.push(() => events.close());

    // Before any snapshot, the stream says so: index and term 0, no size.
    const leader = (await events.until<NodeEvent>('nodes', (e) => e.up && e.role === 'leader', 'leader')).id;
    const follower = Object.keys(servers).find((id) => id !== leader) as string;
    const fresh = events.nodes.find((e) => e.up) as NodeEvent;
    expect(fresh).toMatchObject({ snapshotIndex: 0, snapshotTerm: 0 });
    expect(fresh.snapshotBytes).toBeUndefined();

    // Cut one follower off; the leader and the other follower compact while it misses the writes.
    expect((await fetch(`${dashboard.url}/api/nodes/${follower}/isolate`, { method: 'POST', headers: { 'content-type': 'application/json' } })).status).toBe(200);
    const address = (servers[leader] as NodeServer).address;
    for (let i = 0; i < 2 * THRESHOLD + 5; i++) expect((await http(address, 'PUT', `/kv/key${i}`, { value: `value ${i}` }, auth)).status).toBe(200);
    // From here on the leader may send the snapshot it takes (already while the follower is cut
    // off, when it probes it; the transport retries that chunk once it is back).
    const sent = events.messages.length;
    const taken = await http(address, 'POST', '/admin/snapshot', undefined, auth);
    expect(taken.status).toBe(200);
    const { index, term } = taken.body as { index: number; term: number };
    expect(index).toBeGreaterThanOrEqual(2 * THRESHOLD + 5);

    // The leader's state: the snapshot, the log from snapshotIndex + 1, and the size /status gives.
    const compacted = await events.until<NodeEvent>(
      'nodes',
      (e) => e.id === leader && e.snapshotIndex === index && e.snapshotBytes !== undefined,
      `${leader}'s snapshot at ${index} with its size`,
    );
    const status = (await http(address, 'GET', '/status', undefined, auth)).body;
    expect(status).toMatchObject({ snapshotIndex: index, firstLogIndex: index + 1 });
    expect(compacted).toMatchObject({ snapshotIndex: index, snapshotTerm: term, snapshotBytes: status.snapshotBytes, lastLogIndex: status.lastLogIndex });
    expect(compacted.snapshotBytes).toBeGreaterThan(0);
    expect(compacted.log?.start).toBe(index + 1);
    expect(compacted.log?.terms).toHaveLength((compacted.lastLogIndex ?? 0) - index);

    // Back in touch, the follower needs entries the leader compacted: it gets the snapshot.
    expect((await fetch(`${dashboard.url}/api/nodes/${follower}/rejoin`, { method: 'POST', headers: { 'content-type': 'application/json' } })).status).toBe(200);
    const chunk = await events.until<MessageEvent>(
      'messages',
      (m) => m.type === 'rpc.installSnapshot' && m.from === leader && m.to === follower && m.snapshot?.index === index,
      'InstallSnapshot',
      sent,
    );
    // One chunk holds this small snapshot: the whole of it, from offset 0, the last.
    expect(chunk).toMatchObject({ term: expect.any(Number), snapshot: { index, term, offset: 0, done: true } });
    expect(chunk.snapshot?.bytes).toBeGreaterThan(0);
    expect(chunk.snapshot?.total).toBe(chunk.snapshot?.bytes);
    const answer = await events.until<MessageEvent>(
      'messages',
      // About this snapshot: a chunk of an older one, sent while the follower was cut off and
      // retried by the leader's transport, may arrive first and be installed on the way.
      (m) => m.type === 'rpc.installSnapshotResult' && m.from === follower && m.success === true && m.snapshot?.index === index,
      'installSnapshotResult',
      sent,
    );
    expect(answer).toMatchObject({ to: leader, snapshot: { index, offset: chunk.snapshot?.bytes } });

    // The follower's own state then shows the installed snapshot, with its size.
    const installed = await events.until<NodeEvent>(
      'nodes',
      (e) => e.id === follower && e.up && e.snapshotIndex === index && e.snapshotBytes !== undefined,
      `${follower}'s installed snapshot`,
    );
    expect(installed).toMatchObject({ snapshotTerm: term, snapshotBytes: compacted.snapshotBytes });
    expect(installed.log?.start).toBe(index + 1);
  });
});
