/**
 * ConsensusProtocol: the seed's Python class, in TypeScript, working for real over one node actor.
 *
 * The actor (machines/raft-node.ts) is the truth. Every field is read from its current snapshot;
 * every method turns into one event sent to it, and the answer is read from the effects it emits
 * while it handles that event (the actor emits synchronously inside `actor.send`). Nothing here
 * decides a Raft rule: the class validates input at the edge (the zod schemas of
 * src/core/validate.ts), sends, and reports.
 *
 * Two ways to move messages between nodes:
 * - No network (the default): each method returns the messages the node sends (`Envelope`s:
 *   `{ to, message }`); deliver each to its recipient with `receive(envelope)`, which returns that
 *   node's answers, and hand those back to the sender with `receive` in turn.
 * - `options.network = new LocalNetwork()` shared by several instances: the same messages are
 *   delivered in-process, synchronously and deterministically, before the method returns. So
 *   `startElection()` comes back with the votes counted (and the node leader if it won), and
 *   `replicateLog()` comes back with the entry replicated and committed if a majority holds it.
 *
 * Timers: by default the actor's clock is a VirtualClock that never fires unless you advance it
 * (`protocol.clock`), so nothing happens between calls and every run is the same. Messages that a
 * timer makes the node send (an election timeout, a heartbeat) go to the network's queue — call
 * `network.flush()` — or, without a network, wait in `drainOutbox()`.
 *
 * The seed's snake_case names are kept as aliases of the same members (`cp.request_vote ===
 * cp.requestVote`); see SEED_ALIASES.
 *
 * Where things are (src/protocol/):
 *   consensus-protocol.ts  the class
 *   validation.ts          checks at the edge and their error messages
 *   consensus.ts           isConsensusReached: counting responses against a majority
 *   aliases.ts             SEED_ALIASES and the snake_case wiring
 *   actor-host.ts          the actor: one event at a time, its effects, its messages, its failure
 *   types.ts               options and replies
 */
export { LocalNetwork, type Envelope } from './local-network.js';
export { ConsensusProtocol } from './protocol/consensus-protocol.js';
export { SEED_ALIASES } from './protocol/aliases.js';
export type { ConsensusResponse, ConsensusResponses } from './protocol/consensus.js';
export type { ActorClock, AppendReply, ConsensusProtocolOptions, ReplicateResult, VoteReply } from './protocol/types.js';
