/**
 * `xstate-raft demo` with XSTATE_RAFT_CLIENT_TOKEN set: its nodes then want the token on every
 * route, so the demo's own dashboard and agents must present it — the agents claim tasks, and the
 * dashboard's event stream carries their claims. (Without the token they would get 401s: no claim.)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';

const CLI = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts');
const data = mkdtempSync(join(tmpdir(), 'xstate-raft-demo-auth-'));
let demo: ChildProcess | undefined;

afterAll(async () => {
  if (demo && demo.exitCode === null) {
    const exited = new Promise((resolve) => demo?.once('exit', resolve));
    demo.kill('SIGINT');
    const forced = setTimeout(() => demo?.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(forced);
  }
  rmSync(data, { recursive: true, force: true });
});

it('passes the client token of its nodes to its dashboard and agents', async () => {
  demo = spawn(process.execPath, ['--import', 'tsx', CLI, 'demo', '--port', '0', '--data', data], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, XSTATE_RAFT_CLIENT_TOKEN: 'demo-token', XSTATE_RAFT_SECRET: '' },
  });
  let output = '';
  demo.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  demo.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const deadline = Date.now() + 90_000;
  let url: string | undefined;
  while (url === undefined && Date.now() < deadline) {
    url = /Dashboard:\s+(http:\/\/\S+)/.exec(output)?.[1];
    await new Promise((r) => setTimeout(r, 100));
  }
  expect(url, output).toBeDefined();
  // Read the dashboard's event stream until an agent's claim shows up.
  const res = await fetch(`${url}/api/events`, { signal: AbortSignal.timeout(Math.max(1000, deadline - Date.now())) });
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let stream = '';
  try {
    while (!/agent-\w+ claimed task-\d+/.test(stream)) {
      const { value, done } = await reader.read();
      if (done) break;
      stream += decoder.decode(value, { stream: true });
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  expect(stream).toMatch(/agent-\w+ claimed task-\d+/);
  expect(stream).not.toMatch(/refuse(s)? the dashboard/);
}, 120_000);
