/**
 * Model-based test of the agent statechart (machines/agent.ts).
 *
 * Paths come from `agentMachine` itself: @xstate/graph explores the chart (with stub actors, so
 * that every event the real actors could send is offered by the model instead) in both
 * configurations — without a coordinator lease and with one — up to two finished tasks. Every
 * edge of that graph is replayed on a real actor on a virtual clock: the shortest path to its
 * source, then its event. After every step the actor must be in the state the path predicts and
 * the agent's rules must hold (below). Coverage of the chart's states and transitions is measured
 * from the replays, printed, and must be complete.
 */
import { getShortestPaths, type StatePath } from '@xstate/graph';
import { beforeAll, describe, expect, it } from 'vitest';
import { createActor, fromCallback, fromPromise, type AnyStateMachine, type EventObject, type InspectionEvent, type Snapshot } from 'xstate';
import { agentMachine, type AgentEvent, type AgentInput, type AgentSnapshot, type AgentWorkInput } from '../../machines/agent.js';
import type { ClaimTaskActorInput, ClaimTaskCommand, LeaseActorInput } from '../../src/coord/actors.js';
import { LeaseLostError } from '../../src/coord/keep-alive.js';
import type { CoordClient, TaskClaim } from '../../src/coord/types.js';
import type { JsonValue } from '../../src/core/json.js';
import { VirtualClock } from '../../src/sim/clock.js';
import { ChartCoverage } from './coverage.js';

// ---------------------------------------------------------------- stub actors, observed by the replay

/** What the invoked stubs saw, for the current replay. */
const seen = { commands: [] as ClaimTaskCommand[], works: [] as { input: AgentWorkInput; signal: AbortSignal }[] };

const stubbed = agentMachine.provide({
  actors: {
    // The model sends task.claimed, task.completed, claim.lost, … itself; the stub only records what the agent tells it.
    claimTask: fromCallback<ClaimTaskCommand, ClaimTaskActorInput>(({ receive }) => receive((command) => seen.commands.push(command))),
    coordinatorLease: fromCallback<EventObject, LeaseActorInput>(() => {}),
    // Never settles on its own: the model delivers its done and error events.
    work: fromPromise<JsonValue, AgentWorkInput>(({ input, signal }) => {
      seen.works.push({ input, signal });
      return new Promise<never>(() => {});
    }),
  },
});

// ---------------------------------------------------------------- the model

const BACKOFF_MS = 500;
const AFTER_BACKOFF = 'xstate.after.backoff.agent.running.worker.resting';
const RESULT: JsonValue = { answer: 42 };
/** No actor is ever called: the stubs stand in for them. */
const client = {} as CoordClient;
const baseInput: AgentInput = { client, queue: 'jobs', worker: 'w', ttlMs: 300, pollMs: 100, backoffMs: BACKOFF_MS };

interface Scope {
  readonly name: string;
  readonly input: AgentInput;
  /** Explore until this many tasks have ended (completed, failed, lost or abandoned). */
  readonly maxFinished: number;
}

const SCOPES: readonly Scope[] = [
  { name: 'without a coordinator lease', input: baseInput, maxFinished: 2 },
  { name: 'with a coordinator lease', input: { ...baseInput, coordinatorLease: { name: 'coord', ttlMs: 300 } }, maxFinished: 2 },
];

type ModelEvent = AgentEvent | { type: 'xstate.done.actor.work'; output: JsonValue } | { type: 'xstate.error.actor.work'; error: unknown } | { type: typeof AFTER_BACKOFF };

const finished = (s: AgentSnapshot) => s.context.completed + s.context.failed + s.context.lost + s.context.abandoned;
const claimOf = (n: number): TaskClaim => ({ id: `t${n}`, queue: 'jobs', task: n, worker: 'w', token: 10 + n, expiresAt: 1000, attempt: 1 });
const inWorker = (s: AgentSnapshot, state: string) => s.matches({ running: { worker: state } } as never);
const inBusy = (s: AgentSnapshot, state: string) => s.matches({ running: { worker: { busy: state } } } as never);

/** The events the real actors (and the user) could deliver in this state, plus late ones that must be ignored. */
function modelEvents(s: AgentSnapshot): ModelEvent[] {
  if (s.status !== 'active') return [];
  const events: ModelEvent[] = [{ type: 'agent.stop' }];
  const current = s.context.claim?.id ?? 'none';
  if (s.matches({ running: { lease: { active: 'seeking' } } })) events.push({ type: 'lease.acquired', token: 7, expiresAt: 1000 });
  if (s.matches({ running: { lease: { active: 'held' } } })) events.push({ type: 'lease.lost', reason: new LeaseLostError('coord', 7) });
  if (inBusy(s, 'claiming')) events.push({ type: 'task.claimed', claim: claimOf(finished(s) + 1) });
  if (inBusy(s, 'working')) {
    events.push({ type: 'xstate.done.actor.work', output: RESULT }, { type: 'xstate.error.actor.work', error: new Error('boom') });
  }
  if (inBusy(s, 'completing')) events.push({ type: 'task.completed', id: current }, { type: 'task.completed', id: 'stale' });
  if (inBusy(s, 'failing')) events.push({ type: 'task.failed', id: current, state: 'queued' }, { type: 'task.failed', id: 'stale', state: 'queued' });
  if (inBusy(s, 'working') || inBusy(s, 'completing') || inBusy(s, 'failing')) {
    events.push({ type: 'claim.lost', id: current, reason: undefined as never }, { type: 'claim.lost', id: 'stale', reason: undefined as never });
  }
  if (inWorker(s, 'resting')) events.push({ type: AFTER_BACKOFF });
  return events;
}

function serialize(s: AgentSnapshot): string {
  const { claim, lease, completed, failed, lost, abandoned } = s.context;
  return JSON.stringify([s.status, s.value, claim?.id ?? null, lease === undefined ? null : lease.token, completed, failed, lost, abandoned]);
}

interface ModelPath {
  readonly scope: Scope;
  readonly events: readonly ModelEvent[];
  readonly states: readonly string[];
}

/** One path per edge of the explored graph: the shortest path to the edge's source, then the edge's event. */
function everyEdge(scope: Scope): ModelPath[] {
  const edges = new Map<string, Map<string, { event: ModelEvent; to: string }>>();
  const paths = getShortestPaths(stubbed as unknown as AnyStateMachine, {
    input: scope.input,
    events: (s: unknown) => modelEvents(s as AgentSnapshot) as EventObject[],
    serializeState: (s: unknown, event: EventObject | undefined, prev?: unknown) => {
      const to = serialize(s as AgentSnapshot);
      if (event !== undefined && prev !== undefined) {
        const from = serialize(prev as AgentSnapshot);
        if (!edges.has(from)) edges.set(from, new Map());
        edges.get(from)!.set(JSON.stringify(event), { event: event as ModelEvent, to });
      }
      return to;
    },
    stopWhen: (s: unknown) => finished(s as AgentSnapshot) >= scope.maxFinished,
  });
  const toPath = (p: StatePath<Snapshot<unknown>, EventObject>): ModelPath => ({
    scope,
    events: p.steps.slice(1).map((step) => step.event as ModelEvent),
    states: p.steps.map((step) => serialize(step.state as AgentSnapshot)),
  });
  const pathTo = new Map(paths.map(toPath).map((p) => [p.states.at(-1)!, p]));
  const result: ModelPath[] = [];
  for (const [from, out] of edges) {
    const head = pathTo.get(from);
    if (head === undefined) continue;
    for (const { event, to } of out.values()) result.push({ scope, events: [...head.events, event], states: [...head.states, to] });
  }
  return result;
}

// ---------------------------------------------------------------- the rules checked after every step

function rulesBroken(scope: Scope, prev: AgentSnapshot, next: AgentSnapshot, event: ModelEvent): string[] {
  const broken: string[] = [];
  const holdsClaim = ['working', 'completing', 'failing'].some((state) => inBusy(next, state));
  if (next.status === 'active' && holdsClaim !== (next.context.claim !== undefined)) broken.push('the agent holds a claim exactly while working on it or recording its outcome');
  const children = next.children as Record<string, unknown>;
  if (next.status === 'active' && inBusy(next, 'working') !== (children['work'] !== undefined)) broken.push('the work actor runs exactly while working');
  if (next.status === 'active' && inWorker(next, 'busy') !== (children['claim'] !== undefined)) broken.push('the claim actor runs exactly while busy');
  if (scope.input.coordinatorLease === undefined) {
    if (next.status === 'active' && !next.matches({ running: { lease: 'unused' } })) broken.push('without a coordinator lease the lease region stays unused');
  } else if ((inBusy(next, 'claiming') || inBusy(next, 'working')) && next.context.lease === undefined) {
    broken.push('with a coordinator lease the agent claims and works only while holding it');
  }
  const last = seen.works.at(-1);
  const workEnded = event.type === 'xstate.done.actor.work' || event.type === 'xstate.error.actor.work';
  if (inBusy(prev, 'working') && !inBusy(next, 'working') && !workEnded && last?.signal.aborted !== true)
    broken.push("leaving working before the work ended aborts the work's signal");
  if (inBusy(next, 'working') && !inBusy(prev, 'working') && last?.input.claim !== next.context.claim) broken.push('the work is given the claim');
  if (event.type === 'claim.lost' && event.id === prev.context.claim?.id && !(inWorker(next, 'resting') && next.context.claim === undefined)) {
    broken.push('a lost claim ends the work on it: the agent rests, holding no claim');
  }
  if (
    (event.type === 'claim.lost' || event.type === 'task.completed' || event.type === 'task.failed') &&
    event.id !== prev.context.claim?.id &&
    serialize(next) !== serialize(prev)
  ) {
    broken.push('a late answer about another claim changes nothing');
  }
  const command = seen.commands.at(-1);
  if (event.type === 'xstate.done.actor.work' && inBusy(prev, 'working') && !(command?.type === 'task.complete' && command.result === RESULT)) {
    broken.push("the work's result completes the task");
  }
  if (event.type === 'xstate.error.actor.work' && inBusy(prev, 'working') && !(command?.type === 'task.fail' && command.reason === 'boom' && command.retry === true)) {
    broken.push("the work's error fails the task with retry");
  }
  return broken;
}

// ---------------------------------------------------------------- replay

interface Failure {
  readonly path: ModelPath;
  readonly at: number;
  readonly message: string;
}

// Of the machine replayed: `provide` makes new state nodes and transitions.
const coverage = new ChartCoverage(stubbed as unknown as AnyStateMachine);
const mismatches: Failure[] = [];
const violations: Failure[] = [];
let replayed = 0;

function replay(path: ModelPath): void {
  seen.commands = [];
  seen.works = [];
  const clock = new VirtualClock();
  const inspect = (e: InspectionEvent) => {
    if (e.type === '@xstate.microstep') coverage.observe(e._transitions, e.snapshot);
  };
  const actor = createActor(stubbed, { input: path.scope.input, clock, inspect });
  let error: unknown;
  actor.subscribe({ error: (err) => (error = err) });
  actor.start();
  coverage.observe([], actor.getSnapshot());
  let at = -1;
  try {
    if (serialize(actor.getSnapshot()) !== path.states[0]) mismatches.push({ path, at, message: `initial state ${serialize(actor.getSnapshot())}` });
    path.events.forEach((event, i) => {
      at = i;
      const prev = actor.getSnapshot();
      if (event.type === AFTER_BACKOFF) clock.advance(BACKOFF_MS);
      else actor.send(event as AgentEvent);
      const next = actor.getSnapshot();
      if (error !== undefined) throw error;
      if (serialize(next) !== path.states[i + 1]) mismatches.push({ path, at, message: `state ${serialize(next)}\npredicted ${path.states[i + 1]}` });
      const broken = rulesBroken(path.scope, prev, next, event);
      if (broken.length > 0) violations.push({ path, at, message: broken.join('; ') });
    });
  } catch (err) {
    violations.push({ path, at, message: `the actor failed: ${String(err)}` });
  } finally {
    actor.stop();
    replayed++;
  }
}

function summary(failures: readonly Failure[]) {
  const format = (f: Failure) =>
    `${f.path.scope.name}, step ${f.at + 1}: ${f.message}\n${f.path.events
      .slice(0, f.at + 1)
      .map((e, i) => `  ${i + 1}. ${JSON.stringify(e)}`)
      .join('\n')}`;
  return { failures: failures.length, first: failures.slice(0, 3).map(format) };
}
const none = { failures: 0, first: [] };

describe('agentMachine, model-based (every edge of the graph @xstate/graph explores, replayed on a real actor)', () => {
  beforeAll(() => {
    for (const scope of SCOPES) for (const path of everyEdge(scope)) replay(path);
    const r = coverage.report;
    console.log(`agent model coverage: states ${r.states[0]}/${r.states[1]}, transitions ${r.transitions[0]}/${r.transitions[1]}, paths ${replayed}`);
  });

  it('replays a path for every edge of both configurations', () => {
    expect(replayed).toBeGreaterThan(50);
  });

  it('after every step the actor is in the state the path predicts', () => {
    expect(summary(mismatches)).toEqual(none);
  });

  it("no step breaks an agent rule (claim held only while working or recording; work and claim actors run exactly in their states; the coordinator lease gates claiming and working; a lost claim or lease aborts the work; a late answer about another claim is ignored; the work's outcome is recorded)", () => {
    expect(summary(violations)).toEqual(none);
  });

  it('every state and every transition of the chart is reached by some path', () => {
    const r = coverage.report;
    expect({ missedStates: r.missedStates, missedTransitions: r.missedTransitions }).toEqual({ missedStates: [], missedTransitions: [] });
  });
});
