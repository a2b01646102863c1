/**
 * The node actor behind one ConsensusProtocol, and the plumbing around it: start it, send it one
 * event at a time and capture the effects it emits while handling that event, hand the messages
 * a call produced to the network (or, for messages a timer produced, queue them for the network
 * or for drainOutbox), and turn a failed transition into a stopped node. No Raft rule and no
 * input checking here: ConsensusProtocol validates before it dispatches.
 */
import { createActor } from 'xstate';
import { raftNodeMachine, type RaftEffect, type RaftEvent, type RaftNodeActor, type RaftNodeInput } from '../../machines/raft-node.js';
import type { NodeId, RpcMessage } from '../core/types.js';
import { StoppedError } from '../errors.js';
import type { Envelope, LocalNetwork } from '../local-network.js';
import type { ActorClock } from './types.js';

export class ActorHost {
  readonly actor: RaftNodeActor;
  readonly clock: ActorClock;
  readonly network: LocalNetwork | undefined;
  /** Effects of the event being sent right now, or undefined between calls. */
  #capture: RaftEffect[] | undefined;
  /** Messages a timer made the node send while it had no network to hand them to. */
  #outbox: Envelope[] = [];
  #failure: { error: unknown } | undefined;
  #stopped = false;

  /**
   * Create the actor from `input`, attach it to `network` (if any) with `accept` as the handler of
   * what arrives, and start it.
   */
  constructor(input: RaftNodeInput, clock: ActorClock, network: LocalNetwork | undefined, accept: (message: RpcMessage) => Envelope[]) {
    this.clock = clock;
    this.network = network;
    this.actor = createActor(raftNodeMachine, { clock, input });
    // The listener must never throw into XState (it would rethrow on a timer and kill the process).
    this.actor.on('*', (effect) => {
      if (this.#capture !== undefined) this.#capture.push(effect);
      else if (effect.type === 'send') this.#sendLater({ to: effect.to, message: effect.message });
    });
    // With an error observer, a failing transition is reported to us rather than thrown on a timer.
    this.actor.subscribe({ error: (error) => void (this.#failure = { error }) });
    this.network?.attach(input.id, { deliver: accept });
    this.actor.start();
  }

  get stopped(): boolean {
    return this.#stopped;
  }

  get #nodeId(): NodeId {
    return this.actor.getSnapshot().context.id;
  }

  /** Send one event to the actor and return every effect it emitted while handling it. */
  dispatchEffects(event: RaftEvent): RaftEffect[] {
    this.assertRunning();
    const captured: RaftEffect[] = [];
    this.#capture = captured;
    try {
      this.actor.send(event);
    } finally {
      this.#capture = undefined;
    }
    if (this.#failure !== undefined) {
      // A transition threw: the actor is dead. Leave the network and surface the error itself.
      this.#stopped = true;
      this.network?.detach(this.#nodeId);
      throw this.#failure.error;
    }
    return captured;
  }

  /** Hand messages this call produced to the network and deliver everything they cause. */
  route(sends: readonly Envelope[]): void {
    if (this.network === undefined || sends.length === 0) return;
    this.network.post(this.#nodeId, sends);
    this.network.flush();
  }

  /** Messages a timer made the node send while it has no network; cleared on read. */
  drainOutbox(): Envelope[] {
    const out = this.#outbox;
    this.#outbox = [];
    return out;
  }

  /** Stop the actor and leave the network (once). */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.network?.detach(this.#nodeId);
    this.actor.stop();
  }

  /** @throws StoppedError once the node was stopped, or its actor failed. */
  assertRunning(): void {
    if (!this.#stopped) return;
    throw this.#failure !== undefined
      ? new StoppedError(`node ${this.#nodeId} stopped after its actor failed: ${String(this.#failure.error)}`)
      : new StoppedError(`node ${this.#nodeId} was stopped`);
  }

  /** A message a timer made the node send, outside any call: queue it; never throw into XState. */
  #sendLater(envelope: Envelope): void {
    try {
      if (this.network !== undefined) this.network.post(this.#nodeId, [envelope]);
      else this.#outbox.push(envelope);
    } catch {
      // post() only queues; nothing to recover. Raft tolerates a lost message.
    }
  }
}

/** The messages among a handful of effects, as envelopes. */
export function sendsOf(effects: readonly RaftEffect[]): Envelope[] {
  const sends: Envelope[] = [];
  for (const effect of effects) if (effect.type === 'send') sends.push({ to: effect.to, message: effect.message });
  return sends;
}

/** A type guard for the envelopes carrying one type of RPC. */
export function isEnvelopeOf<T extends RpcMessage['type']>(type: T) {
  return (envelope: Envelope): envelope is Envelope<Extract<RpcMessage, { type: T }>> => envelope.message.type === type;
}
