/**
 * npx tsx test/bench/profile-leader.ts [--seconds 10] [--in-flight 64] [--out DIR] [--no-build | --tsx]
 * — where the leader's time goes at N writes in flight (issue 13): three node processes as in
 * bench:cluster (the built CLI, SQLite with fsync on, HTTP, timeouts 1000–2000 / 100 ms), each under
 * `node --cpu-prof`; after the load they stop cleanly and the leader's profile is summed up:
 * self time by category (SQLite, HTTP and sockets, JSON, XState, GC, this project's code by
 * directory, idle) and the 25 heaviest functions. The .cpuprofile files stay in --out (open them
 * in Chrome's DevTools) unless it is a temporary directory.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePorts } from '../../src/server/ports.js';
import { ProcessCluster } from '../../src/server/process-cluster.js';
import { option, wholeNumber } from './args.js';
import { THIS_CHECKOUT, benchCli } from './built-cli.js';

const SECONDS = wholeNumber('seconds', 10);
const IN_FLIGHT = wholeNumber('in-flight', 64);
const CLI = benchCli(THIS_CHECKOUT, 'this checkout');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const agent = new http.Agent({ keepAlive: true, maxSockets: 512 });

function call(address: string, method: string, path: string, body?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(`http://${address}${path}`, { method, agent, headers: body ? { 'content-type': 'application/json' } : {} }, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => (text += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

function category(frame: ProfileNode['callFrame']): string {
  const { functionName: fn, url } = frame;
  if (fn === '(idle)') return 'idle';
  if (fn === '(garbage collector)') return 'GC';
  if (fn === '(program)') return 'native / program';
  if (url.includes('better-sqlite3')) return 'SQLite (better-sqlite3)';
  if (url.includes('node_modules/xstate')) return 'XState';
  if (url.includes('node_modules/zod')) return 'zod';
  if (url.includes('node_modules/pino') || url.includes('sonic-boom')) return 'pino';
  if (url.includes('node_modules/prom-client')) return 'prom-client';
  if (url.startsWith('node:_http') || url.startsWith('node:http') || url.includes('_http_')) return 'node:http';
  if (
    url.startsWith('node:net') ||
    url.startsWith('node:internal/stream') ||
    url.startsWith('node:stream') ||
    url.includes('stream_base') ||
    url.startsWith('node:internal/streams')
  )
    return 'sockets and streams';
  if (url.startsWith('node:')) return `node: other (${url.replace(/^node:(internal\/)?/, '').split('/')[0]})`;
  if (fn === 'stringify' || fn === 'parse') return 'JSON (native)';
  const match = /\/(src|machines)\/(.*?)\/?[^/]*\.ts$/.exec(url);
  if (match) return match[1] === 'machines' ? 'machines/' : `src/${match[2]?.split('/')[0] || ''}`;
  if (url === '') return fn === '' ? 'native (unnamed)' : `native: ${fn}`;
  return (
    url
      .replace(/^file:\/\//, '')
      .split('/node_modules/')[1]
      ?.split('/')[0] ?? url
  );
}

function summarize(profile: Profile): void {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) self.set(profile.samples[i] as number, (self.get(profile.samples[i] as number) ?? 0) + (profile.timeDeltas[i] ?? 0));
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const idle = [...self.entries()].filter(([id]) => byId.get(id)?.callFrame.functionName === '(idle)').reduce((a, [, t]) => a + t, 0);
  const busy = total - idle;
  const byCategory = new Map<string, number>();
  const byFunction = new Map<string, number>();
  for (const [id, t] of self) {
    const node = byId.get(id) as ProfileNode;
    const cat = category(node.callFrame);
    byCategory.set(cat, (byCategory.get(cat) ?? 0) + t);
    const name = `${node.callFrame.functionName || '(anonymous)'} ${node.callFrame.url.replace(/^file:\/\/.*?\/(src|machines|node_modules)\//, '$1/')}:${node.callFrame.lineNumber + 1}`;
    if (cat !== 'idle') byFunction.set(name, (byFunction.get(name) ?? 0) + t);
  }
  console.log(`leader: ${(total / 1e6).toFixed(1)} s profiled, busy ${((busy / total) * 100).toFixed(0)} % (${(busy / 1e6).toFixed(1)} s); self time by category, % of busy time:`);
  for (const [cat, t] of [...byCategory].sort((a, b) => b[1] - a[1])) if (cat !== 'idle') console.log(`  ${((t / busy) * 100).toFixed(1).padStart(5)} %  ${cat}`);
  console.log('heaviest functions (self, % of busy):');
  for (const [name, t] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log(`  ${((t / busy) * 100).toFixed(1).padStart(5)} %  ${name}`);
}

async function main(): Promise<void> {
  const out = option('out') ?? mkdtempSync(join(tmpdir(), 'xstate-raft-profile-'));
  const dataDir = mkdtempSync(join(tmpdir(), 'xstate-raft-profile-data-'));
  const cluster = new ProcessCluster({
    size: 3,
    host: '127.0.0.1',
    ports: await freePorts(3),
    dataDir,
    electionTimeout: '1000-2000',
    heartbeat: 100,
    nodeArgs: ['--log-level', 'warn'],
    command: { command: process.execPath, args: ['--cpu-prof', '--cpu-prof-dir', out, ...CLI.args] },
  });
  cluster.startAll();
  let leader: string | undefined;
  try {
    for (let i = 0; i < 600 && leader === undefined; i++) {
      await sleep(100);
      try {
        const status = JSON.parse((await call(cluster.address('n1'), 'GET', '/status')).body) as { leaderId: string | null };
        if (status.leaderId !== null && (await call(cluster.address(status.leaderId), 'PUT', '/kv/ready', '{"value":1}')).status === 200) leader = status.leaderId;
      } catch {}
    }
    if (leader === undefined) throw new Error('no leader within 60 s');
    const value = JSON.stringify({ value: 'v'.repeat(100) });
    const deadline = performance.now() + SECONDS * 1000;
    let writes = 0;
    await Promise.all(
      Array.from({ length: IN_FLIGHT }, async (_, loop) => {
        for (let i = 0; performance.now() < deadline; i++) if ((await call(cluster.address(leader as string), 'PUT', `/kv/w${loop}-${i % 100}`, value)).status === 200) writes++;
      }),
    );
    console.log(`${IN_FLIGHT} in flight for ${SECONDS} s: ${Math.round(writes / SECONDS)} writes/s; leader ${leader}`);
  } finally {
    await cluster.stopAll(20_000);
    agent.destroy();
    rmSync(dataDir, { recursive: true, force: true });
  }
  // The leader is the busiest of the three.
  const files = readdirSync(out).filter((f) => f.endsWith('.cpuprofile'));
  const profiles = files.map((f) => ({ f, p: JSON.parse(readFileSync(join(out, f), 'utf8')) as Profile }));
  const busyOf = (p: Profile) => {
    const idle = new Set(p.nodes.filter((n) => n.callFrame.functionName === '(idle)').map((n) => n.id));
    return p.samples.reduce((sum, s, i) => sum + (idle.has(s) ? 0 : (p.timeDeltas[i] ?? 0)), 0);
  };
  const leaderProfile = profiles.sort((a, b) => busyOf(b.p) - busyOf(a.p))[0];
  if (leaderProfile === undefined) throw new Error(`no .cpuprofile in ${out}`);
  console.log(`profile: ${join(out, leaderProfile.f)} (the busiest of ${profiles.length})`);
  summarize(leaderProfile.p);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
