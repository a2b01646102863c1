/**
 * Everything a Jepsen-style run stands on, and its teardown: the namespaces (NetnsLab), five
 * `xstate-raft node` processes started by ProcessCluster inside them (one namespace each, bound
 * to its own address there), and client processes inside the bridge's namespace, driven over IPC
 * (client-process.ts). `close()` stops every process it started (SIGCONT first, then SIGKILL),
 * deletes every namespace and the data directory, and says what it could not remove.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProcessCluster } from '../../src/server/process-cluster.js';
import { NetnsLab } from './netns.js';

const ROOT = join(import.meta.dirname, '..', '..');
const CLI_TS = join(ROOT, 'src', 'cli', 'main.ts');
const CLI_JS = join(ROOT, 'dist', 'src', 'cli', 'main.js');
const CLIENT = join(import.meta.dirname, 'client-process.ts');
export const NODE_PORT = 7000;

/** The node binary: the built one when it is newer than every source file (`npm test` builds first), else tsx over src. JEPSEN_NODE=tsx|dist forces one. */
export function nodeCommand(): { command: string; args: string[]; kind: 'dist' | 'tsx' } {
  const forced = process.env.JEPSEN_NODE;
  const tsx = { command: process.execPath, args: ['--import', 'tsx', CLI_TS], kind: 'tsx' as const };
  const dist = { command: process.execPath, args: [CLI_JS], kind: 'dist' as const };
  if (forced === 'tsx') return tsx;
  if (forced === 'dist' || (existsSync(CLI_JS) && newest(join(ROOT, 'dist')) >= Math.max(newest(join(ROOT, 'src')), newest(join(ROOT, 'machines'))))) return dist;
  return tsx;
}

function newest(dir: string): number {
  let latest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile() && /\.(ts|js)$/.test(entry.name)) latest = Math.max(latest, statSync(join(entry.parentPath, entry.name)).mtimeMs);
  }
  return latest;
}

/** A client process in the bridge's namespace, spoken to by request/answer over IPC. */
export class ClientProcess {
  private next = 1;
  private readonly pending = new Map<number, { resolve: (answer: Record<string, unknown>) => void; reject: (error: Error) => void }>();
  readonly output: string[] = [];

  constructor(
    readonly name: string,
    private readonly child: ChildProcess,
  ) {
    child.on('message', (raw) => {
      const answer = raw as { id: number; error?: string };
      const waiter = this.pending.get(answer.id);
      this.pending.delete(answer.id);
      if (answer.error !== undefined) waiter?.reject(new Error(`${name}: ${answer.error}`));
      else waiter?.resolve(answer as Record<string, unknown>);
    });
    for (const stream of [child.stdout, child.stderr]) stream?.on('data', (chunk: Buffer) => this.output.push(chunk.toString()));
    child.on('exit', (code, signal) => {
      for (const waiter of this.pending.values()) waiter.reject(new Error(`${name} exited (${code ?? signal}) ${this.output.join('').slice(-2000)}`));
      this.pending.clear();
    });
  }

  request<T extends Record<string, unknown>>(message: Record<string, unknown>): Promise<T> {
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (answer: Record<string, unknown>) => void, reject });
      this.child.send({ ...message, id });
    });
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGKILL');
    await exited;
  }
}

export interface EnvironmentOptions {
  size: number;
  clientProcesses: number;
  electionTimeout: string;
  heartbeat: number;
  /** `node --snapshot-threshold`: small, so that snapshots and InstallSnapshot happen under the nemesis too. */
  snapshotThreshold: number;
}

export class JepsenEnvironment {
  private closed = false;

  private constructor(
    readonly lab: NetnsLab,
    readonly cluster: ProcessCluster,
    readonly dataRoot: string,
    readonly control: ClientProcess,
    readonly clients: ClientProcess[],
    readonly nodeKind: 'dist' | 'tsx',
    /** The last lines each node printed. */
    readonly nodeLines: Map<string, string[]>,
    /** Nodes that exited by themselves (not by a signal of ours), with their last lines: each one a bug. */
    readonly crashes: string[],
  ) {}

  static async create(options: EnvironmentOptions): Promise<JepsenEnvironment> {
    const ids = Array.from({ length: options.size }, (_, i) => `n${i + 1}`);
    const lab = await NetnsLab.create(ids);
    const dataRoot = mkdtempSync(join(tmpdir(), 'xstate-raft-jepsen-'));
    const spawned: ClientProcess[] = [];
    let env: JepsenEnvironment | undefined;
    try {
      const node = nodeCommand();
      const lines = new Map<string, string[]>();
      const crashes: string[] = [];
      const cluster = new ProcessCluster({
        size: options.size,
        host: '',
        hosts: ids.map((id) => lab.address(id)),
        ports: ids.map(() => NODE_PORT),
        dataDir: dataRoot,
        electionTimeout: options.electionTimeout,
        heartbeat: options.heartbeat,
        snapshotThreshold: options.snapshotThreshold,
        command: node,
        wrap: (id) => lab.exec(id),
        onLine: (id, line) => {
          const kept = lines.get(id) ?? [];
          lines.set(id, kept);
          kept.push(line);
          if (kept.length > 40) kept.shift();
        },
        onExit: (id, code, signal) => {
          // Every stop of ours is a signal; a node that exits with a code stopped by itself (a crash).
          if (signal === null) crashes.push(`${id} exited with code ${code}: ${(lines.get(id) ?? []).slice(-3).join(' / ')}`);
        },
      });
      const start = (name: string) => {
        const child = spawn(lab.exec('bridge')[0] as string, [...lab.exec('bridge').slice(1), process.execPath, '--import', 'tsx', CLIENT], {
          cwd: ROOT,
          stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
        });
        const client = new ClientProcess(name, child);
        spawned.push(client);
        return client;
      };
      const control = start('control');
      const clients = Array.from({ length: options.clientProcesses }, (_, p) => start(`p${p + 1}`));
      env = new JepsenEnvironment(lab, cluster, dataRoot, control, clients, node.kind, lines, crashes);
      cluster.startAll();
      return env;
    } catch (error) {
      if (env !== undefined) await env.close();
      else {
        await Promise.all(spawned.map((c) => c.stop()));
        await lab.teardown();
        rmSync(dataRoot, { recursive: true, force: true });
      }
      throw error;
    }
  }

  get ids(): readonly string[] {
    return this.cluster.ids;
  }

  /** "host:port" of every node, n1 first. */
  get peers(): string[] {
    return this.ids.map((id) => this.cluster.address(id));
  }

  /** The /status of every node as the bridge sees it (null: no answer), by id. */
  async statuses(): Promise<Map<string, Record<string, unknown> | null>> {
    const { statuses } = await this.control.request<{ statuses: (Record<string, unknown> | null)[] }>({ type: 'status', addresses: this.peers });
    return new Map(this.ids.map((id, i) => [id, statuses[i] ?? null]));
  }

  /** The leader of the highest term any of `among` reports, with that term; undefined if none. */
  async leader(among: readonly string[] = this.ids): Promise<{ id: string; term: number } | undefined> {
    const statuses = await this.statuses();
    let best: { id: string; term: number } | undefined;
    for (const id of among) {
      const s = statuses.get(id);
      if (s?.role === 'leader' && (best === undefined || (s.term as number) > best.term)) best = { id, term: s.term as number };
    }
    return best;
  }

  /** Wait until a leader is reported by `among`, with a term above `aboveTerm`; undefined when `timeoutMs` passes first. */
  async waitForLeader(timeoutMs: number, among: readonly string[] = this.ids, aboveTerm = 0): Promise<{ id: string; term: number } | undefined> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const found = await this.leader(among);
      if (found !== undefined && found.term > aboveTerm) return found;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return undefined;
  }

  dump(): string {
    return [...this.nodeLines].map(([id, lines]) => `--- ${id}\n${lines.slice(-10).join('\n')}`).join('\n');
  }

  /** Stop every process, delete the namespaces and the data; returns the namespaces it could not delete (none, normally). */
  async close(): Promise<string[]> {
    if (this.closed) return [];
    this.closed = true;
    await Promise.all([this.control, ...this.clients].map((c) => c.stop()));
    for (const id of this.cluster.running) await this.cluster.signal(id, 'SIGCONT');
    await this.cluster.killAll();
    const left = await this.lab.teardown();
    rmSync(this.dataRoot, { recursive: true, force: true });
    return left;
  }

  /** For an 'exit' handler: kill what is left and delete the namespaces, synchronously. */
  closeSync(): void {
    if (this.closed) return;
    this.closed = true;
    for (const client of [this.control, ...this.clients]) void client.stop();
    for (const id of this.cluster.running) void this.cluster.signal(id, 'SIGKILL');
    this.lab.teardownSync();
  }
}
