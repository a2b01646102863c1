/**
 * One node under test: a real actor of `raftNodeMachine` on a virtual clock that never advances
 * (so no timer fires; timeouts are delivered as events), with its emitted effects collected per
 * step and every step checked by a NodeInvariantChecker.
 */
import { createActor, type Actor, type AnyTransitionDefinition, type InspectionEvent, type Snapshot } from 'xstate';
import { raftNodeMachine, type RaftEffect, type RaftEvent, type RaftNodeInput, type RaftNodeMachine } from '../../machines/raft-node.js';
import { NodeInvariantChecker, type NodeView, type Violation } from '../../src/sim/node-invariants.js';
import { VirtualClock } from '../../src/sim/clock.js';
import { roleOf, type RaftSnapshot } from './raft-model.js';

export interface Step {
  readonly prev: RaftSnapshot;
  readonly next: RaftSnapshot;
  readonly effects: readonly RaftEffect<unknown>[];
  readonly violations: Violation[];
}

export type MicrostepObserver = (transitions: readonly AnyTransitionDefinition[], snapshot: Snapshot<unknown>) => void;

export function viewOf(snapshot: RaftSnapshot): NodeView {
  return { ...snapshot.context, role: roleOf(snapshot) };
}

export class ReplayedNode {
  private readonly actor: Actor<RaftNodeMachine>;
  private readonly checker = new NodeInvariantChecker();
  private effects: RaftEffect<unknown>[] = [];
  private error: unknown = undefined;
  /** The step of starting the node (its initial entry actions). */
  readonly started: Step;

  constructor(input: RaftNodeInput<unknown>, options: { machine?: RaftNodeMachine; onMicrostep?: MicrostepObserver } = {}) {
    const { machine = raftNodeMachine, onMicrostep } = options;
    const inspect = onMicrostep
      ? (e: InspectionEvent) => {
          if (e.type === '@xstate.microstep') onMicrostep(e._transitions, e.snapshot);
        }
      : undefined;
    this.actor = createActor(machine, { input, clock: new VirtualClock(), ...(inspect ? { inspect } : {}) });
    this.actor.on('*', (effect) => this.effects.push(effect));
    // Without an error observer XState rethrows an actor's error on a real timer; keep it here instead.
    this.actor.subscribe({ error: (err) => (this.error = err) });
    this.actor.start();
    const initial = this.snapshot;
    // Entering the initial state is not a microstep; count it as reached.
    onMicrostep?.([], initial);
    this.started = this.step(initial, initial);
  }

  get snapshot(): RaftSnapshot {
    return this.actor.getSnapshot();
  }

  send(event: RaftEvent<unknown>): Step {
    const prev = this.snapshot;
    this.actor.send(event);
    return this.step(prev, this.snapshot);
  }

  stop(): void {
    this.actor.stop();
  }

  private step(prev: RaftSnapshot, next: RaftSnapshot): Step {
    const effects = this.effects;
    this.effects = [];
    if (this.error !== undefined || next.status !== 'active') {
      throw new Error(`the actor is ${next.status}: ${String(this.error)}`);
    }
    return { prev, next, effects, violations: this.checker.check(viewOf(prev), viewOf(next), effects) };
  }
}
