/**
 * A worked agent as a statechart: it takes tasks from a queue one at a time, works on each, and
 * records the outcome — optionally only while it holds a coordinator lease (a singleton worker:
 * one agent of the team at a time).
 *
 * Two regions run side by side under `running`:
 * - `lease`: `unused` without a `coordinatorLease` input; with one, `active` invokes `leaseActor`
 *   (src/coord/actors.ts), which keeps trying to hold the lease: `seeking` until `lease.acquired`,
 *   `held` until `lease.lost`, then `seeking` again.
 * - `worker`: `idle` → `busy` (claiming → working → completing | failing) → `idle` or `resting`.
 *   `busy` invokes `claimTaskActor`, which claims one task, heartbeats it, and records the outcome
 *   it is told; `working` invokes `work` — the task handler, given the claim, as promise logic the
 *   user provides with `agentMachine.provide({ actors: { work: fromPromise(…) } })`; its signal
 *   aborts when the state is left.
 *
 * The rules, one per transition:
 * - The agent claims only when it may work: always without a coordinator lease, else only while
 *   the lease is held (`idle`, guard `mayWork`, re-checked whenever the lease region moves).
 * - A claim that is lost (heartbeat refused, task gone, no heartbeat in time) ends the work at
 *   once: leaving `working` stops the work actor, whose signal aborts; its outcome would be
 *   refused anyway. Only the current claim's loss counts (guard `isCurrentClaim`).
 * - A lost coordinator lease ends claiming and working (the agent no longer owns the right to
 *   act); leaving `busy` stops the claim actor, which hands an unsettled claim back to the queue.
 *   While the outcome is being recorded (`completing`, `failing`) the lease does not matter: the
 *   work is done, and the claim's own token fences the completion.
 * - The work's result completes the task; the work's error fails it with retry (back to the
 *   queue while attempts remain, else dead-lettered by the cluster).
 * - After a failure or a loss the agent rests (`after: backoff`) before claiming again, so a task
 *   that fails at once does not spin; after a completion it claims the next task at once.
 * - `agent.stop` from anywhere ends the agent: every invoked actor stops (the lease is released,
 *   an unsettled claim handed back).
 *
 * The machine does no I/O and reads no clock; the only delay is the named `backoff`, driven by
 * the actor's clock. The actors it invokes do the I/O, on their own timers.
 */
import {
  assign,
  type EventObject,
  fromPromise,
  type MetaObject,
  type NonReducibleUnknown,
  type ParameterizedObject,
  type PromiseActorLogic,
  sendTo,
  setup,
  type StateMachine,
  type ActorRefFrom,
  type SnapshotFrom,
} from 'xstate';
import { claimTaskActor, leaseActor, type ClaimTaskActorEvent, type LeaseActorEvent } from '../src/coord/actors.js';
import type { Timers } from '../src/coord/keep-alive.js';
import type { CoordClient, FencingToken, TaskClaim } from '../src/coord/types.js';
import type { JsonValue } from '../src/core/json.js';

export interface AgentInput {
  readonly client: CoordClient;
  readonly queue: string;
  /** This agent's name: the worker of its claims and the holder of its lease. */
  readonly worker: string;
  /** TTL of each claim. */
  readonly ttlMs: number;
  /** Between claims while the queue is empty. */
  readonly pollMs: number;
  /** Rest after a failed or lost task before claiming again; default pollMs. */
  readonly backoffMs?: number;
  /** Work only while holding this lease. */
  readonly coordinatorLease?: { readonly name: string; readonly ttlMs: number };
  /** For the invoked actors' own timers (default: the global timers). */
  readonly timers?: Timers;
}

export interface AgentContext {
  readonly client: CoordClient;
  readonly queue: string;
  readonly worker: string;
  readonly ttlMs: number;
  readonly pollMs: number;
  readonly backoffMs: number;
  readonly coordinatorLease: AgentInput['coordinatorLease'];
  readonly timers: Timers | undefined;
  /** The claim being worked on or recorded (from `task.claimed` until the outcome is known). */
  readonly claim: TaskClaim | undefined;
  /** The coordinator lease while held. */
  readonly lease: { readonly token: FencingToken; readonly expiresAt: number } | undefined;
  readonly completed: number;
  readonly failed: number;
  /** Claims lost while working or recording. */
  readonly lost: number;
  /** Claims given up because the coordinator lease was lost. */
  readonly abandoned: number;
}

export type AgentEvent = ClaimTaskActorEvent | LeaseActorEvent | { readonly type: 'agent.stop' };

/** What the `work` actor is given; its signal (fromPromise's) aborts when the claim or the lease is lost. */
export interface AgentWorkInput {
  readonly claim: TaskClaim;
}

/** The placeholder for `work`: provide the task handler with `agentMachine.provide({ actors: { work } })`. */
const workNotProvided = fromPromise<JsonValue, AgentWorkInput>(async () => {
  throw new Error('agentMachine needs a work actor: agentMachine.provide({ actors: { work: fromPromise(async ({ input, signal }) => …) } })');
});

function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

const machine = setup({
  types: {
    context: {} as AgentContext,
    input: {} as AgentInput,
    events: {} as AgentEvent,
  },
  actors: {
    claimTask: claimTaskActor,
    coordinatorLease: leaseActor,
    work: workNotProvided,
  },
  guards: {
    // ---------------------------------------------------------------- lease
    usesCoordinatorLease: ({ context }) => context.coordinatorLease !== undefined,
    /** Claim only without a coordinator lease, or while holding it. */
    mayWork: ({ context }) => context.coordinatorLease === undefined || context.lease !== undefined,
    // ---------------------------------------------------------------- claim
    /** An answer about the claim being worked on (not a late one about an earlier claim). */
    isCurrentClaim: ({ context, event }) => 'id' in event && event.id === context.claim?.id,
  },
  actions: {
    // ---------------------------------------------------------------- lease
    recordLease: assign({ lease: ({ event }) => (event.type === 'lease.acquired' ? { token: event.token, expiresAt: event.expiresAt } : undefined) }),
    forgetLease: assign({ lease: undefined }),
    // ---------------------------------------------------------------- claim
    recordClaim: assign({ claim: ({ event }) => (event.type === 'task.claimed' ? event.claim : undefined) }),
    completeTask: sendTo('claim', (_, params: { result: JsonValue }) => ({ type: 'task.complete' as const, result: params.result })),
    failTask: sendTo('claim', (_, params: { reason: string }) => ({ type: 'task.fail' as const, reason: params.reason, retry: true })),
    countCompleted: assign({ claim: undefined, completed: ({ context }) => context.completed + 1 }),
    countFailed: assign({ claim: undefined, failed: ({ context }) => context.failed + 1 }),
    countLost: assign({ claim: undefined, lost: ({ context }) => context.lost + 1 }),
    countAbandoned: assign({ claim: undefined, abandoned: ({ context }) => context.abandoned + (context.claim === undefined ? 0 : 1) }),
  },
  delays: {
    backoff: ({ context }) => context.backoffMs,
  },
}).createMachine({
  id: 'agent',
  context: ({ input }) => ({
    client: input.client,
    queue: input.queue,
    worker: input.worker,
    ttlMs: input.ttlMs,
    pollMs: input.pollMs,
    backoffMs: input.backoffMs ?? input.pollMs,
    coordinatorLease: input.coordinatorLease,
    timers: input.timers,
    claim: undefined,
    lease: undefined,
    completed: 0,
    failed: 0,
    lost: 0,
    abandoned: 0,
  }),
  initial: 'running',
  states: {
    running: {
      type: 'parallel',
      on: { 'agent.stop': '#agent.stopped' },
      states: {
        lease: {
          initial: 'unused',
          states: {
            unused: { always: { guard: 'usesCoordinatorLease', target: 'active' } },
            active: {
              invoke: {
                id: 'lease',
                src: 'coordinatorLease',
                input: ({ context }) => ({
                  client: context.client,
                  name: context.coordinatorLease!.name,
                  holder: context.worker,
                  ttlMs: context.coordinatorLease!.ttlMs,
                  ...(context.timers ? { timers: context.timers } : {}),
                }),
              },
              initial: 'seeking',
              states: {
                seeking: { on: { 'lease.acquired': { target: 'held', actions: 'recordLease' } } },
                held: { on: { 'lease.lost': { target: 'seeking', actions: 'forgetLease' } } },
              },
            },
          },
        },
        worker: {
          initial: 'idle',
          states: {
            idle: { always: { guard: 'mayWork', target: 'busy' } },
            busy: {
              invoke: {
                id: 'claim',
                src: 'claimTask',
                input: ({ context }) => ({
                  client: context.client,
                  queue: context.queue,
                  worker: context.worker,
                  ttlMs: context.ttlMs,
                  pollMs: context.pollMs,
                  ...(context.timers ? { timers: context.timers } : {}),
                }),
              },
              initial: 'claiming',
              states: {
                claiming: {
                  on: {
                    'task.claimed': { target: 'working', actions: 'recordClaim' },
                    'lease.lost': { target: '#agent.running.worker.idle' },
                  },
                },
                working: {
                  invoke: {
                    id: 'work',
                    src: 'work',
                    input: ({ context }) => ({ claim: context.claim! }),
                    onDone: { target: 'completing', actions: { type: 'completeTask', params: ({ event }) => ({ result: event.output }) } },
                    onError: { target: 'failing', actions: { type: 'failTask', params: ({ event }) => ({ reason: describeError(event.error) }) } },
                  },
                  on: {
                    'claim.lost': { guard: 'isCurrentClaim', target: '#agent.running.worker.resting', actions: 'countLost' },
                    'lease.lost': { target: '#agent.running.worker.idle', actions: 'countAbandoned' },
                  },
                },
                completing: {
                  on: {
                    'task.completed': { guard: 'isCurrentClaim', target: '#agent.running.worker.idle', actions: 'countCompleted' },
                    'claim.lost': { guard: 'isCurrentClaim', target: '#agent.running.worker.resting', actions: 'countLost' },
                  },
                },
                failing: {
                  on: {
                    'task.failed': { guard: 'isCurrentClaim', target: '#agent.running.worker.resting', actions: 'countFailed' },
                    'claim.lost': { guard: 'isCurrentClaim', target: '#agent.running.worker.resting', actions: 'countLost' },
                  },
                },
              },
            },
            resting: { after: { backoff: 'idle' } },
          },
        },
      },
    },
    stopped: { type: 'final' },
  },
});

/**
 * The machine's type, spelled out as machines/raft-node.ts's is: its 14 type arguments are the ones
 * every xstate from 5.20 on accepts (inferred, the declaration file would name StateMachine with the
 * arity of the xstate this package was built with, and an older 5.x would refuse it). The actors
 * are kept, so that `provide({ actors: { work: fromPromise(…) } })` types the work's input.
 */
export type AgentMachine = StateMachine<
  AgentContext,
  AgentEvent,
  {},
  | { src: 'claimTask'; logic: typeof claimTaskActor; id: string | undefined }
  | { src: 'coordinatorLease'; logic: typeof leaseActor; id: string | undefined }
  | { src: 'work'; logic: PromiseActorLogic<JsonValue, AgentWorkInput>; id: string | undefined },
  ParameterizedObject,
  ParameterizedObject,
  'backoff',
  AgentStateValue,
  string,
  AgentInput,
  NonReducibleUnknown,
  EventObject,
  MetaObject,
  { id: 'agent'; states: { readonly running: {}; readonly stopped: {} } }
>;

export const agentMachine: AgentMachine = machine;

/** Where an agent is: stopped, or its lease region and its worker region. */
export type AgentStateValue =
  | 'stopped'
  | {
      running: {
        lease: 'unused' | { active: 'seeking' | 'held' };
        worker: 'idle' | 'resting' | { busy: 'claiming' | 'working' | 'completing' | 'failing' };
      };
    };
export type AgentActor = ActorRefFrom<AgentMachine>;
export type AgentSnapshot = SnapshotFrom<AgentMachine>;
