/**
 * The command line as a person uses it: --help everywhere, one-line errors with exit code 2 for
 * bad flags, `cluster` starting real nodes and stopping them all on Ctrl-C, and a data directory
 * keeping its cluster id when --peers changes but refusing another --cluster-id or node id.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command, CommanderError } from 'commander';
import { afterEach, describe, expect, it } from 'vitest';
import { buildProgram } from '../../src/cli/main.js';
import { freePorts, http, httpRetry, sleep } from './processes.js';

const CLI = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts');
const run = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', CLI, ...args], { encoding: 'utf8', timeout: 30_000 });

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('xstate-raft CLI', { timeout: 60_000 }, () => {
  it('prints --help for every command and exits 0', () => {
    // The binary itself once; then every command and subcommand the program has, in process
    // (a spawn each would take a second on a loaded machine, and there are dozens).
    const result = run('--help');
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/Usage: xstate-raft/);
    const program = buildProgram();
    const paths: string[][] = [];
    const walk = (command: Command, path: string[]) => {
      paths.push(path);
      for (const sub of command.commands) walk(sub, [...path, sub.name()]);
    };
    walk(program, []);
    for (const command of ['demo', 'sim', 'node', 'cluster', 'kv', 'status', 'member', 'transfer-leadership', 'lease', 'task', 'watch', 'mcp']) {
      expect(
        paths.some((p) => p[0] === command),
        `${command} is a command`,
      ).toBe(true);
    }
    for (const path of paths) {
      let out = '';
      const fresh = buildProgram();
      const quiet = (command: Command) => {
        command.exitOverride().configureOutput({ writeOut: (text) => (out += text), writeErr: (text) => (out += text) });
        for (const sub of command.commands) quiet(sub);
      };
      quiet(fresh);
      let code: string | undefined;
      try {
        fresh.parse([...path, '--help'], { from: 'user' });
      } catch (error) {
        code = (error as CommanderError).code;
      }
      expect(code, `${path.join(' ')} --help`).toBe('commander.helpDisplayed');
      expect(out, `${path.join(' ')} --help`).toMatch(/Usage: xstate-raft/);
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
      ['node', '--listen', '127.0.0.1:1', '--data', '/tmp/x'],
      ['node', '--id', 'n4', '--listen', '127.0.0.1:1', '--join', '127.0.0.1:2', '--peers', 'n1=127.0.0.1:2', '--data', '/tmp/x'],
      ['node', '--listen', '127.0.0.1:1', '--join', '127.0.0.1:2', '--data', '/tmp/x'],
      ['member', 'add', 'n4', '--peers', '127.0.0.1:1'],
      ['member', 'add', 'n4', '--address', 'nowhere', '--peers', '127.0.0.1:1'],
      ['member', 'remove', 'no such id', '--peers', '127.0.0.1:1'],
      ['transfer-leadership', '--to', '', '--peers', '127.0.0.1:1'],
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

  it('a data directory keeps its cluster id whatever --peers says now, and refuses another --cluster-id or node id, saying so', async () => {
    const data = mkdtempSync(join(tmpdir(), 'xstate-raft-cli-'));
    dirs.push(data);
    const [p1, p2] = (await freePorts(2)) as [number, number];
    const runFor = async (args: string[], check: (address: string) => Promise<void>) => {
      const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'node', ...args, '--data', data], { stdio: 'ignore' });
      try {
        await check(`127.0.0.1:${args[args.indexOf('--listen') + 1]?.split(':')[1]}`);
        const exited = new Promise((resolve) => child.on('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      } finally {
        child.kill('SIGKILL');
      }
      await sleep(100);
    };
    let clusterId: unknown;
    await runFor(['--id', 'n1', '--listen', `127.0.0.1:${p1}`, '--peers', `n1=127.0.0.1:${p1}`], async (address) => {
      clusterId = (await httpRetry([address], 'GET', '/admin/members', undefined, 20_000)).body.clusterId;
    });
    expect(clusterId).toMatch(/^[0-9a-f]{16}$/);
    // The membership grew since (n2 was added): the directory keeps the id it was created with.
    await runFor(['--id', 'n1', '--listen', `127.0.0.1:${p2}`, '--peers', `n1=127.0.0.1:${p2},n2=127.0.0.1:${p1}`], async (address) => {
      expect((await httpRetry([address], 'GET', '/admin/members', undefined, 20_000)).body.clusterId).toBe(clusterId);
    });
    const other = run('node', '--id', 'n1', '--listen', `127.0.0.1:${p2}`, '--peers', `n1=127.0.0.1:${p2}`, '--cluster-id', 'another-cluster', '--data', data);
    expect(other.status).toBe(1);
    expect(other.stderr).toMatch(/belongs to cluster/);
    const otherNode = run('node', '--id', 'n2', '--listen', `127.0.0.1:${p2}`, '--peers', `n2=127.0.0.1:${p2}`, '--data', data);
    expect(otherNode.status).toBe(1);
    expect(otherNode.stderr).toMatch(/belongs to node "n1"/);
  });
});
