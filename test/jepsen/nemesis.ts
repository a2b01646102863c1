/**
 * The nemesis: one fault at a time, held for `holdMs`, then healed, then `calmMs` of calm, until
 * the run's time is up. The order is a seeded shuffle of every fault, round after round; the first
 * round starts with the partition that isolates the leader and the one-way block of the leader,
 * so even the shortest run has two faults that must bite.
 *
 * Faults
 * - partition-leader-minority: the leader and one other node cut off from the other three;
 * - partition-halves: two random nodes cut off from the other three;
 * - partition-bridge: {a, b} and {d, e} cut off from each other, c reaching both (Jepsen's bridge);
 * - one-way: nothing the leader sends reaches the others; what they send still reaches it;
 * - loss: 25 % of the packets arriving at every node dropped;
 * - kill: kill -9 of the leader (half the time) or a random node, restarted after the hold;
 * - pause: SIGSTOP of the leader (a random node when none is known), SIGCONT after the hold;
 * - restart-all: kill -9 of every node, all restarted at once;
 * - slow: netem delay, or where netem is missing a tbf rate limit (NetnsLab.slow), on one node.
 *
 * Bite: for the leader-minority partition and the one-way block the nemesis checks that the
 * fault did what it should — a leader of a higher term appears among the others (the fault is held
 * until one does, up to BITE_DEADLINE_MS: a loaded machine may elect slowly), and a write sent to
 * the old leader alone is not acknowledged (it cannot reach a majority; a 200 there would be a
 * committed write no majority saw: a bug).
 */
import type { SeededRandom } from '../../src/core/random.js';
import type { JepsenEnvironment } from './environment.js';

/** How long a biting fault is held, at most, waiting for the others to elect a leader. */
const BITE_DEADLINE_MS = 15_000;

export const FAULTS = ['partition-leader-minority', 'partition-halves', 'partition-bridge', 'one-way', 'loss', 'kill', 'pause', 'restart-all', 'slow'] as const;
export type FaultName = (typeof FAULTS)[number];

export interface Bite {
  fault: FaultName;
  /** The old leader, and the term it led in. */
  oldLeader: string;
  oldTerm: number;
  /** The leader the cut-off side elected, if any, while the fault was held (up to BITE_DEADLINE_MS). */
  newLeader?: { id: string; term: number };
  /** What the write sent to the old leader alone got: an HTTP status, or 'timeout'. */
  minorityWrite: string;
}

export class Nemesis {
  readonly counts = Object.fromEntries(FAULTS.map((f) => [f, 0])) as Record<FaultName, number>;
  readonly bites: Bite[] = [];
  private probes = 0;

  constructor(
    private readonly env: JepsenEnvironment,
    private readonly random: SeededRandom,
    private readonly timing: { holdMs: number; calmMs: number },
    private readonly log: (line: string) => void = () => undefined,
  ) {}

  /** Inject faults until `durationMs` has passed (a fault under way is finished and healed). */
  async run(durationMs: number, shouldStop: () => boolean = () => false): Promise<void> {
    const end = Date.now() + durationMs;
    const first: FaultName[] = ['partition-leader-minority', 'one-way'];
    let order: FaultName[] = [...first, ...this.random.shuffle(FAULTS.filter((f) => !first.includes(f)))];
    while (Date.now() < end && !shouldStop()) {
      const fault = order.shift() as FaultName;
      if (order.length === 0) order = this.random.shuffle(FAULTS);
      const started = Date.now();
      await this.inject(fault);
      this.counts[fault]++;
      this.log(`nemesis: ${fault} done in ${Date.now() - started} ms`);
      await sleep(this.timing.calmMs);
    }
  }

  /** Undo everything: rules, slow links, paused and dead nodes. */
  async healAll(): Promise<void> {
    await this.env.lab.heal();
    const cluster = this.env.cluster;
    for (const id of cluster.running) await cluster.signal(id, 'SIGCONT');
    for (const id of this.env.ids) if (!cluster.isRunning(id)) cluster.start(id);
  }

  private async inject(fault: FaultName): Promise<void> {
    const { lab, cluster, ids } = this.env;
    const hold = this.timing.holdMs;
    const leader = await this.env.leader();
    const others = (id: string) => ids.filter((other) => other !== id);
    const victim = () => (leader !== undefined && this.random.chance(0.5) ? leader.id : this.random.pick(ids));
    switch (fault) {
      case 'partition-leader-minority': {
        if (leader === undefined) return this.inject('partition-halves');
        const minority = [leader.id, this.random.pick(others(leader.id))];
        const majority = ids.filter((id) => !minority.includes(id));
        this.log(`nemesis: partition ${minority.join(',')} | ${majority.join(',')}`);
        await lab.partition([minority, majority]);
        await this.bite(fault, leader, majority, hold);
        break;
      }
      case 'partition-halves': {
        const minority = this.random.shuffle(ids).slice(0, 2);
        this.log(`nemesis: partition ${minority.join(',')} | rest`);
        await lab.partition([minority, ids.filter((id) => !minority.includes(id))]);
        await sleep(hold);
        break;
      }
      case 'partition-bridge': {
        const [a, b, c, d, e] = this.random.shuffle(ids) as [string, string, string, string, string];
        this.log(`nemesis: bridge ${a},${b} - ${c} - ${d},${e}`);
        await lab.cut([
          [a, d],
          [a, e],
          [b, d],
          [b, e],
        ]);
        await sleep(hold);
        break;
      }
      case 'one-way': {
        const from = leader?.id ?? this.random.pick(ids);
        this.log(`nemesis: one-way: nothing from ${from} reaches the others`);
        await lab.blockOneWay(from, others(from));
        if (leader !== undefined) await this.bite(fault, leader, others(from), hold);
        else await sleep(hold);
        break;
      }
      case 'loss':
        await lab.loss(25);
        await sleep(hold);
        break;
      case 'kill': {
        const id = victim();
        this.log(`nemesis: kill -9 ${id}`);
        await cluster.signal(id, 'SIGCONT');
        await cluster.signal(id, 'SIGKILL');
        await sleep(hold);
        cluster.start(id);
        return;
      }
      case 'pause': {
        // The leader whenever there is one: a leader paused past an election and resumed is where a read served without confirming leadership goes stale.
        const id = leader?.id ?? this.random.pick(ids);
        this.log(`nemesis: SIGSTOP ${id}`);
        await cluster.signal(id, 'SIGSTOP');
        await sleep(hold);
        await cluster.signal(id, 'SIGCONT');
        return;
      }
      case 'restart-all':
        this.log('nemesis: kill -9 every node, restart all');
        for (const id of cluster.running) await cluster.signal(id, 'SIGCONT');
        await cluster.killAll();
        cluster.startAll();
        await sleep(hold);
        return;
      case 'slow': {
        const id = victim();
        this.log(`nemesis: slow ${id} (${lab.delayKind})`);
        await lab.slow(id);
        await sleep(hold);
        break;
      }
    }
    await lab.heal();
  }

  /** Within the hold: is a leader of a higher term elected among `side`, and is a write at the old leader refused? */
  private async bite(fault: FaultName, old: { id: string; term: number }, side: readonly string[], holdMs: number): Promise<void> {
    const started = Date.now();
    const key = `probe/${++this.probes}`;
    const [probe, newLeader] = await Promise.all([
      this.env.control.request<{ status?: number; error?: string }>({ type: 'probe', address: this.env.cluster.address(old.id), key, timeoutMs: Math.max(1000, holdMs - 500) }),
      this.env.waitForLeader(Math.max(holdMs, BITE_DEADLINE_MS), side, old.term),
    ]);
    const bite: Bite = { fault, oldLeader: old.id, oldTerm: old.term, minorityWrite: probe.status !== undefined ? String(probe.status) : (probe.error ?? '?') };
    if (newLeader !== undefined) bite.newLeader = newLeader;
    this.bites.push(bite);
    this.log(
      `nemesis: ${fault}: ${newLeader ? `${newLeader.id} elected in term ${newLeader.term} (was ${old.id}, term ${old.term})` : `no new leader among ${side.join(',')}`}; write at ${old.id}: ${bite.minorityWrite}`,
    );
    await sleep(holdMs - (Date.now() - started));
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}
