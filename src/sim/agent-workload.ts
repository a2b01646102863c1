/**
 * Agents in a simulation: a poster puts tasks on a queue, and agents claim them, work on them,
 * write each task's result to the KV fenced by their claim's token, and complete them — while the
 * nemesis does its worst to the cluster and the agents suffer faults of their own: an agent may
 * crash (it forgets everything and comes back later as a new incarnation, its claim left to
 * expire), or pause for longer than its claim's TTL and then carry on as if nothing happened (its
 * heartbeat, its write and its completion must then be refused). Now and then an agent also takes
 * the team's `coordinator` lease and writes the `coordinator` key fenced by it, pausing past the
 * lease's TTL as well.
 *
 * At the end (`finish`) the agents stop misbehaving and drain the queue; `check` then asks: every
 * posted task done or dead-lettered, no task completed twice (by what the agents were told, and by
 * the replicas' history in CoordAudit), no fenced write accepted with a stale token (CoordAudit).
 *
 * Deterministic like KvWorkload: seeded choices, virtual time, continuations run where the driver
 * lets promise callbacks run.
 */
import { SeededRandom } from '../core/random.js';
import type { NodeId } from '../core/types.js';
import { coordClient, type FencedKvApi, kvClientCommands } from '../coord/client.js';
import type { CoordClient } from '../coord/types.js';

type AgentClient = CoordClient & { readonly kv: FencedKvApi };
import type { TaskClaim } from '../coord/types.js';
import { LeaseHeldError, StaleTokenError } from '../errors.js';
import { KvClient, type KvCluster, type KvNode } from '../kv/client.js';
import type { CoordAudit } from './coord-audit.js';
import type { Simulation } from './simulation.js';

export interface AgentWorkloadOptions {
  /** Agents working the queue. Default 3. */
  agents?: number;
  /** Tasks the poster posts. Default 12. */
  tasks?: number;
  /** TTL of a claim and of the coordinator lease, virtual ms. Default 400. */
  ttl?: number;
}

export interface AgentCounts {
  posted: number;
  claims: number;
  completed: number;
  /** Heartbeats, fenced writes and completions refused because the token was stale. */
  staleRefused: number;
  crashes: number;
  pauses: number;
  leaseGrants: number;
}

const QUEUE = 'jobs';

export class AgentWorkload {
  private readonly random: SeededRandom;
  private running = false;
  /** Once finishing: no more crashes or pauses; agents stop when the queue is drained. */
  private finishing = false;
  private loops: Promise<void>[] = [];
  /** Per task, the claims (worker@incarnation and token) whose completion was acknowledged. */
  private readonly acked = new Map<string, { worker: string; token: number }[]>();
  private readonly counts_: AgentCounts = { posted: 0, claims: 0, completed: 0, staleRefused: 0, crashes: 0, pauses: 0, leaseGrants: 0 };
  private drained = false;
  /** Fenced writes the cluster acknowledged: at which index, with which token. */
  private readonly fencedAcks: { key: string; index: number; token: number }[] = [];

  constructor(
    private readonly sim: Simulation,
    seed: number,
    private readonly audit: CoordAudit,
    private readonly options: AgentWorkloadOptions = {},
  ) {
    this.random = new SeededRandom(seed);
  }

  start(): void {
    this.running = true;
    this.loops = [this.poster(), ...Array.from({ length: this.options.agents ?? 3 }, (_, a) => this.agent(a))];
  }

  /** Stop the faults, let the agents drain the queue, and resolve once every loop has ended. */
  async finish(): Promise<void> {
    this.finishing = true;
    await Promise.all(this.loops);
  }

  /** End at once (the run is over): loops stop at their next step. */
  stop(): void {
    this.running = false;
  }

  counts(): AgentCounts {
    return { ...this.counts_ };
  }

  /** The guarantees, once `finish` resolved: undefined when all hold. */
  async check(): Promise<{ rule: string; detail: string } | undefined> {
    const audited = this.audit.violation;
    if (audited !== undefined) return audited;
    // A write acknowledged to an agent went into the history with the agent's own token, which the
    // audit found current there (a state machine that swapped in the current token is caught here).
    for (const ack of this.fencedAcks) {
      const fence = this.audit.fenceAt(ack.index, ack.key);
      if (fence?.token !== ack.token) {
        return {
          rule: 'stale-write',
          detail: `the write of ${ack.key} at index ${ack.index} was acknowledged for token ${ack.token}, but the history holds ${fence ? `token ${fence.token}` : 'no fenced write there'}`,
        };
      }
    }
    for (const [id, claims] of this.acked) {
      const who = claims.map((c) => `${c.worker} (token ${c.token})`);
      if (new Set(who).size > 1) return { rule: 'complete-once', detail: `task ${id} was acknowledged as completed to ${who.join(' and ')}` };
      const last = this.audit.completionToken(id);
      for (const claim of claims) {
        if (claim.token !== last) {
          return {
            rule: 'complete-by-last-claim',
            detail: `task ${id} was acknowledged as completed to ${claim.worker} with token ${claim.token}, but its last claim's token is ${last}`,
          };
        }
      }
    }
    if (!this.drained) return { rule: 'tasks-settled', detail: 'the agents did not drain the queue' };
    return undefined;
  }

  private client(name: string): AgentClient {
    const sim = this.sim;
    const cluster: KvCluster = { ids: [...sim.ids], node: (id: NodeId) => sim.node(id) as unknown as KvNode | undefined };
    const kv = new KvClient(cluster, { clientId: name, session: name, clock: sim.clock, timeout: 3000, attemptTimeout: 300, retryDelay: 30 });
    return coordClient({
      ...kvClientCommands(kv),
      watch: () => {
        throw new Error('the simulated agents do not watch');
      },
    });
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.sim.clock.setTimeout(resolve, ms));
  }

  private async poster(): Promise<void> {
    const coord = this.client('poster');
    const total = this.options.tasks ?? 12;
    for (let n = 0; n < total && this.running; ) {
      try {
        // An id makes a retried post idempotent: a post whose outcome was unknown is simply sent again.
        await coord.tasks.post(QUEUE, { n }, { id: `job-${n}` });
        this.counts_.posted++;
        n++;
        await this.sleep(this.random.int(10, 150));
      } catch {
        await this.sleep(50);
      }
    }
  }

  private async agent(a: number): Promise<void> {
    const ttl = this.options.ttl ?? 400;
    for (let incarnation = 0; this.running; incarnation++) {
      const worker = `agent-${a}.${incarnation}`;
      const coord = this.client(worker);
      const crashed = await this.work(coord, worker, ttl);
      if (!crashed) return;
      this.counts_.crashes++;
      await this.sleep(this.random.int(100, 2 * ttl)); // down for a while, then a new incarnation
    }
  }

  /** One incarnation's life; true if it crashed, false once there is nothing left to do. */
  private async work(coord: AgentClient, worker: string, ttl: number): Promise<boolean> {
    while (this.running) {
      const faulty = !this.finishing;
      if (faulty && this.random.chance(0.1)) await this.coordinate(coord, worker, ttl);
      let claim: TaskClaim | undefined;
      try {
        claim = await coord.tasks.claim(QUEUE, { worker, ttlMs: ttl });
      } catch {
        await this.sleep(50);
        continue;
      }
      if (claim === undefined) {
        if (this.finishing && (await this.queueDrained(coord))) return false;
        await this.sleep(this.random.int(20, 80));
        continue;
      }
      this.counts_.claims++;
      const roll = faulty ? this.random.next() : 1;
      if (roll < 0.08) return true; // crash holding the claim
      if (roll < 0.2) {
        this.counts_.pauses++;
        await this.sleep(this.random.int(ttl + 50, 3 * ttl)); // paused past the TTL; carries on regardless
        try {
          await coord.tasks.heartbeat(claim.id, claim.token);
        } catch (error) {
          if (error instanceof StaleTokenError) this.counts_.staleRefused++;
        }
      } else {
        // Work in steps shorter than a third of the TTL, heartbeating between them.
        for (let step = this.random.int(0, 3); step > 0; step--) {
          await this.sleep(this.random.int(10, Math.floor(ttl / 3)));
          try {
            await coord.tasks.heartbeat(claim.id, claim.token);
          } catch (error) {
            if (error instanceof StaleTokenError) this.counts_.staleRefused++;
          }
        }
      }
      await this.finishTask(coord, claim, worker);
    }
    return false;
  }

  /** Write the result fenced by the claim, then complete; a stale token is refused at either step. */
  private async finishTask(coord: AgentClient, claim: TaskClaim, worker: string): Promise<void> {
    try {
      const key = `results/${claim.id}`;
      const { index } = await coord.kv.put(key, { worker, token: claim.token }, { fence: { task: claim.id, token: claim.token } });
      this.fencedAcks.push({ key, index, token: claim.token });
      await coord.tasks.complete(claim.id, claim.token, { worker });
      const acked = this.acked.get(claim.id) ?? [];
      acked.push({ worker, token: claim.token });
      this.acked.set(claim.id, acked);
      this.counts_.completed++;
    } catch (error) {
      if (error instanceof StaleTokenError) this.counts_.staleRefused++;
    }
  }

  /** Take the coordinator lease, write under it (perhaps after pausing past its TTL), release it. */
  private async coordinate(coord: AgentClient, worker: string, ttl: number): Promise<void> {
    try {
      const lease = await coord.leases.acquire('coordinator', { holder: worker, ttlMs: ttl });
      this.counts_.leaseGrants++;
      if (this.random.chance(0.3)) {
        this.counts_.pauses++;
        await this.sleep(this.random.int(ttl + 50, 2 * ttl));
      }
      const { index } = await coord.kv.put('coordinator', worker, { fence: { lease: 'coordinator', token: lease.token } });
      this.fencedAcks.push({ key: 'coordinator', index, token: lease.token });
      await coord.leases.release('coordinator', lease.token);
    } catch (error) {
      if (error instanceof StaleTokenError) this.counts_.staleRefused++;
      else if (!(error instanceof LeaseHeldError)) return;
    }
  }

  private async queueDrained(coord: AgentClient): Promise<boolean> {
    try {
      const view = await coord.tasks.list(QUEUE);
      const settled = view.counts.queued === 0 && view.counts.claimed === 0 && view.counts.done + view.counts.dead === (this.options.tasks ?? 12);
      if (settled) this.drained = true;
      return settled;
    } catch {
      return false;
    }
  }
}
