/**
 * The dashboard against nodes that ask for a credential: a real node server (one node, in this
 * process, SQLite in a temp folder, a run-time port) with --client-token, --secret or both, and a
 * DashboardServer in front of it, read through its own /api/events stream.
 *
 * The rule it follows is the node's (src/server/node-server.ts: adminSecret = clientToken ??
 * secret): with a client token every route wants that token, with only a secret /debug and
 * /admin want the secret. Given the right one the dashboard follows the node and proposes
 * through it; given none or the wrong one it says the node refuses it and what to start it with
 * — on its stream, in its log and on the terminal of `xstate-raft dashboard` — and never
 * reports the node as down.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { runDashboard } from '../../src/cli/dashboard.js';
import { DashboardServer, type DashboardOptions, type LogLine } from '../../src/dashboard/server.js';
import { startNodeServer, type NodeServer } from '../../src/server/node-server.js';
import { dashboardEvents } from './dashboard-events.js';

const TOKEN = 'client-token-1';
const SECRET = 'cluster-secret-1';
/** Generous: a one-node cluster elects itself in well under a second, but CI machines are slow. */
const DEADLINE_MS = 20_000;

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  vi.unstubAllEnvs();
});

async function startNode(auth: { clientToken?: string; secret?: string }): Promise<NodeServer> {
  const dataDir = mkdtempSync(join(tmpdir(), 'xstate-raft-dashboard-auth-'));
  const node = await startNodeServer({
    id: 'n1',
    listen: { host: '127.0.0.1', port: 0 },
    peers: { n1: '127.0.0.1:0' }, // alone: it never sends to itself
    dataDir,
    ...auth,
    logger: pino({ level: 'silent' }),
  });
  cleanups.push(async () => {
    await node.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });
  return node;
}

async function startDashboard(node: NodeServer, auth: Pick<DashboardOptions, 'clientToken' | 'secret'>): Promise<{ dashboard: DashboardServer; logs: LogLine[] }> {
  const logs: LogLine[] = [];
  const dashboard = new DashboardServer({ nodes: { n1: node.address }, port: 0, ...auth, onLog: (line) => logs.push(line) });
  await dashboard.listen();
  cleanups.push(() => dashboard.close());
  return { dashboard, logs };
}

type NodeEvent = { id: string; up: boolean; role?: string; refused?: string };

/** Reads the dashboard's event stream until a `node` event matches; returns every `node` event seen. */
async function nodeEventsUntil(url: string, done: (event: NodeEvent) => boolean): Promise<NodeEvent[]> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), DEADLINE_MS);
  const seen: NodeEvent[] = [];
  try {
    for await (const { event, data } of dashboardEvents(url, controller.signal)) {
      if (event !== 'node') continue;
      seen.push(data as NodeEvent);
      if (done(data as NodeEvent)) return seen;
    }
    throw new Error('the dashboard closed its event stream');
  } catch (error) {
    if (controller.signal.aborted) throw new Error(`no matching node event within ${DEADLINE_MS} ms; saw ${JSON.stringify(seen)}`);
    throw error;
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
}

async function post(url: string, path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** Proposes until the node has elected itself (503 no_leader before that). */
async function proposeOnceLed(url: string, key: string, value: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const deadline = Date.now() + DEADLINE_MS;
  for (;;) {
    const reply = await post(url, '/api/propose', { key, value });
    if (reply.status !== 503 || Date.now() > deadline) return reply;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const refused = (event: NodeEvent) => event.id === 'n1' && event.refused !== undefined;
const leading = (event: NodeEvent) => event.id === 'n1' && event.up && event.role === 'leader';
/** A node reported down: what a refusing node must never be shown as. */
const down = (event: NodeEvent) => !event.up && event.refused === undefined;

describe('the dashboard and nodes that want a credential', { timeout: 60_000 }, () => {
  it('without the client token, says the node refuses it and to start it with --client-token — never that the node is down', async () => {
    const node = await startNode({ clientToken: TOKEN });
    const { dashboard, logs } = await startDashboard(node, {});
    const events = await nodeEventsUntil(dashboard.url, refused);
    expect(events.filter(down)).toEqual([]);
    expect(events.at(-1)?.refused).toMatch(/--client-token <token>/);
    expect(logs).toContainEqual(expect.objectContaining({ level: 'error', text: expect.stringMatching(/^n1 refuses the dashboard \(401 unauthorized\): .*--client-token/) }));
    // Its controls say the same, instead of "no leader".
    const proposed = await post(dashboard.url, '/api/propose', { key: 'k', value: 1 });
    expect(proposed.status).toBe(502);
    expect(proposed.body).toMatchObject({ error: 'unauthorized', reason: expect.stringMatching(/n1 refuses the dashboard \(401\).*--client-token/) });
    const healed = await post(dashboard.url, '/api/nodes/n1/rejoin');
    expect(healed).toMatchObject({ status: 502, body: { error: 'unauthorized' } });
  });

  it('with the client token, follows the node and proposes through it (the client routes want the token too)', async () => {
    const node = await startNode({ clientToken: TOKEN });
    const { dashboard, logs } = await startDashboard(node, { clientToken: TOKEN });
    const events = await nodeEventsUntil(dashboard.url, leading);
    expect(events.filter(refused)).toEqual([]);
    const proposed = await proposeOnceLed(dashboard.url, 'greeting', 'hello');
    expect(proposed).toMatchObject({ status: 200, body: { index: expect.any(Number) } });
    const read = await fetch(`http://${node.address}/kv/greeting`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(await read.json()).toEqual({ value: 'hello' });
    // Proposed as a numbered client session, so a retry on another node is applied once.
    const put = node.node.log().find((entry) => (entry.command as { key?: string } | null)?.key === 'greeting');
    expect(put?.command).toMatchObject({ client: { id: expect.stringMatching(/^dashboard#/), seq: 1 } });
    expect((await post(dashboard.url, '/api/nodes/n1/rejoin')).status).toBe(200);
    expect(logs.filter((l) => l.level === 'error')).toEqual([]);
  });

  it('with a wrong client token, says the nodes refuse its token', async () => {
    const node = await startNode({ clientToken: TOKEN });
    const { dashboard } = await startDashboard(node, { clientToken: 'not-the-token' });
    const events = await nodeEventsUntil(dashboard.url, refused);
    expect(events.at(-1)?.refused).toMatch(/refuse its client token: start the dashboard with the --client-token the nodes were started with/);
  });

  it('a node with only a cluster secret wants the secret on /debug and /admin: without it the dashboard says --secret, with it it follows', async () => {
    const node = await startNode({ secret: SECRET });
    const without = await startDashboard(node, {});
    const events = await nodeEventsUntil(without.dashboard.url, refused);
    expect(events.filter(down)).toEqual([]);
    expect(events.at(-1)?.refused).toMatch(/--secret <secret>/);

    const withSecret = await startDashboard(node, { secret: SECRET });
    await nodeEventsUntil(withSecret.dashboard.url, leading);
    // The client API of a node without a client token is open: proposing needs nothing more.
    expect(await proposeOnceLed(withSecret.dashboard.url, 'k', 1)).toMatchObject({ status: 200 });
  });

  it('a node with both takes the client token in place of the secret, as its admin routes do', async () => {
    const node = await startNode({ secret: SECRET, clientToken: TOKEN });
    const secretOnly = await startDashboard(node, { secret: SECRET });
    const events = await nodeEventsUntil(secretOnly.dashboard.url, refused);
    expect(events.at(-1)?.refused).toMatch(/--client-token <token>/);

    const both = await startDashboard(node, { secret: SECRET, clientToken: TOKEN });
    await nodeEventsUntil(both.dashboard.url, leading);
    expect(await proposeOnceLed(both.dashboard.url, 'k', 2)).toMatchObject({ status: 200 });
  });
});

describe('`xstate-raft dashboard` on the terminal', { timeout: 60_000 }, () => {
  /** Runs the command until `stop()`; `lines` fills as it prints. */
  function run(opts: Parameters<typeof runDashboard>[0]) {
    const lines: string[] = [];
    let stop = () => {};
    const stopped = new Promise<void>((resolve) => (stop = resolve));
    const exit = runDashboard(opts, (line) => lines.push(line), stopped);
    cleanups.push(async () => {
      stop();
      await exit;
    });
    const url = async () => {
      await expect.poll(() => lines.find((l) => l.startsWith('Dashboard: '))).toBeDefined();
      return /Dashboard: (\S+)/.exec(lines.find((l) => l.startsWith('Dashboard: ')) ?? '')?.[1] ?? '';
    };
    return { lines, url, stop, exit };
  }

  it('prints that the nodes refuse it and how to start it, once', async () => {
    vi.stubEnv('XSTATE_RAFT_CLIENT_TOKEN', ''); // an empty variable is no token
    vi.stubEnv('XSTATE_RAFT_SECRET', '');
    const node = await startNode({ clientToken: TOKEN });
    const { lines, stop, exit } = run({ peers: { n1: node.address }, port: 0 });
    await expect
      .poll(() => lines.filter((l) => l.startsWith('error: ')), { timeout: DEADLINE_MS })
      .toEqual([
        'error: n1 refuses the dashboard (401 unauthorized): the nodes have a client token: start the dashboard with --client-token <token> (or $XSTATE_RAFT_CLIENT_TOKEN)',
      ]);
    expect(lines).toContain('Sending no credential to the nodes (see --client-token, --secret).');
    // The dashboard keeps asking (the node may be restarted): the line is not repeated meanwhile.
    await new Promise((resolve) => setTimeout(resolve, 2500));
    expect(lines.filter((l) => l.startsWith('error: '))).toHaveLength(1);
    stop();
    expect(await exit).toBe(0);
  });

  it('takes the client token from $XSTATE_RAFT_CLIENT_TOKEN and sends it', async () => {
    vi.stubEnv('XSTATE_RAFT_CLIENT_TOKEN', TOKEN);
    const node = await startNode({ clientToken: TOKEN });
    const { lines, url } = run({ peers: { n1: node.address }, port: 0 });
    await nodeEventsUntil(await url(), leading);
    expect(lines).toContain('Sending the client token to the nodes.');
    expect(lines.filter((l) => l.startsWith('error: '))).toEqual([]);
  });
});
