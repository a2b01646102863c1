/**
 * A local cluster of `xstate-raft node` processes: what `xstate-raft cluster` and the dashboard
 * demo run, and what the integration tests drive. Each node is a child process with its own data
 * directory; a node can be killed (any signal) and restarted from its data.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

export interface ProcessClusterOptions {
  size: number;
  host: string;
  /** Port of every node, by position (n1 first). */
  ports: readonly number[];
  /** Address of every node, by position, where it differs from `host` (a node per network namespace: test/jepsen). */
  hosts?: readonly string[];
  /**
   * A command that runs the node, per node: e.g. `['ip', 'netns', 'exec', ns]`, before the node's
   * own command line. It must exec the node (not fork it), so that a signal sent to the child
   * (kill -9, SIGSTOP) reaches the node itself.
   */
  wrap?: (id: string) => readonly string[];
  dataDir: string;
  secret?: string;
  /** The client API's bearer token for every node (XSTATE_RAFT_CLIENT_TOKEN). */
  clientToken?: string;
  electionTimeout?: string;
  heartbeat?: number;
  /** Applied entries between each node's snapshots (`node --snapshot-threshold`); default: the node's. */
  snapshotThreshold?: number;
  /** Extra flags for every node (e.g. ['--inspect']). */
  nodeArgs?: readonly string[];
  /** How to run this CLI again; default: the same Node binary, flags and script as this process. */
  command?: { command: string; args: string[] };
  /** Each line a node prints (its pino JSON logs). */
  onLine?: (id: string, line: string) => void;
  onExit?: (id: string, code: number | null, signal: NodeJS.Signals | null) => void;
}

/** The command line that runs this CLI again (works under tsx and from the built bin alike). */
export function selfCommand(): { command: string; args: string[] } {
  return { command: process.execPath, args: [...process.execArgv, process.argv[1] as string] };
}

export class ProcessCluster {
  /** The nodes the cluster is bootstrapped with (--peers), n1 first. */
  readonly ids: readonly string[];
  private readonly children = new Map<string, ChildProcess>();
  /** Servers started with --join (see join()): their port and the member they asked. */
  private readonly joiners = new Map<string, { port: number; via: string }>();

  constructor(private readonly options: ProcessClusterOptions) {
    if (options.ports.length < options.size) throw new RangeError(`need ${options.size} ports, got ${options.ports.length}`);
    this.ids = Array.from({ length: options.size }, (_, i) => `n${i + 1}`);
  }

  address(id: string): string {
    const joiner = this.joiners.get(id);
    if (joiner !== undefined) return `${this.options.host}:${joiner.port}`;
    const i = this.ids.indexOf(id);
    if (i < 0) throw new RangeError(`unknown node ${id}`);
    return `${this.options.hosts?.[i] ?? this.options.host}:${this.options.ports[i]}`;
  }

  /** Every node this cluster has started: the bootstrap ones, then those that joined. */
  get allIds(): string[] {
    return [...this.ids, ...this.joiners.keys()];
  }

  /**
   * Start a new, empty server `id` on `port` (`xstate-raft node --join <via>`): it learns the
   * cluster from the member at `via` and waits to be added (POST /admin/members on the leader).
   * From then on it is a node like the others here (address, dataDir, signal, restart).
   */
  join(id: string, port: number, via: string): void {
    if (this.ids.includes(id) || this.joiners.has(id)) throw new RangeError(`${id} is already a node of this cluster`);
    this.joiners.set(id, { port, via });
    this.start(id);
  }

  get addresses(): Record<string, string> {
    return Object.fromEntries(this.ids.map((id) => [id, this.address(id)]));
  }

  dataDir(id: string): string {
    return join(this.options.dataDir, id);
  }

  isRunning(id: string): boolean {
    return this.children.has(id);
  }

  get running(): string[] {
    return this.allIds.filter((id) => this.children.has(id));
  }

  startAll(): void {
    for (const id of this.ids) this.start(id);
  }

  start(id: string): void {
    if (this.children.has(id)) return;
    const self = this.options.command ?? selfCommand();
    const peers = this.ids.map((peer) => `${peer}=${this.address(peer)}`).join(',');
    const joiner = this.joiners.get(id);
    const args = [
      ...self.args,
      'node',
      '--id',
      id,
      '--listen',
      this.address(id),
      ...(joiner !== undefined ? ['--join', joiner.via] : ['--peers', peers]),
      '--data',
      this.dataDir(id),
      ...(this.options.electionTimeout ? ['--election-timeout', this.options.electionTimeout] : []),
      ...(this.options.heartbeat ? ['--heartbeat', String(this.options.heartbeat)] : []),
      ...(this.options.snapshotThreshold !== undefined ? ['--snapshot-threshold', String(this.options.snapshotThreshold)] : []),
      ...(this.options.nodeArgs ?? []),
    ];
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      XSTATE_RAFT_SECRET: this.options.secret ?? process.env.XSTATE_RAFT_SECRET ?? '',
      XSTATE_RAFT_CLIENT_TOKEN: this.options.clientToken ?? process.env.XSTATE_RAFT_CLIENT_TOKEN ?? '',
    };
    // A joining server learns the members from the cluster; --peers (even from the environment) would be refused.
    if (joiner !== undefined) delete env.XSTATE_RAFT_PEERS;
    const [command, ...prefix] = [...(this.options.wrap?.(id) ?? []), self.command];
    const child = spawn(command as string, [...prefix, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
    this.children.set(id, child);
    for (const stream of [child.stdout, child.stderr]) {
      if (stream) createInterface({ input: stream }).on('line', (line) => this.options.onLine?.(id, line));
    }
    child.on('exit', (code, signal) => {
      if (this.children.get(id) === child) this.children.delete(id);
      this.options.onExit?.(id, code, signal);
    });
  }

  /** Stop a server join() started (SIGTERM, SIGKILL after `graceMs`) and forget it: an addition that failed. Its data directory stays. */
  async forget(id: string, graceMs = 5000): Promise<void> {
    if (!this.joiners.has(id)) throw new RangeError(`${id} did not join through this cluster: only joined servers are forgotten`);
    const child = this.children.get(id);
    const timer = child !== undefined ? setTimeout(() => child.kill('SIGKILL'), graceMs) : undefined;
    await this.signal(id, 'SIGTERM');
    clearTimeout(timer);
    this.joiners.delete(id);
  }

  /** Send a signal; SIGKILL and SIGTERM wait until the process is gone. */
  async signal(id: string, signal: NodeJS.Signals): Promise<void> {
    const child = this.children.get(id);
    if (child === undefined) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill(signal);
    if (signal === 'SIGKILL' || signal === 'SIGTERM') await exited;
  }

  async restart(id: string): Promise<void> {
    await this.signal(id, 'SIGKILL');
    this.start(id);
  }

  /** Stop every node: SIGTERM (a clean shutdown), then SIGKILL after `graceMs`. */
  async stopAll(graceMs = 5000): Promise<void> {
    await Promise.all(
      [...this.children.entries()].map(async ([id, child]) => {
        child.kill('SIGCONT');
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        await this.signal(id, 'SIGTERM');
        clearTimeout(timer);
      }),
    );
  }

  /** Kill every node at once (tests' cleanup). */
  async killAll(): Promise<void> {
    await Promise.all([...this.children.keys()].map((id) => this.signal(id, 'SIGKILL')));
  }
}
