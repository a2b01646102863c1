/**
 * `xstate-raft lease`, `task` and `watch` as a person or a script uses them, against three
 * in-process node servers with a client token: one JSON line per answer, exit code 1 with the
 * reason on stderr for a refusal, 2 and one line for a bad flag or argument. The CLI runs as a
 * child process (tsx), spawned asynchronously so that the nodes in this process keep running.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type NodeServer, startNodeServer } from '../../src/server/node-server.js';
import { freePorts } from '../../src/server/ports.js';

const CLI = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts');
const TOKEN = 'coord-cli-token';
const servers: NodeServer[] = [];
let root = '';
let peers = '';

beforeAll(async () => {
  const ports = await freePorts(3);
  const addresses = Object.fromEntries(ports.map((port, i) => [`n${i + 1}`, `127.0.0.1:${port}`]));
  peers = Object.values(addresses).join(',');
  root = mkdtempSync(join(tmpdir(), 'xstate-raft-coord-cli-'));
  for (const [i, id] of Object.keys(addresses).entries()) {
    servers.push(
      await startNodeServer({
        id,
        listen: { host: '127.0.0.1', port: ports[i] as number },
        peers: addresses,
        dataDir: join(root, id),
        clientToken: TOKEN,
        electionTimeout: [150, 300],
        heartbeatInterval: 50,
        logger: pino({ level: 'silent' }),
      }),
    );
  }
});

afterAll(async () => {
  await Promise.all(servers.map((s) => s.stop()));
  rmSync(root, { recursive: true, force: true });
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The CLI with --peers and --client-token of this cluster appended (unless `bare`). */
function cli(args: string[], bare = false): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args, ...(bare ? [] : ['--peers', peers, '--client-token', TOKEN, '--timeout', '20000'])], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
    });
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 45_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const json = (run: Run) => JSON.parse(run.stdout.trim()) as Record<string, unknown>;

describe('xstate-raft lease / task / watch', { timeout: 120_000 }, () => {
  it('acquires, is refused while held (exit 1, who holds it), renews and releases a lease', async () => {
    const acquired = await cli(['lease', 'acquire', 'deploy', '--holder', 'agent-a', '--ttl', '30000']);
    expect(acquired.code, acquired.stderr).toBe(0);
    const lease = json(acquired);
    expect(lease).toMatchObject({ name: 'deploy', holder: 'agent-a', ttlMs: 30_000 });
    const held = await cli(['lease', 'acquire', 'deploy', '--holder', 'agent-b', '--ttl', '30000']);
    expect(held.code).toBe(1);
    expect(held.stderr).toMatch(/held by "agent-a"/);
    const renewed = await cli(['lease', 'renew', 'deploy', '--token', String(lease.token), '--ttl', '60000']);
    expect(renewed.code, renewed.stderr).toBe(0);
    expect(json(renewed)).toMatchObject({ token: lease.token, ttlMs: 60_000 });
    const stale = await cli(['lease', 'release', 'deploy', '--token', String(Number(lease.token) + 1)]);
    expect(stale.code).toBe(1);
    expect(stale.stderr).toMatch(/fencing token \d+ is stale/);
    const released = await cli(['lease', 'release', 'deploy', '--token', String(lease.token)]);
    expect(released.code, released.stderr).toBe(0);
    expect((await cli(['lease', 'get', 'deploy'])).stdout.trim()).toBe('null');
  });

  it('posts, claims, completes and lists tasks; an empty queue claims null; a task of another queue is refused', async () => {
    const posted = await cli(['task', 'post', 'builds', '{"repo":"web"}', '--id', 'b1']);
    expect(posted.code, posted.stderr).toBe(0);
    expect(json(posted)).toMatchObject({ id: 'b1', duplicate: false });
    const claimed = await cli(['task', 'claim', 'builds', '--worker', 'w1', '--ttl', '30000']);
    expect(claimed.code, claimed.stderr).toBe(0);
    const claim = json(claimed);
    expect(claim).toMatchObject({ id: 'b1', task: { repo: 'web' }, worker: 'w1' });
    const elsewhere = await cli(['task', 'complete', 'tests', 'b1', '--token', String(claim.token)]);
    expect(elsewhere.code).toBe(1);
    expect(elsewhere.stderr).toMatch(/no task "b1" in queue "tests"/);
    const done = await cli(['task', 'complete', 'builds', 'b1', '--token', String(claim.token), '--result', '"built"']);
    expect(done.code, done.stderr).toBe(0);
    const again = await cli(['task', 'complete', 'builds', 'b1', '--token', String(claim.token)]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/already done/);
    const empty = await cli(['task', 'claim', 'builds', '--worker', 'w1', '--ttl', '30000']);
    expect([empty.code, empty.stdout.trim()]).toEqual([0, 'null']);
    const list = json(await cli(['task', 'list', 'builds']));
    expect(list).toMatchObject({ queue: 'builds', counts: { queued: 0, claimed: 0, done: 1, dead: 0 } });
    expect((list.tasks as { result: unknown }[])[0]?.result).toBe('built');
  });

  it('watch prints one JSON line per batch from an index', async () => {
    const first = json(await cli(['task', 'post', 'watched', '1', '--id', 'w1']));
    await cli(['task', 'post', 'watched', '2', '--id', 'w2']);
    const watched = await cli(['watch', 'watched/', '--from', String(first.index), '--count', '2']);
    expect(watched.code, watched.stderr).toBe(0);
    const lines = watched.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { index: number; changes: { key: string; op: string }[] });
    expect(lines.map((l) => l.changes.map((c) => `${c.key} ${c.op}`))).toEqual([['watched/w1 posted'], ['watched/w2 posted']]);
    expect(lines[0]?.index).toBe(first.index);
  });

  it('a bad flag or argument is one line and exit code 2, and asks no node', async () => {
    const cases = [
      ['lease', 'acquire', 'x', '--ttl', '1000'],
      ['lease', 'acquire', 'x', '--holder', 'a', '--ttl', '5'],
      ['lease', 'renew', 'x', '--token', 'abc'],
      ['task', 'post', 'q', 'not json'],
      ['task', 'claim', 'q', '--worker', 'w'],
      ['task', 'complete', 'q', 'a', '--token', '1', '--result', '{bad'],
      ['watch', 'p', '--kinds', 'files'],
      ['watch', 'p', '--from', '0'],
    ];
    const runs = await Promise.all(cases.map((args) => cli(args)));
    for (const [i, run] of runs.entries()) {
      const args = (cases[i] as string[]).join(' ');
      expect(run.code, `${args}: ${run.stderr}`).toBe(2);
      expect(run.stderr.trim().split('\n'), `${args}: ${run.stderr}`).toHaveLength(1);
    }
    expect(runs[3]?.stderr).toMatch(/expected a JSON value/);
    const help = await Promise.all(
      [
        ['lease', '--help'],
        ['task', '--help'],
        ['task', 'claim', '--help'],
        ['watch', '--help'],
      ].map((args) => cli(args, true)),
    );
    for (const run of help) {
      expect(run.code).toBe(0);
      expect(run.stdout).toMatch(/Usage: xstate-raft/);
    }
  });
});
