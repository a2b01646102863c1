/**
 * Real node processes for integration tests: `xstate-raft node` children on 127.0.0.1, on ports
 * chosen at run time, each with its own data directory. Every process a test starts is killed by
 * `stopAll()` (call it in afterEach/afterAll, so it also runs when a test fails).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const CLI = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts');

export async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: n }, () => new Promise<import('node:net').Server>((resolve) => {
      const server = createServer();
      server.listen(0, '127.0.0.1', () => resolve(server));
    })),
  );
  const ports = servers.map((s) => (s.address() as import('node:net').AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

export interface ClusterProcessesOptions {
  size: number;
  secret?: string;
  electionTimeout?: string;
  heartbeat?: number;
}

export class ClusterProcesses {
  readonly ids: string[];
  readonly dataRoot = mkdtempSync(join(tmpdir(), 'xstate-raft-it-'));
  readonly ports = new Map<string, number>();
  readonly processes = new Map<string, ChildProcess>();
  readonly output = new Map<string, string[]>();

  private constructor(readonly options: ClusterProcessesOptions, ports: number[]) {
    this.ids = Array.from({ length: options.size }, (_, i) => `n${i + 1}`);
    this.ids.forEach((id, i) => this.ports.set(id, ports[i] as number));
  }

  static async create(options: ClusterProcessesOptions): Promise<ClusterProcesses> {
    return new ClusterProcesses(options, await freePorts(options.size));
  }

  address(id: string): string {
    return `127.0.0.1:${this.ports.get(id)}`;
  }

  get addresses(): string[] {
    return this.ids.map((id) => this.address(id));
  }

  get peers(): string {
    return this.ids.map((id) => `${id}=${this.address(id)}`).join(',');
  }

  dataDir(id: string): string {
    return join(this.dataRoot, id);
  }

  start(id: string): ChildProcess {
    const args = [
      '--import', 'tsx', CLI, 'node',
      '--id', id,
      '--listen', this.address(id),
      '--peers', this.peers,
      '--data', this.dataDir(id),
      '--election-timeout', this.options.electionTimeout ?? '150-300',
      '--heartbeat', String(this.options.heartbeat ?? 50),
    ];
    const child = spawn(process.execPath, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, XSTATE_RAFT_SECRET: this.options.secret ?? '' },
    });
    const lines = this.output.get(id) ?? [];
    this.output.set(id, lines);
    const collect = (chunk: Buffer) => lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    this.processes.set(id, child);
    child.on('exit', () => {
      if (this.processes.get(id) === child) this.processes.delete(id);
    });
    return child;
  }

  startAll(): void {
    for (const id of this.ids) this.start(id);
  }

  /** Send a signal; for SIGKILL/SIGTERM wait until the process is gone. */
  async signal(id: string, signal: NodeJS.Signals): Promise<void> {
    const child = this.processes.get(id);
    if (child === undefined) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill(signal);
    if (signal === 'SIGKILL' || signal === 'SIGTERM') await exited;
  }

  isRunning(id: string): boolean {
    return this.processes.has(id);
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.processes.keys()].map(async (id) => {
      const child = this.processes.get(id);
      child?.kill('SIGCONT');
      await this.signal(id, 'SIGKILL');
    }));
  }

  async cleanup(): Promise<void> {
    await this.stopAll();
    rmSync(this.dataRoot, { recursive: true, force: true });
  }

  async status(id: string): Promise<Record<string, unknown> | undefined> {
    try {
      const res = await fetch(`http://${this.address(id)}/status`, { signal: AbortSignal.timeout(500) });
      return (await res.json()) as Record<string, unknown>;
    } catch {
      return undefined;
    }
  }

  /** Wait until the running, reachable nodes agree on one leader; returns its id. */
  async waitForLeader(timeoutMs = 10_000, among: string[] = this.ids.filter((id) => this.isRunning(id))): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const statuses = await Promise.all(among.map((id) => this.status(id)));
      const leaders = statuses.filter((s) => s?.role === 'leader');
      const answered = statuses.filter((s) => s !== undefined);
      if (leaders.length >= 1) {
        const top = leaders.reduce((a, b) => ((a?.term as number) >= (b?.term as number) ? a : b));
        const id = top?.id as string;
        if (answered.length === among.length && answered.every((s) => s?.leaderId === id)) return id;
      }
      await sleep(50);
    }
    throw new Error(`no agreed leader among ${among.join(', ')} within ${timeoutMs} ms\n${this.dump()}`);
  }

  dump(): string {
    return [...this.output].map(([id, lines]) => `--- ${id}\n${lines.slice(-15).join('\n')}`).join('\n');
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export interface HttpReply {
  status: number;
  body: Record<string, unknown>;
}

export async function http(address: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<HttpReply> {
  const res = await fetch(`http://${address}${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...headers },
    ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
    signal: AbortSignal.timeout(15_000),
  });
  const text = await res.text();
  let parsed: Record<string, unknown> = {};
  try {
    parsed = JSON.parse(text) as Record<string, unknown>;
  } catch {
    parsed = { text };
  }
  return { status: res.status, body: parsed };
}

/** Retry a request on 503 (no leader yet) and on connection errors, up to `timeoutMs`. */
export async function httpRetry(addresses: string[], method: string, path: string, body?: unknown, timeoutMs = 10_000, headers: Record<string, string> = {}): Promise<HttpReply> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (let i = 0; Date.now() < deadline; i++) {
    try {
      const reply = await http(addresses[i % addresses.length] as string, method, path, body, headers);
      if (reply.status !== 503) return reply;
      last = reply;
    } catch (error) {
      last = error;
    }
    await sleep(50);
  }
  throw new Error(`${method} ${path} kept failing: ${last instanceof Error ? last.message : JSON.stringify(last)}`);
}
