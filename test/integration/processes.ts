/**
 * Real node processes for integration tests: `xstate-raft node` children on 127.0.0.1, on ports
 * chosen at run time, each with its own data directory. Every process a test starts is killed by
 * `stopAll()` (call it in afterEach/afterAll, so it also runs when a test fails).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { freePorts } from '../../src/server/ports.js';
import { ProcessCluster } from '../../src/server/process-cluster.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const CLI = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts');

export { freePorts };

export interface ClusterProcessesOptions {
  size: number;
  secret?: string;
  electionTimeout?: string;
  heartbeat?: number;
  /** More `xstate-raft node` flags for every node (e.g. --write-thread). */
  nodeArgs?: string[];
}

/** ProcessCluster (src/server/process-cluster.ts) with a temp data root, captured output and cleanup. */
export class ClusterProcesses {
  readonly dataRoot = mkdtempSync(join(tmpdir(), 'xstate-raft-it-'));
  readonly output = new Map<string, string[]>();
  readonly cluster: ProcessCluster;

  private constructor(
    readonly options: ClusterProcessesOptions,
    ports: number[],
  ) {
    this.cluster = new ProcessCluster({
      size: options.size,
      host: '127.0.0.1',
      ports,
      dataDir: this.dataRoot,
      electionTimeout: options.electionTimeout ?? '150-300',
      heartbeat: options.heartbeat ?? 50,
      ...(options.nodeArgs !== undefined ? { nodeArgs: options.nodeArgs } : {}),
      ...(options.secret !== undefined ? { secret: options.secret } : {}),
      command: { command: process.execPath, args: ['--import', 'tsx', CLI] },
      onLine: (id, line) => {
        const lines = this.output.get(id) ?? [];
        this.output.set(id, lines);
        lines.push(line);
      },
    });
  }

  static async create(options: ClusterProcessesOptions): Promise<ClusterProcesses> {
    return new ClusterProcesses(options, await freePorts(options.size));
  }

  get ids(): readonly string[] {
    return this.cluster.ids;
  }

  address(id: string): string {
    return this.cluster.address(id);
  }

  get addresses(): string[] {
    return this.ids.map((id) => this.address(id));
  }

  dataDir(id: string): string {
    return this.cluster.dataDir(id);
  }

  start(id: string): void {
    this.cluster.start(id);
  }

  startAll(): void {
    this.cluster.startAll();
  }

  signal(id: string, signal: NodeJS.Signals): Promise<void> {
    return this.cluster.signal(id, signal);
  }

  isRunning(id: string): boolean {
    return this.cluster.isRunning(id);
  }

  async stopAll(): Promise<void> {
    for (const id of this.cluster.running) await this.cluster.signal(id, 'SIGCONT');
    await this.cluster.killAll();
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
  async waitForLeader(timeoutMs = 10_000, among: string[] = this.cluster.running): Promise<string> {
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
