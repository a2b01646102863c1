/**
 * The demo's agent team, working through the cluster's coordination API (src/coord) over HTTP
 * (`connect()`, src/client/connect.ts):
 *
 * - a planner posts tasks `task-<n>` to queue `tasks` (`tasks.post`, idempotent by id), one every
 *   ~1.5 s while fewer than BACKLOG are queued;
 * - each agent (agent-ada, agent-bob, agent-cy) is an `agentMachine` actor (machines/agent.ts)
 *   with its own client: it claims a task, heartbeats it, works 1–4 s (the work's AbortSignal ends
 *   it when the claim is lost), writes `results/<task id>` fenced by the claim's token, and
 *   completes the task. The first agent is the team's coordinator: it works only while it holds
 *   the `coordinator` lease (the machine's coordinatorLease input).
 *
 * Controls: pause stops the planner and every agent the polite way (`agent.stop`: the coordinator
 * lease is released, an unfinished claim handed back); resume starts them again. Kill is a crash:
 * the agent's link to the cluster is cut first — nothing it sends from then on arrives, no answer
 * reaches it — and then its actor is stopped, so the release of its lease and the hand-back of its
 * claim that stopping does are lost with the link. Its claim expires after its TTL and the task
 * goes back to the queue for another agent, under a larger token; a write the dead agent had in
 * flight is refused by that token. Restart starts a new actor (a new client) under the same name.
 *
 * Wall-clock timers throughout: this is the demo's own process, not replicated state. Errors (a
 * node killed mid-request, no leader during an election) are expected: the agents' actors retry,
 * the planner tries again on its next tick.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { createActor, fromPromise } from 'xstate';
import { agentMachine, type AgentActor, type AgentSnapshot, type AgentWorkInput } from '../../machines/agent.js';
import { connect, type ClusterClient, type WriteOptions } from '../client/connect.js';
import type { CoordClient } from '../coord/types.js';
import type { JsonValue } from '../core/json.js';
import type { AgentAnswer, AgentView, DashboardAgents, DashboardWorkload } from './server.js';

export const TASK_QUEUE = 'tasks';
export const COORDINATOR_LEASE = 'coordinator';
/** The planner posts only while fewer tasks than this are queued (a paused or dead team does not bury the queue). */
const BACKLOG = 6;
const KINDS = ['build', 'test', 'review', 'deploy', 'index', 'summarize'] as const;

export interface AgentWorkloadOptions {
  /** Where the nodes are, asked whenever a client is made (the members may change). */
  addresses: () => readonly string[];
  /** A line for the dashboard's cluster log. */
  log: (text: string, level?: 'info' | 'warn' | 'error') => void;
  /** The agents' names; the first is the coordinator. Default agent-ada, agent-bob, agent-cy. */
  agents?: readonly string[];
  /** The nodes' client token, when they were started with one (--client-token). */
  token?: string;
  /** TTL of a task claim (default 3000 ms; heartbeats every third of it). */
  claimTtlMs?: number;
  /** TTL of the coordinator lease (default 5000 ms). */
  leaseTtlMs?: number;
  /** How long one task's work takes, ms (default 1000–4000, uniformly). */
  workMs?: readonly [number, number];
  /** Between the planner's posts (default ~1500 ms). */
  postEveryMs?: number;
}

/** A team member: its actor while one runs, the link that actor talks through. */
interface Agent {
  readonly name: string;
  actor: AgentActor | undefined;
  link: SeveredLink | undefined;
  /** Killed (crashed) and not restarted since: resume leaves it dead. */
  killed: boolean;
}

export class AgentWorkload implements DashboardWorkload, DashboardAgents {
  private readonly team: Agent[];
  private running = false;
  private stopped = false;
  private planner: { stop: AbortController; done: Promise<void> } | undefined;
  /** Links of agents stopped politely whose goodbyes (lease release, claim hand-back) may be on their way. */
  private goodbyes: SeveredLink[] = [];
  private readonly claimTtlMs: number;
  private readonly leaseTtlMs: number;
  private readonly workMs: readonly [number, number];
  private readonly postEveryMs: number;
  /** Tasks the planner posted. */
  posted = 0;
  /** Claims the agents reported (`task.claimed`). */
  claims = 0;

  constructor(private readonly options: AgentWorkloadOptions) {
    this.team = (options.agents ?? ['agent-ada', 'agent-bob', 'agent-cy']).map((name) => ({ name, actor: undefined, link: undefined, killed: false }));
    this.claimTtlMs = options.claimTtlMs ?? 3000;
    this.leaseTtlMs = options.leaseTtlMs ?? 5000;
    this.workMs = options.workMs ?? [1000, 4000];
    this.postEveryMs = options.postEveryMs ?? 1500;
  }

  get state(): 'running' | 'paused' {
    return this.running ? 'running' : 'paused';
  }

  resume(): void {
    if (this.running || this.stopped) return;
    this.running = true;
    const stop = new AbortController();
    this.planner = { stop, done: this.plan(stop.signal) };
    for (const agent of this.team) if (!agent.killed) this.start(agent);
  }

  pause(): void {
    this.running = false;
    this.planner?.stop.abort();
    for (const agent of this.team) this.stopPolitely(agent);
  }

  /**
   * For good: pause, then wait (at most `graceMs`) for the planner and the agents' goodbyes to be
   * answered — before the cluster stops, so that none is left retrying against stopped nodes,
   * keeping the process alive.
   */
  async stop(graceMs = 2000): Promise<void> {
    const planner = this.planner;
    this.pause();
    this.stopped = true;
    const goodbyes = this.goodbyes.splice(0);
    const grace = new AbortController();
    await Promise.race([Promise.all([planner?.done, ...goodbyes.map((link) => link.idle())]), sleep(graceMs, undefined, { signal: grace.signal }).catch(() => undefined)]);
    grace.abort();
  }

  // ------------------------------------------------------------ the agents, as the dashboard sees them

  list(): AgentView[] {
    return this.team.map((agent) => view(agent, this.running));
  }

  kill(name: string): AgentAnswer {
    const agent = this.team.find((a) => a.name === name);
    if (agent === undefined) return { ok: false, reason: 'unknown_agent' };
    const { actor, link } = agent;
    if (actor === undefined || link === undefined) return { ok: false, reason: 'not_running' };
    const claim = actor.getSnapshot().context.claim;
    // The link first: stopping the actor then "releases" the lease and hands the claim back into a
    // dead link, as a crashed process would not.
    link.sever();
    actor.stop();
    agent.actor = undefined;
    agent.link = undefined;
    agent.killed = true;
    this.options.log(
      claim !== undefined
        ? `${name} killed while holding ${claim.id} (token ${claim.token}): the claim is left to expire`
        : `${name} killed${name === this.coordinator ? ': the coordinator lease is left to expire' : ''}`,
      'warn',
    );
    return { ok: true, agent: { ...view(agent, this.running), ...(claim !== undefined ? { claim: { id: claim.id, token: claim.token, attempt: claim.attempt } } : {}) } };
  }

  restart(name: string): AgentAnswer {
    const agent = this.team.find((a) => a.name === name);
    if (agent === undefined) return { ok: false, reason: 'unknown_agent' };
    if (agent.actor !== undefined) return { ok: false, reason: 'running' };
    agent.killed = false;
    if (this.running) this.start(agent);
    this.options.log(this.running ? `${name} restarted` : `${name} will start when the workload resumes`);
    return { ok: true, agent: view(agent, this.running) };
  }

  // ------------------------------------------------------------ running an agent

  private get coordinator(): string | undefined {
    return this.team[0]?.name;
  }

  private client(clientId: string): ClusterClient {
    // A call retried past a claim's TTL is moot (and would keep a stopping demo alive): 5 s, not 10.
    return connect({ peers: [...this.options.addresses()], clientId, timeout: 5000, ...(this.options.token !== undefined ? { token: this.options.token } : {}) });
  }

  private start(agent: Agent): void {
    const link = severable(this.client(agent.name));
    const [least, most] = this.workMs;
    const work = fromPromise<JsonValue, AgentWorkInput>(async ({ input: { claim }, signal }) => {
      // The signal aborts when the claim (or the coordinator lease) is lost: the sleep rejects.
      await sleep(least + Math.random() * (most - least), undefined, { signal });
      const result = { by: agent.name, token: claim.token, attempt: claim.attempt, at: new Date().toISOString() };
      // Fenced: refused (StaleTokenError) once this claim is not the task's current one.
      await link.put(`results/${claim.id}`, result, { fence: { task: claim.id, token: claim.token } });
      return result;
    });
    const actor = createActor(agentMachine.provide({ actors: { work } }), {
      input: {
        client: link,
        queue: TASK_QUEUE,
        worker: agent.name,
        ttlMs: this.claimTtlMs,
        pollMs: 1000,
        backoffMs: 1000,
        ...(agent.name === this.coordinator ? { coordinatorLease: { name: COORDINATOR_LEASE, ttlMs: this.leaseTtlMs } } : {}),
      },
    });
    let before = actor.getSnapshot();
    actor.subscribe({
      next: (snapshot) => {
        this.narrate(agent.name, before, snapshot);
        before = snapshot;
      },
      error: (error) => this.options.log(`${agent.name} failed: ${(error as Error).message}`, 'error'),
    });
    agent.actor = actor;
    agent.link = link;
    actor.start();
  }

  /** `agent.stop`: the machine's own way out (its lease released, an unfinished claim handed back). */
  private stopPolitely(agent: Agent): void {
    agent.actor?.send({ type: 'agent.stop' });
    agent.actor?.stop();
    if (agent.link !== undefined) this.goodbyes = [...this.goodbyes.filter((link) => !link.isIdle()), agent.link];
    agent.actor = undefined;
    agent.link = undefined;
  }

  /** What changed between two snapshots, in the cluster log. */
  private narrate(name: string, before: AgentSnapshot, after: AgentSnapshot): void {
    const [was, is] = [before.context, after.context];
    const log = this.options.log;
    if (is.claim !== undefined && is.claim.id !== was.claim?.id) {
      this.claims++;
      log(`${name} claimed ${is.claim.id} (token ${is.claim.token}${is.claim.attempt > 1 ? `, attempt ${is.claim.attempt}` : ''})`);
    }
    const settled = was.claim;
    if (is.completed > was.completed && settled !== undefined) log(`${name} completed ${settled.id} (token ${settled.token}): results/${settled.id} written`);
    if (is.failed > was.failed && settled !== undefined) log(`${name} failed ${settled.id} (token ${settled.token})`, 'warn');
    if (is.lost > was.lost && settled !== undefined) log(`${name} lost its claim on ${settled.id} (token ${settled.token})`, 'warn');
    if (is.lease !== undefined && is.lease.token !== was.lease?.token) log(`${name} holds the ${COORDINATOR_LEASE} lease (token ${is.lease.token})`);
    if (is.lease === undefined && was.lease !== undefined && after.status === 'active') log(`${name} lost the ${COORDINATOR_LEASE} lease (token ${was.lease.token})`, 'warn');
  }

  // ------------------------------------------------------------ the planner

  private async plan(signal: AbortSignal): Promise<void> {
    const client = this.client('planner');
    let next: number | undefined;
    while (!signal.aborted) {
      try {
        const queue = await client.tasks.list(TASK_QUEUE, { limit: 1 });
        // The data survives the demo: number on from every task the queue ever had.
        next ??= Object.values(queue.counts).reduce((a, b) => a + b, 0) + 1;
        if (queue.counts.queued < BACKLOG && !signal.aborted) {
          const kind = KINDS[Math.floor(Math.random() * KINDS.length)] as string;
          // A duplicate id (posted by an earlier run, or a retried post) names the next one.
          for (let tries = 0; tries < 20; tries++) {
            const id = `task-${next}`;
            const posted = await client.tasks.post(TASK_QUEUE, { kind, title: `${kind} #${next}` }, { id });
            next++;
            if (!posted.duplicate) {
              this.posted++;
              break;
            }
          }
        }
      } catch {
        // No leader yet, a node down: the next tick tries again.
      }
      await sleep(this.postEveryMs * (0.75 + Math.random() / 2), undefined, { signal }).catch(() => undefined);
    }
  }
}

// ------------------------------------------------------------ helpers

/** The worker region's state: idle, claiming, working, completing, failing, resting. */
function workerState(snapshot: AgentSnapshot): string {
  const value = snapshot.value;
  if (typeof value === 'string') return value;
  const worker = value.running.worker;
  return typeof worker === 'string' ? worker : worker.busy;
}

/** The machine's state value as dotted paths, one per region: "running.lease.active.held, running.worker.busy.working". */
export function statePaths(value: unknown, prefix = ''): string[] {
  if (typeof value === 'string') return [`${prefix}${value}`];
  if (value === null || typeof value !== 'object') return [];
  return Object.entries(value as Record<string, unknown>).flatMap(([key, child]) => statePaths(child, `${prefix}${key}.`));
}

function view(agent: Agent, running: boolean): AgentView {
  const snapshot = agent.actor?.getSnapshot();
  if (snapshot === undefined || snapshot.status !== 'active') {
    const state = agent.killed ? 'killed' : running ? 'stopped' : 'paused';
    return { name: agent.name, state, value: state, alive: false, completed: 0, failed: 0, lost: 0 };
  }
  const { claim, lease, coordinatorLease, completed, failed, lost } = snapshot.context;
  const leaseValue = typeof snapshot.value === 'string' ? undefined : snapshot.value.running.lease;
  return {
    name: agent.name,
    state: workerState(snapshot),
    value: statePaths(snapshot.value).join(', '),
    alive: true,
    ...(claim !== undefined ? { claim: { id: claim.id, token: claim.token, attempt: claim.attempt } } : {}),
    ...(coordinatorLease !== undefined
      ? {
          lease: {
            name: coordinatorLease.name,
            state: typeof leaseValue === 'object' ? leaseValue.active : 'seeking',
            ...(lease !== undefined ? { token: lease.token } : {}),
          },
        }
      : {}),
    completed,
    failed,
    lost,
  };
}

/** A client whose link to the cluster can be cut at once, as a crash cuts it. */
interface SeveredLink extends CoordClient {
  put(key: string, value: JsonValue, options?: WriteOptions): Promise<unknown>;
  /** From now on no call is sent, and no answer (not even to a call already sent) comes back. */
  sever(): void;
  /** No call is on its way (sent, and not answered yet — severed or not). */
  isIdle(): boolean;
  /** Resolves once isIdle(). */
  idle(): Promise<void>;
}

/**
 * Calls after sever() never settle, and neither do the ones in flight: the agent hears nothing
 * more, like a process that died (what it sent before may still arrive, as then).
 */
function severable(client: ClusterClient): SeveredLink {
  let cut = false;
  const cutOff = new AbortController();
  const never = new Promise<never>(() => {});
  let inFlight = 0;
  const waiting: (() => void)[] = [];
  const settled = () => {
    if (--inFlight > 0) return;
    for (const resolve of waiting.splice(0)) resolve();
  };
  const guard =
    <A extends unknown[], R>(call: (...args: A) => Promise<R>) =>
    (...args: A): Promise<R> => {
      if (cut) return never;
      inFlight++;
      return call(...args)
        .finally(settled)
        .then(
          (answer) => (cut ? never : answer),
          (error: unknown) => (cut ? never : Promise.reject(error)),
        );
    };
  const { leases, tasks } = client;
  return {
    leases: {
      acquire: guard(leases.acquire),
      renew: guard(leases.renew),
      release: guard(leases.release),
      get: guard(leases.get),
      list: guard(leases.list),
    },
    tasks: {
      post: guard(tasks.post),
      claim: guard(tasks.claim),
      heartbeat: guard(tasks.heartbeat),
      complete: guard(tasks.complete),
      fail: guard(tasks.fail),
      get: guard(tasks.get),
      list: guard(tasks.list),
    },
    watch: (prefix, options = {}) => client.watch(prefix, { ...options, signal: options.signal ? AbortSignal.any([options.signal, cutOff.signal]) : cutOff.signal }),
    put: guard((key: string, value: JsonValue, options?: WriteOptions) => client.put(key, value, options)),
    sever: () => {
      cut = true;
      cutOff.abort();
    },
    isIdle: () => inFlight === 0,
    idle: () => (inFlight === 0 ? Promise.resolve() : new Promise<void>((resolve) => waiting.push(resolve))),
  };
}
