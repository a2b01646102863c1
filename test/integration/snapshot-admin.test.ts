/**
 * The snapshot admin surface of a real node server (in this process, on a run-time port):
 * POST /admin/snapshot takes one now and answers its index and term, behind the same token as
 * the other admin routes, 405 for another method and 400 when there is nothing to snapshot;
 * /status and /metrics show the snapshot, the log after it and the latest snapshot's size and
 * duration, also after a restart; `xstate-raft status` shows the snapshot index; and
 * `xstate-raft cluster --snapshot-threshold` reaches its nodes.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { runStatus } from '../../src/cli/client.js';
import { startNodeServer, type NodeServer } from '../../src/server/node-server.js';
import { freePorts, http, httpRetry, sleep } from './processes.js';

const CLI = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts');
const TOKEN = 'admin-token';
const auth = { authorization: `Bearer ${TOKEN}` };

const dirs: string[] = [];
const servers: NodeServer[] = [];
afterAll(async () => {
  for (const server of servers) await server.stop();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'xstate-raft-snapshot-admin-'));
  dirs.push(dir);
  return dir;
}

async function start(options: { port: number; dataDir: string; peers?: Record<string, string> }): Promise<NodeServer> {
  const server = await startNodeServer({
    id: 'n1',
    listen: { host: '127.0.0.1', port: options.port },
    peers: options.peers ?? { n1: `127.0.0.1:${options.port}` },
    dataDir: options.dataDir,
    clientToken: TOKEN,
    // Far above what the test writes: only /admin/snapshot takes one.
    snapshotThreshold: 100_000,
    logger: pino({ level: 'silent' }),
  });
  servers.push(server);
  return server;
}

async function waitForLeader(address: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    // A connection the stopped server closed may fail once: ask again.
    const ready = await http(address, 'GET', '/ready').catch(() => undefined);
    if (ready?.status === 200) return;
    await sleep(50);
  }
  throw new Error(`${address} elected no leader within 20 s`);
}

describe('POST /admin/snapshot, /status and /metrics', { timeout: 120_000 }, () => {
  it('takes a snapshot now, behind the admin token, and /status, /metrics and `status` show it, also after a restart', async () => {
    const [port] = (await freePorts(1)) as [number];
    const dataDir = tempDir();
    let server = await start({ port, dataDir });
    const address = `127.0.0.1:${port}`;
    await waitForLeader(address);
    for (let i = 0; i < 20; i++) expect((await httpRetry([address], 'PUT', `/kv/key${i}`, { value: `value ${i}` }, 10_000, auth)).status).toBe(200);
    const before = (await http(address, 'GET', '/status', undefined, auth)).body;
    expect(before).toMatchObject({ snapshotIndex: 0, snapshotTerm: 0, logLength: before.lastLogIndex, snapshotBytes: 0, snapshotMs: null });

    // The same auth as the other admin routes, and one method.
    expect((await http(address, 'POST', '/admin/snapshot')).status).toBe(401);
    expect((await http(address, 'POST', '/admin/snapshot', undefined, { authorization: 'Bearer wrong' })).status).toBe(401);
    const get = await fetch(`http://${address}/admin/snapshot`, { headers: auth });
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('POST');
    expect((await http(address, 'GET', '/status', undefined, auth)).body.snapshotIndex).toBe(0);

    const taken = await http(address, 'POST', '/admin/snapshot', undefined, auth);
    expect(taken.status).toBe(200);
    const status = (await http(address, 'GET', '/status', undefined, auth)).body;
    expect(taken.body).toEqual({ index: status.lastApplied, term: status.term });
    expect(status).toMatchObject({ snapshotIndex: taken.body.index, snapshotTerm: taken.body.term, firstLogIndex: (taken.body.index as number) + 1 });
    expect(status.logLength).toBe((status.lastLogIndex as number) - (status.snapshotIndex as number));
    expect(status.snapshotBytes).toBeGreaterThan(20 * 'value 0'.length);
    expect(typeof status.snapshotMs).toBe('number');
    expect(status.snapshotMs).toBeGreaterThanOrEqual(0);

    // Nothing applied since: the same snapshot again, not a new one.
    expect((await http(address, 'POST', '/admin/snapshot', undefined, auth)).body).toEqual(taken.body);

    const metrics = await fetch(`http://${address}/metrics`, { headers: auth }).then((r) => r.text());
    expect(metrics).toMatch(new RegExp(`^xstate_raft_snapshot_index\\{node="n1"\\} ${String(taken.body.index)}$`, 'm'));
    expect(metrics).toMatch(new RegExp(`^xstate_raft_log_entries\\{node="n1"\\} ${String(status.logLength)}$`, 'm'));
    expect(metrics).toMatch(new RegExp(`^xstate_raft_snapshot_bytes\\{node="n1"\\} ${String(status.snapshotBytes)}$`, 'm'));
    expect(metrics).toMatch(/^xstate_raft_snapshots_total\{source="taken",node="n1"\} 1$/m);
    expect(metrics).toMatch(/^xstate_raft_snapshot_seconds_count\{node="n1",source="taken"\} 1$/m);

    const lines: string[] = [];
    expect(await runStatus({ addresses: [address], timeoutMs: 5000, token: TOKEN }, (line) => lines.push(line))).toBe(0);
    expect(lines[0]).toMatch(/ snapshot$/);
    expect(lines[1]).toMatch(new RegExp(` ${String(taken.body.index)}$`));

    // After a restart the node starts from the snapshot, and knows its size (not how long it took).
    await server.stop();
    server = await start({ port, dataDir });
    await waitForLeader(address);
    const restarted = (await http(address, 'GET', '/status', undefined, auth)).body;
    expect(restarted).toMatchObject({ snapshotIndex: taken.body.index, snapshotBytes: status.snapshotBytes, snapshotMs: null });
    expect((await httpRetry([address], 'GET', '/kv/key19', undefined, 10_000, auth)).body).toEqual({ value: 'value 19' });
  });

  it('answers 400 invalid_request, and changes nothing, when there is nothing to snapshot yet', async () => {
    const [port, silent] = (await freePorts(2)) as [number, number];
    // n2 never starts: no leader, so nothing is ever applied.
    await start({ port, dataDir: tempDir(), peers: { n1: `127.0.0.1:${port}`, n2: `127.0.0.1:${silent}` } });
    const address = `127.0.0.1:${port}`;
    const refused = await http(address, 'POST', '/admin/snapshot', undefined, auth);
    expect(refused.status).toBe(400);
    expect(refused.body).toMatchObject({ error: 'invalid_request' });
    expect(refused.body.reason).toMatch(/nothing has been applied/);
    expect((await http(address, 'GET', '/status', undefined, auth)).body).toMatchObject({ snapshotIndex: 0, lastApplied: 0 });
  });
});

describe('xstate-raft cluster --snapshot-threshold', { timeout: 120_000 }, () => {
  it('every node it starts snapshots after that many applied entries', async () => {
    const data = tempDir();
    const [base] = (await freePorts(1)) as [number];
    const address = `127.0.0.1:${base}`;
    // Its own process group, so that a failure below kills its node too.
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'cluster', '--size', '1', '--data', data, '--base-port', String(base), '--snapshot-threshold', '5'], {
      stdio: 'ignore',
      detached: true,
    });
    const exited = new Promise((resolve) => child.on('exit', resolve));
    try {
      for (let i = 0; i < 8; i++) expect((await httpRetry([address], 'PUT', `/kv/k${i}`, { value: i }, 30_000)).status).toBe(200);
      // With the default threshold (8192) there would be no snapshot yet.
      const status = (await http(address, 'GET', '/status')).body;
      expect(status.snapshotIndex).toBeGreaterThanOrEqual(5);
      expect(status.logLength).toBeLessThan(5);
      child.kill('SIGINT');
      await exited;
    } finally {
      try {
        process.kill(-(child.pid as number), 'SIGKILL');
      } catch {
        // the group is gone: every process stopped
      }
    }
  });
});
