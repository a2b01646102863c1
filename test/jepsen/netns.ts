/**
 * The fault layer of the Jepsen-style test: a network the kernel breaks, below the application,
 * where a node cannot see (or cheat on) the faults.
 *
 *   namespace <run>-br (the test's own): bridge br0, 10.77.0.1/24 — the clients live here
 *     ├─ veth ─ namespace <run>-n1: eth0 10.77.0.2/24
 *     ├─ veth ─ namespace <run>-n2: eth0 10.77.0.3/24
 *     └─ …
 *
 * Every address exists only inside these namespaces (nothing is added to the host's), and every
 * name carries the run's id (pid + random), so a leftover of a crashed run never collides with a
 * new one. Deleting the namespaces deletes their links; `teardown()` does it and reports what it
 * could not remove.
 *
 * Faults are nftables rules in the *receiving* node's namespace (table inet jepsen, chain faults,
 * rewritten whole and atomically by `nft -f` on every change):
 * - a cut: `ip saddr <peer> drop` on both sides — no packet either way;
 * - a one-way block (`blockOneWay(from, to)`): `ip saddr <from> ct direction original drop` in
 *   `to`: every packet of a connection `from` opened to `to` is dropped, so nothing `from` sends
 *   arrives, while what `to` sends to `from` (on connections `to` opens, whose replies from `from`
 *   are the reply direction) still does. Dropping every packet from `from` instead would break the
 *   TCP handshake of both directions: with TCP, a packet-level one-way block is a cut;
 * - loss: `numgen random mod 100 < N drop`, every incoming packet of every source;
 * - delay: netem where the kernel has it (`tc qdisc … netem delay`); this machine's has not, so a
 *   "slow link" is a tbf rate limit on the node's eth0 instead (packets wait in its queue, up to
 *   its latency bound, once traffic exceeds the rate) — `delayKind` says which one is in force.
 * A base chain `input` accepts loopback, keeps a conntrack rule (so connections are tracked from
 * their first packet, which `ct direction` needs), then jumps to `faults`.
 */
import { execFile, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const SUBNET = '10.77.0';
export const BRIDGE_ADDRESS = `${SUBNET}.1`;

/** Why network namespaces cannot be used here, or undefined when they can. */
export async function netnsUnavailable(): Promise<string | undefined> {
  if (process.platform !== 'linux') return `network namespaces are Linux only (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return 'network namespaces need root (ip netns add); run as root to test real partitions';
  for (const tool of ['ip', 'nft', 'tc']) {
    try {
      await run(tool, ['-V']);
    } catch {
      return `${tool} is not installed (apt-get install iproute2 nftables)`;
    }
  }
  const probe = `xr-probe-${process.pid}-${randomBytes(3).toString('hex')}`;
  try {
    await run('ip', ['netns', 'add', probe]);
  } catch (error) {
    return `ip netns add failed: ${(error as { stderr?: string }).stderr?.trim() || (error as Error).message}`;
  }
  try {
    await run('ip', ['netns', 'exec', probe, 'nft', 'add', 'table', 'inet', 'probe']);
  } catch (error) {
    return `nft inside a namespace failed: ${(error as { stderr?: string }).stderr?.trim() || (error as Error).message}`;
  } finally {
    await run('ip', ['netns', 'del', probe]).catch(() => undefined);
  }
  return undefined;
}

/** The processes inside namespace `ns` (none when it does not exist). */
async function pidsIn(ns: string): Promise<number[]> {
  try {
    const { stdout } = await run('ip', ['netns', 'pids', ns]);
    return stdout
      .split('\n')
      .filter((p) => /^\d+$/.test(p))
      .map(Number);
  } catch {
    return [];
  }
}

/**
 * Kill every process inside the namespaces whose names start with `prefix` and delete them: for a
 * test whose own process (and so its exit-time teardown) was killed. Returns what is left.
 */
export async function removeNamespacesNamed(prefix: string): Promise<string[]> {
  for (const ns of await namespacesNamed(prefix)) {
    for (const pid of await pidsIn(ns)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await run('ip', ['netns', 'del', ns]).catch(() => undefined);
  }
  return namespacesNamed(prefix);
}

/** The namespaces of this machine whose names start with `prefix`. */
export async function namespacesNamed(prefix: string): Promise<string[]> {
  const { stdout } = await run('ip', ['netns', 'list']);
  return stdout
    .split('\n')
    .map((line) => line.split(' ')[0] as string)
    .filter((name) => name !== '' && name.startsWith(prefix));
}

export interface NodeFaults {
  /** Sources whose every packet is dropped. */
  readonly cut: Set<string>;
  /** Sources whose connections into this node are dropped (one-way: see the file comment). */
  readonly oneWay: Set<string>;
  /** Percentage of incoming packets dropped. */
  loss: number;
  slow: boolean;
}

export class NetnsLab {
  /** Node id → its namespace; the bridge's is `bridgeNs`. */
  readonly namespaces = new Map<string, string>();
  readonly addresses = new Map<string, string>();
  readonly bridgeNs: string;
  /** How `slow()` delays packets: netem's delay where the kernel has it, else a tbf rate limit. */
  delayKind: 'netem' | 'tbf' = 'tbf';
  private readonly faults = new Map<string, NodeFaults>();
  private torn = false;

  private constructor(
    /** Unique per run: every namespace's name starts with it. */
    readonly prefix: string,
    readonly ids: readonly string[],
  ) {
    this.bridgeNs = `${prefix}-br`;
    ids.forEach((id, i) => {
      this.namespaces.set(id, `${prefix}-${id}`);
      this.addresses.set(id, `${SUBNET}.${i + 2}`);
      this.faults.set(id, { cut: new Set(), oneWay: new Set(), loss: 0, slow: false });
    });
  }

  /** Make the bridge namespace and one namespace per node; on any failure, remove what was made and throw. */
  static async create(ids: readonly string[]): Promise<NetnsLab> {
    if (ids.length > 200) throw new RangeError('one /24: at most 200 nodes');
    const lab = new NetnsLab(`xr-${process.pid}-${randomBytes(3).toString('hex')}`, ids);
    try {
      await lab.build();
    } catch (error) {
      await lab.teardown();
      throw error;
    }
    return lab;
  }

  /** The command prefix that runs a program inside node `id`'s namespace (or the bridge's: 'bridge'). */
  exec(id: string | 'bridge'): string[] {
    return ['ip', 'netns', 'exec', id === 'bridge' ? this.bridgeNs : this.ns(id)];
  }

  address(id: string): string {
    const address = this.addresses.get(id);
    if (address === undefined) throw new RangeError(`unknown node ${id}`);
    return address;
  }

  /** What is in force at node `id` (a copy). */
  faultsAt(id: string): NodeFaults {
    const f = this.get(id);
    return { cut: new Set(f.cut), oneWay: new Set(f.oneWay), loss: f.loss, slow: f.slow };
  }

  /** Cut every pair of nodes that are in different groups; nodes in no group keep their links. */
  async partition(groups: readonly (readonly string[])[]): Promise<void> {
    const groupOf = new Map<string, number>();
    groups.forEach((group, g) => {
      for (const id of group) groupOf.set(id, g);
    });
    for (const id of this.ids) {
      const mine = groupOf.get(id);
      const f = this.get(id);
      f.cut.clear();
      if (mine === undefined) continue;
      for (const other of this.ids) {
        const theirs = groupOf.get(other);
        if (theirs !== undefined && theirs !== mine) f.cut.add(this.address(other));
      }
    }
    await this.applyAll();
  }

  /** Cut exactly these pairs (both directions), and nothing else. */
  async cut(pairs: readonly (readonly [string, string])[]): Promise<void> {
    for (const id of this.ids) this.get(id).cut.clear();
    for (const [a, b] of pairs) {
      this.get(a).cut.add(this.address(b));
      this.get(b).cut.add(this.address(a));
    }
    await this.applyAll();
  }

  /** Nothing `from` sends reaches any of `to`; what they send to `from` still arrives. */
  async blockOneWay(from: string, to: readonly string[]): Promise<void> {
    for (const id of to) this.get(id).oneWay.add(this.address(from));
    await Promise.all(to.map((id) => this.apply(id)));
  }

  /** Drop `percent` % of the packets arriving at each of `ids` (default: every node), from any source. */
  async loss(percent: number, ids: readonly string[] = this.ids): Promise<void> {
    if (!Number.isInteger(percent) || percent < 0 || percent > 100) throw new RangeError('loss is a whole percentage, 0 to 100');
    for (const id of ids) this.get(id).loss = percent;
    await Promise.all(ids.map((id) => this.apply(id)));
  }

  /** Delay what node `id` sends (netem delay, or a tbf rate limit where netem is missing: see delayKind). */
  async slow(id: string): Promise<void> {
    const dev = ['dev', 'eth0', 'root'];
    const qdisc = this.delayKind === 'netem' ? ['netem', 'delay', '80ms', '40ms'] : ['tbf', 'rate', '400kbit', 'burst', '4kb', 'latency', '400ms'];
    await this.sh(this.ns(id), 'tc', ['qdisc', 'replace', ...dev, ...qdisc]);
    this.get(id).slow = true;
  }

  /** Remove every fault: rules, loss and slow links. */
  async heal(): Promise<void> {
    for (const id of this.ids) {
      const f = this.get(id);
      f.cut.clear();
      f.oneWay.clear();
      f.loss = 0;
      if (f.slow) {
        await this.sh(this.ns(id), 'tc', ['qdisc', 'del', 'dev', 'eth0', 'root']).catch(() => undefined);
        f.slow = false;
      }
    }
    await this.applyAll();
  }

  /**
   * Delete every namespace of this run (their links go with them). A process still inside one
   * (a node or client the caller lost track of) is killed first — a namespace lives on, nameless,
   * as long as a process holds it. Safe to call twice and after a failed create. Returns what it
   * could not remove, and the processes it had to kill ("pid <n> in <ns>"): empty normally.
   */
  async teardown(): Promise<string[]> {
    this.torn = true;
    const left: string[] = [];
    for (const ns of [...this.namespaces.values(), this.bridgeNs]) {
      for (const pid of await pidsIn(ns)) {
        left.push(`pid ${pid} in ${ns}`);
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      try {
        await run('ip', ['netns', 'del', ns]);
      } catch (error) {
        if (!/No such file|not found|Invalid argument/i.test((error as { stderr?: string }).stderr ?? '')) left.push(ns);
      }
    }
    const remaining = await namespacesNamed(this.prefix).catch(() => []);
    return [...new Set([...left, ...remaining])];
  }

  /** Synchronous teardown, for a process 'exit' handler (the last chance after a crash or a second Ctrl-C). */
  teardownSync(): void {
    if (this.torn) return;
    this.torn = true;
    for (const ns of [...this.namespaces.values(), this.bridgeNs]) {
      const pids = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).stdout ?? '';
      for (const pid of pids.split('\n').filter((p) => /^\d+$/.test(p))) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          // already gone
        }
      }
      spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
    }
  }

  private async build(): Promise<void> {
    const br = this.bridgeNs;
    await run('ip', ['netns', 'add', br]);
    await this.sh(br, 'ip', ['link', 'set', 'lo', 'up']);
    await this.sh(br, 'ip', ['link', 'add', 'br0', 'type', 'bridge']);
    await this.sh(br, 'ip', ['addr', 'add', `${BRIDGE_ADDRESS}/24`, 'dev', 'br0']);
    await this.sh(br, 'ip', ['link', 'set', 'br0', 'up']);
    for (const [i, id] of this.ids.entries()) {
      const ns = this.ns(id);
      const port = `v${i + 1}`;
      await run('ip', ['netns', 'add', ns]);
      // Created straight into the namespaces: no name is ever taken in the host's.
      await run('ip', ['link', 'add', 'eth0', 'netns', ns, 'type', 'veth', 'peer', 'name', port, 'netns', br]);
      await this.sh(br, 'ip', ['link', 'set', port, 'master', 'br0']);
      await this.sh(br, 'ip', ['link', 'set', port, 'up']);
      await this.sh(ns, 'ip', ['addr', 'add', `${this.address(id)}/24`, 'dev', 'eth0']);
      await this.sh(ns, 'ip', ['link', 'set', 'eth0', 'up']);
      await this.sh(ns, 'ip', ['link', 'set', 'lo', 'up']);
      await this.nft(
        ns,
        [
          'add table inet jepsen',
          'add chain inet jepsen faults',
          'add chain inet jepsen input { type filter hook input priority 0; policy accept; }',
          'add rule inet jepsen input iif lo accept',
          'add rule inet jepsen input ct state invalid counter',
          'add rule inet jepsen input jump faults',
        ].join('\n'),
      );
    }
    // netem where the kernel has it; a tbf rate limit otherwise (this machine's kernel has no netem).
    const first = this.ns(this.ids[0] as string);
    try {
      await this.sh(first, 'tc', ['qdisc', 'add', 'dev', 'eth0', 'root', 'netem', 'delay', '1ms']);
      await this.sh(first, 'tc', ['qdisc', 'del', 'dev', 'eth0', 'root']);
      this.delayKind = 'netem';
    } catch {
      this.delayKind = 'tbf';
    }
  }

  private async applyAll(): Promise<void> {
    await Promise.all(this.ids.map((id) => this.apply(id)));
  }

  /** Rewrite node `id`'s faults chain in one nft transaction. */
  private async apply(id: string): Promise<void> {
    const f = this.get(id);
    const rules = [
      'flush chain inet jepsen faults',
      ...[...f.cut].map((source) => `add rule inet jepsen faults ip saddr ${source} drop`),
      ...[...f.oneWay].filter((source) => !f.cut.has(source)).map((source) => `add rule inet jepsen faults ip saddr ${source} ct direction original drop`),
      ...(f.loss > 0 ? [`add rule inet jepsen faults numgen random mod 100 < ${f.loss} drop`] : []),
    ];
    await this.nft(this.ns(id), rules.join('\n'));
  }

  private nft(ns: string, script: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const child = spawn('ip', ['netns', 'exec', ns, 'nft', '-f', '-'], { stdio: ['pipe', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
      });
      child.on('error', reject);
      child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`nft in ${ns} failed (${code}): ${stderr.trim()}\n${script}`))));
      child.stdin.end(script);
    });
  }

  private async sh(ns: string, command: string, args: string[]): Promise<void> {
    try {
      await run('ip', ['netns', 'exec', ns, command, ...args]);
    } catch (error) {
      throw new Error(`${command} ${args.join(' ')} in ${ns} failed: ${(error as { stderr?: string }).stderr?.trim() || (error as Error).message}`);
    }
  }

  private ns(id: string): string {
    const ns = this.namespaces.get(id);
    if (ns === undefined) throw new RangeError(`unknown node ${id}`);
    return ns;
  }

  private get(id: string): NodeFaults {
    const f = this.faults.get(id);
    if (f === undefined) throw new RangeError(`unknown node ${id}`);
    return f;
  }
}
