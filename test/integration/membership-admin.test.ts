/**
 * Membership over HTTP on real node servers (in this process, on run-time ports, SQLite in temp
 * directories): the contract of GET/POST /admin/members, DELETE /admin/members/:id and POST
 * /admin/transfer-leadership (names, status codes, the secret, 405 with Allow, 400 with a
 * reason), a follower pointing at the leader, a new server that joins (`join`) and is added over
 * HTTP transport it learned at run time, and what happens to the cluster id of a data directory.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { askCluster } from '../../src/server/join.js';
import { defaultClusterId, startNodeServer, type NodeServer, type NodeServerOptions } from '../../src/server/node-server.js';
import { SqliteStorage } from '../../src/storage/sqlite.js';
import { freePorts, http, sleep } from './processes.js';

const SECRET = 'membership-secret';
const auth = { authorization: `Bearer ${SECRET}` };
// Long enough that a leader cut off from its followers keeps office for the few ms a test needs.
const TIMING = { electionTimeout: [1000, 2000] as const, heartbeatInterval: 100 };

const dirs: string[] = [];
const running = new Map<string, NodeServer>();
afterAll(async () => {
  for (const server of running.values()) await server.stop();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'xstate-raft-members-'));
  dirs.push(dir);
  return dir;
}

async function start(id: string, port: number, options: Partial<NodeServerOptions> & ({ peers: Record<string, string> } | { join: string }), dataDir: string): Promise<NodeServer> {
  const server = await startNodeServer({
    id,
    listen: { host: '127.0.0.1', port },
    dataDir,
    secret: SECRET,
    ...TIMING,
    logger: pino({ level: 'silent' }),
    ...options,
  });
  running.set(id, server);
  return server;
}

async function until<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(50);
  }
}

/** The one running server that leads, once the others follow it. */
function leader(): Promise<NodeServer> {
  return until('an agreed leader', () => {
    const servers = [...running.values()].filter((s) => s.node.status().voters.includes(s.node.id));
    const leaders = servers.filter((s) => s.node.status().role === 'leader');
    const top = leaders.sort((a, b) => b.node.status().term - a.node.status().term)[0];
    if (top === undefined) return undefined;
    return servers.every((s) => s.node.status().leaderId === top.node.id && s.node.status().term === top.node.status().term) ? top : undefined;
  });
}

describe('membership routes on a 3-node cluster over HTTP', { timeout: 180_000 }, () => {
  const dataDirs = new Map<string, string>();
  let ports: number[] = [];
  let peers: Record<string, string> = {};
  const address = (id: string) => (running.get(id) as NodeServer).address;

  it('GET /admin/members names the cluster id, the voters with their addresses and the leader, on every node', async () => {
    ports = await freePorts(6);
    peers = { n1: `127.0.0.1:${ports[0]}`, n2: `127.0.0.1:${ports[1]}`, n3: `127.0.0.1:${ports[2]}` };
    for (const [i, id] of ['n1', 'n2', 'n3'].entries()) {
      dataDirs.set(id, tempDir());
      await start(id, ports[i] as number, { peers }, dataDirs.get(id) as string);
    }
    const lead = await leader();
    // The first leader writes the bootstrap configuration, with the addresses, as its first entry.
    await until('the bootstrap configuration committed everywhere', () =>
      [...running.values()].every((s) => s.node.members().committed && s.node.members().index > 0) ? true : undefined,
    );
    for (const id of ['n1', 'n2', 'n3']) {
      const reply = await http(address(id), 'GET', '/admin/members', undefined, auth);
      expect(reply.status).toBe(200);
      expect(reply.body).toEqual({
        clusterId: defaultClusterId(peers),
        voters: ['n1', 'n2', 'n3'],
        learners: [],
        addresses: peers,
        index: 1,
        committed: true,
        leaderId: lead.node.id,
      });
    }
  });

  it('the routes want the secret and their method (405 with Allow), and refuse a bad body with 400 and the reason', async () => {
    const at = address('n1');
    expect((await http(at, 'GET', '/admin/members')).status).toBe(401);
    expect((await http(at, 'GET', '/admin/members', undefined, { authorization: 'Bearer wrong' })).status).toBe(401);
    expect((await http(at, 'POST', '/admin/transfer-leadership', {})).status).toBe(401);
    for (const [method, path, allow] of [
      ['PUT', '/admin/members', 'GET, POST'],
      ['GET', '/admin/members/n2', 'DELETE'],
      ['GET', '/admin/transfer-leadership', 'POST'],
    ] as const) {
      const res = await fetch(`http://${at}${path}`, { method, headers: auth });
      expect(res.status, `${method} ${path}`).toBe(405);
      expect(res.headers.get('allow')).toBe(allow);
    }
    const lead = (await leader()).address;
    for (const [body, reason] of [
      [undefined, /the body is empty/],
      ['{not json', /not JSON/],
      [{ id: 'n5', address: '127.0.0.1:1', role: 'boss' }, /role/],
      [{ id: 'n5', address: 'nowhere', role: 'learner' }, /address must be "host:port"/],
      [{ id: 'n5', role: 'learner' }, /address is missing/],
      [{ address: '127.0.0.1:1', role: 'learner' }, /id is missing/],
      [{ id: 'n5', address: '127.0.0.1:1', role: 'learner', weight: 2 }, /unknown field "weight"/],
    ] as const) {
      const reply = await http(lead, 'POST', '/admin/members', body, auth);
      expect(reply.status, JSON.stringify(body)).toBe(400);
      expect(reply.body.error).toBe('bad_request');
      expect(String(reply.body.reason)).toMatch(reason);
    }
    const transfer = await http(lead, 'POST', '/admin/transfer-leadership', { to: 5 }, auth);
    expect(transfer.status).toBe(400);
    expect(String(transfer.body.reason)).toMatch(/to/);
    expect((await http(lead, 'DELETE', '/admin/members/', undefined, auth)).status).toBe(400);
    // Nothing of it changed the configuration.
    expect((await leader()).node.members()).toMatchObject({ voters: ['n1', 'n2', 'n3'], learners: [], index: 1 });
  });

  it('a follower answers a change with 503 naming the leader and its address; the leader refuses an unknown or present id with 400', async () => {
    const lead = await leader();
    const follower = [...running.values()].find((s) => s !== lead) as NodeServer;
    for (const [method, path, body] of [
      ['POST', '/admin/members', { id: 'n5', address: '127.0.0.1:1', role: 'learner' }],
      ['DELETE', '/admin/members/n3', undefined],
      ['POST', '/admin/transfer-leadership', {}],
    ] as const) {
      const reply = await http(follower.address, method, path, body, auth);
      expect(reply.status, `${method} ${path}`).toBe(503);
      expect(reply.body).toEqual({ error: 'no_leader', leaderId: lead.node.id, leaderAddress: lead.address, retry: true });
    }
    const unknown = await http(lead.address, 'DELETE', '/admin/members/n9', undefined, auth);
    expect(unknown.status).toBe(400);
    expect(unknown.body).toMatchObject({ error: 'invalid_request', reason: expect.stringMatching(/n9 is not a member/) });
    const present = await http(lead.address, 'POST', '/admin/members', { id: 'n2', address: peers.n2, role: 'learner' }, auth);
    expect(present.status).toBe(400);
    expect(present.body).toMatchObject({ error: 'invalid_request', reason: expect.stringMatching(/n2 is already a voter/) });
  });

  it('a change asked while another is not yet committed is 409 config_change_in_progress', async () => {
    const lead = await leader();
    const others = ['n1', 'n2', 'n3'].filter((id) => id !== lead.node.id);
    // Cut the leader off: the first change enters its log and cannot commit.
    lead.transport.isolate(others);
    try {
      const first = http(lead.address, 'POST', '/admin/members', { id: 'n7', address: '127.0.0.1:1', role: 'learner' }, auth);
      await until('the first change in the leader log', () => (lead.node.members().learners.includes('n7') ? true : undefined));
      const second = await http(lead.address, 'POST', '/admin/members', { id: 'n8', address: '127.0.0.1:2', role: 'learner' }, auth);
      expect(second.status).toBe(409);
      expect(second.body).toMatchObject({ error: 'config_change_in_progress', retry: true });
      // The leader steps down (check-quorum) and cannot say whether the first change will commit.
      const answer = await first;
      expect(answer.status).toBe(504);
      expect(answer.body).toMatchObject({ error: 'timeout', outcome: 'unknown' });
    } finally {
      lead.transport.rejoin();
    }
    const next = await leader();
    if (next.node.members().learners.includes('n7')) expect((await http(next.address, 'DELETE', '/admin/members/n7', undefined, auth)).status).toBe(200);
    await until('n7 gone everywhere', () => ([...running.values()].every((s) => !s.node.members().learners.includes('n7')) ? true : undefined));
  });

  it('a new server started with join learns the cluster from any member, is added as a voter once caught up, and stores the cluster id', async () => {
    const lead = await leader();
    for (let i = 0; i < 300; i++) expect((await http(lead.address, 'PUT', `/kv/before-${i}`, { value: i }, auth)).status).toBe(200);
    const follower = [...running.values()].find((s) => s !== lead) as NodeServer;
    dataDirs.set('n4', tempDir());
    // Asks a follower: any member answers GET /admin/members from its own view.
    const n4 = await start('n4', ports[3] as number, { join: follower.address }, dataDirs.get('n4') as string);
    expect(n4.clusterId).toBe(defaultClusterId(peers));
    expect(n4.node.members()).toMatchObject({ voters: [], learners: [] });
    const added = await http(lead.address, 'POST', '/admin/members', { id: 'n4', address: n4.address, role: 'voter' }, auth);
    expect(added.status, JSON.stringify(added.body)).toBe(200);
    expect(added.body).toEqual({ index: expect.any(Number), term: lead.node.status().term });
    const view = await http(lead.address, 'GET', '/admin/members', undefined, auth);
    expect(view.body).toMatchObject({ voters: ['n1', 'n2', 'n3', 'n4'], learners: [], addresses: { ...peers, n4: n4.address }, index: added.body.index, committed: true });
    // The new voter received the log from the leader over a transport that learned its address at run time, and answers.
    await until('n4 applied the writes', () => (n4.node.status().lastApplied >= (added.body.index as number) ? true : undefined));
    expect((await http(n4.address, 'GET', '/kv/before-299', undefined, auth)).body).toEqual({ value: 299 });
    expect((await http(n4.address, 'GET', '/admin/members', undefined, auth)).body.clusterId).toBe(defaultClusterId(peers));
  });

  it('transfer-leadership moves leadership to the voter named; to a voter that is down it is 409 transfer_failed', async () => {
    const lead = await leader();
    const moved = await http(lead.address, 'POST', '/admin/transfer-leadership', { to: 'n4' }, auth);
    expect(moved.status, JSON.stringify(moved.body)).toBe(200);
    expect(moved.body).toEqual({ leaderId: 'n4', term: expect.any(Number) });
    expect((await leader()).node.id).toBe('n4');
    const down = ['n1', 'n2', 'n3'][0] as string;
    await (running.get(down) as NodeServer).stop();
    running.delete(down);
    const failed = await http(address('n4'), 'POST', '/admin/transfer-leadership', { to: down }, auth);
    expect(failed.status, JSON.stringify(failed.body)).toBe(409);
    expect(failed.body).toMatchObject({ error: 'transfer_failed', retry: true });
    // The old leader serves again.
    expect((await http(address('n4'), 'PUT', '/kv/after-transfer', { value: true }, auth)).status).toBe(200);
    await start(down, ports[0] as number, { peers }, dataDirs.get(down) as string);
  });

  it('removing the leader commits, the others elect a leader among themselves, and the removed server no longer counts', async () => {
    const lead = await leader();
    const removed = await http(lead.address, 'DELETE', `/admin/members/${lead.node.id}`, undefined, auth);
    expect(removed.status, JSON.stringify(removed.body)).toBe(200);
    const rest = ['n1', 'n2', 'n3', 'n4'].filter((id) => id !== lead.node.id);
    running.delete(lead.node.id);
    const next = await leader();
    running.set(lead.node.id, lead);
    expect(rest).toContain(next.node.id);
    const view = await http(next.address, 'GET', '/admin/members', undefined, auth);
    expect(view.body).toMatchObject({ voters: rest, learners: [], leaderId: next.node.id });
    expect(Object.keys(view.body.addresses as object)).toEqual(rest);
    expect((await http(next.address, 'PUT', '/kv/after-removal', { value: 1 }, auth)).status).toBe(200);
    await lead.stop();
    running.delete(lead.node.id);
  });

  it('a joining server refuses to replace a voter with an empty one; a joined learner restarts from its data without asking the cluster', async () => {
    const lead = await leader();
    const voter = lead.node.status().voters.find((id) => id !== lead.node.id) as string;
    await expect(
      startNodeServer({
        id: voter,
        listen: { host: '127.0.0.1', port: ports[5] as number },
        join: lead.address,
        dataDir: tempDir(),
        secret: SECRET,
        logger: pino({ level: 'silent' }),
      }),
    ).rejects.toThrow(new RegExp(`${voter} is already a voter`));
    // A learner that joined restarts from its data: the member it joined through is not even asked.
    const n5Dir = tempDir();
    const n5 = await start('n5', ports[4] as number, { join: lead.address }, n5Dir);
    expect((await http(lead.address, 'POST', '/admin/members', { id: 'n5', address: n5.address, role: 'learner' }, auth)).status).toBe(200);
    await until('n5 caught up', () => (n5.node.status().lastApplied >= lead.node.status().commitIndex ? true : undefined));
    await n5.stop();
    running.delete('n5');
    expect((await http(lead.address, 'PUT', '/kv/while-n5-was-down', { value: 5 }, auth)).status).toBe(200);
    const again = await start('n5', ports[4] as number, { join: `127.0.0.1:${ports[5]}` }, n5Dir);
    expect(again.clusterId).toBe(defaultClusterId(peers));
    expect(again.node.members().learners).toContain('n5');
    await until('n5 received the write made while it was down', () => (again.node.status().lastApplied >= lead.node.status().commitIndex ? true : undefined));
    // A learner serves linearizable reads through the leader like any node.
    expect((await http(again.address, 'GET', '/kv/while-n5-was-down', undefined, auth)).body).toEqual({ value: 5 });
  });
});

describe("a data directory's cluster id", { timeout: 60_000 }, () => {
  it('is kept whatever peers says now; an explicit id that differs, or another node id, is refused', async () => {
    const [port] = (await freePorts(1)) as [number];
    const dir = tempDir();
    const alone = { n1: `127.0.0.1:${port}` };
    const first = await start('n1', port, { peers: alone }, dir);
    expect(first.clusterId).toBe(defaultClusterId(alone));
    await first.stop();
    running.delete('n1');
    expect(SqliteStorage.storedClusterId(dir)).toBe(defaultClusterId(alone));
    // The membership changed (n2 and n3 joined since): --peers now lists them, the id stays.
    const grown = { ...alone, n2: '127.0.0.1:1', n3: '127.0.0.1:2' };
    const second = await start('n1', port, { peers: grown }, dir);
    expect(second.clusterId).toBe(defaultClusterId(alone));
    await second.stop();
    running.delete('n1');
    await expect(start('n1', port, { peers: alone, clusterId: 'another-cluster' }, dir)).rejects.toMatchObject({
      code: 'storage_cluster_mismatch',
      message: expect.stringMatching(/belongs to cluster/),
    });
    await expect(start('n2', port, { peers: { n2: alone.n1 } }, dir)).rejects.toMatchObject({ code: 'storage_node_mismatch' });
    // An explicit id is stored by a new directory and required of it from then on.
    const named = tempDir();
    const third = await start('n1', port, { peers: alone, clusterId: 'prod-eu' }, named);
    expect(third.clusterId).toBe('prod-eu');
    await third.stop();
    running.delete('n1');
    expect(SqliteStorage.storedClusterId(named)).toBe('prod-eu');
    await expect(start('n1', port, { peers: alone, clusterId: 'prod-us' }, named)).rejects.toMatchObject({ code: 'storage_cluster_mismatch' });
  });
});

describe('what a joining server asks', { timeout: 30_000 }, () => {
  it('asks again while the server it asks has no configuration (itself waiting to join) or is not up, and gives up at once on a 401', async () => {
    const view = { clusterId: 'c1', voters: ['n1'], learners: [], addresses: { n1: '127.0.0.1:7001' }, index: 1, committed: true, leaderId: 'n1' };
    let asked = 0;
    let token: string | undefined;
    const server = createServer((req, res) => {
      asked++;
      token = req.headers.authorization;
      res.writeHead(asked === 1 ? 503 : 200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(asked <= 2 ? { ...view, voters: [], addresses: {}, leaderId: null } : view));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    try {
      const logger = pino({ level: 'silent' });
      expect(await askCluster(`127.0.0.1:${port}`, { token: 't0k', logger, retryMs: 10 })).toEqual(view);
      expect(asked).toBe(3);
      expect(token).toBe('Bearer t0k');
      server.removeAllListeners('request');
      server.on('request', (_req, res) => {
        res.writeHead(401, { 'content-type': 'application/json' });
        res.end('{"error":"unauthorized"}');
      });
      await expect(askCluster(`127.0.0.1:${port}`, { logger, retryMs: 10 })).rejects.toMatchObject({
        code: 'join_failed',
        message: expect.stringMatching(/pass the cluster's --secret/),
      });
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
