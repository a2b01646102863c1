/**
 * The command line as a person uses it: --help everywhere, one-line errors with exit code 2 for
 * bad flags, `cluster` starting real nodes and stopping them all on Ctrl-C, and a node refusing a
 * data directory that belongs to another cluster.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { freePorts, http, httpRetry, sleep } from './processes.js';

const CLI = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts');
const run = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', CLI, ...args], { encoding: 'utf8', timeout: 30_000 });

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('xstate-raft CLI', { timeout: 60_000 }, () => {
  it('prints --help for every command and exits 0', () => {
    for (const command of [[], ['demo'], ['sim'], ['node'], ['cluster'], ['kv'], ['kv', 'get'], ['kv', 'put'], ['kv', 'cas'], ['kv', 'delete'], ['status']]) {
      const result = run(...command, '--help');
      expect(result.status, `${command.join(' ')} --help`).toBe(0);
      expect(result.stdout).toMatch(/Usage: xstate-raft/);
    }
  });

  it('runs as `npx xstate-raft` from the built package (bin is executable; built by npm ci / npm run build)', () => {
    const root = join(import.meta.dirname, '..', '..');
    const result = spawnSync('npx', ['--no-install', 'xstate-raft', 'chart', '--format', 'mermaid'], { cwd: root, encoding: 'utf8', timeout: 60_000 });
    expect(result.stderr).not.toMatch(/Permission denied|not found/);
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/stateDiagram-v2/);
  });

  it('answers a bad flag or a missing value with one line and exit code 2', () => {
    const cases = [
      ['sim', '--nodes', 'many'],
      ['sim', '--duration', 'soon'],
      ['sim', '--faults', 'meteor'],
      ['node', '--id', 'n1'],
      ['node', '--id', 'n1', '--listen', 'nowhere', '--peers', 'n1=127.0.0.1:1', '--data', '/tmp/x'],
      ['node', '--id', 'n9', '--listen', '127.0.0.1:1', '--peers', 'n1=127.0.0.1:1', '--data', '/tmp/x'],
      ['node', '--id', 'n1', '--listen', '127.0.0.1:1', '--peers', 'n1=127.0.0.1:1', '--data', '/tmp/x', '--election-timeout', '300-100'],
      ['kv', 'get'],
      ['status'],
      ['frobnicate'],
    ];
    for (const args of cases) {
      const result = run(...args);
      expect(result.status, args.join(' ')).toBe(2);
      expect(result.stderr.trim().split('\n'), `${args.join(' ')}: ${result.stderr}`).toHaveLength(1);
    }
  });

  it('`cluster` starts real nodes that serve requests, and Ctrl-C stops them all', async () => {
    const data = mkdtempSync(join(tmpdir(), 'xstate-raft-cli-'));
    dirs.push(data);
    const [base] = await freePorts(1);
    // Three consecutive ports from a free one: good enough on a quiet machine.
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'cluster', '--size', '3', '--data', data, '--base-port', String(base)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    try {
      const addresses = [0, 1, 2].map((i) => `127.0.0.1:${(base as number) + i}`);
      expect((await httpRetry(addresses, 'PUT', '/kv/from-cli', { value: 42 }, 20_000)).status).toBe(200);
      expect((await httpRetry(addresses, 'GET', '/kv/from-cli')).body).toEqual({ value: 42 });
      const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
      child.kill('SIGINT');
      expect(await exited).toBe(0);
      expect(output).toMatch(/Stopped\. The data is in/);
      for (const address of addresses) await expect(http(address, 'GET', '/health')).rejects.toThrow();
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('refuses to start a node on a data directory of another cluster, and says so', async () => {
    const data = mkdtempSync(join(tmpdir(), 'xstate-raft-cli-'));
    dirs.push(data);
    const [p1, p2] = (await freePorts(2)) as [number, number];
    const first = spawn(process.execPath, ['--import', 'tsx', CLI, 'node', '--id', 'n1', '--listen', `127.0.0.1:${p1}`, '--peers', `n1=127.0.0.1:${p1}`, '--data', data], {
      stdio: 'ignore',
    });
    try {
      await httpRetry([`127.0.0.1:${p1}`], 'GET', '/health', undefined, 20_000);
      const exited = new Promise((resolve) => first.on('exit', resolve));
      first.kill('SIGTERM');
      await exited;
    } finally {
      first.kill('SIGKILL');
    }
    await sleep(100);
    const other = run('node', '--id', 'n1', '--listen', `127.0.0.1:${p2}`, '--peers', `n1=127.0.0.1:${p2},n2=127.0.0.1:${p1}`, '--data', data);
    expect(other.status).toBe(1);
    expect(other.stderr).toMatch(/belongs to cluster/);
  });
});
