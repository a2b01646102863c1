/**
 * xstate-raft: Raft consensus where every node is an XState v5 actor.
 * The public surface; see README.md for how to use each piece.
 */

// The statechart, for embedding, inspection and graph tests.
export {
  raftNodeMachine,
  initialContext,
  type RaftNodeInput,
  type RaftContext,
  type RaftEvent,
  type RaftEffect,
  type RaftNodeMachine,
  type RaftNodeActor,
  type RaftNodeSnapshot,
} from '../machines/raft-node.js';

// Raft's vocabulary and pure rules.
export * from './core/types.js';
export { RaftLog, isLogUpToDate, mergeEntries, conflictHint, nextIndexAfterConflict } from './core/log.js';
export { canGrantVote } from './core/vote.js';
export { leaderCommitIndex, followerCommitIndex, isCommittable } from './core/commit.js';
export { isMajority, majoritySize, quorumIndex } from './core/quorum.js';
export { SeededRandom } from './core/random.js';
export { parseRpcMessage } from './core/validate.js';
export {
  PROMOTE_MAX_LAG,
  isConfigCommand,
  changedConfiguration,
  type Configuration,
  type ConfigCommand,
  type ConfigChange,
} from './core/configuration.js';

// Errors a caller can act on.
export * from './errors.js';

// The seed's class over one node actor, and its in-process network.
export * from './protocol.js';

// A running node.
export { createRaftNode, type RaftNode, type RaftNodeOptions, type NodeStatus, type ProposeResult, type AppliedEvent, type Membership } from './runtime/raft-node.js';
export { systemClock, type Clock } from './runtime/clock.js';
export { waitForLeader, type WaitForLeaderOptions, type LeaderWatchable } from './runtime/wait-for-leader.js';
export type { StateMachine } from './state-machine.js';
export type { Storage, PersistBatch, PersistedState } from './storage/storage.js';
export { MemoryStorage } from './storage/memory.js';
export type { Transport, TransportHandlers, ClientRequest, ClientResponse } from './transport/transport.js';
export { MemoryNetwork, MemoryTransport, type NetworkConditions } from './transport/memory.js';
export { HttpTransport, HttpStatusError, signRequest, type HttpTransportOptions } from './transport/http.js';
export { SqliteStorage, StorageError, SQLITE_FORMAT_VERSION, type SqliteStorageOptions, type SqliteStorageStats } from './storage/sqlite.js';
export { BackgroundSqliteStorage } from './storage/sqlite-background.js';
export { KvClient, type KvClientOptions, type KvCluster } from './kv/client.js';
export { startNodeServer, defaultClusterId, type NodeServer, type NodeServerOptions } from './server/node-server.js';
export {
  connect,
  normalizePeers,
  UnauthorizedError,
  type ClusterClient,
  type ConnectOptions,
  type NodeReport,
  type KvApi,
  type WriteOptions,
} from './client/connect.js';

// Coordination for agent teams: leases with fencing tokens, task queues, a watch of every change.
export {
  CoordStateMachine,
  DEFAULT_JOURNAL_LIMIT,
  type CoordStateMachineOptions,
  type CoordCommand,
  type CoordResult,
  type CoordQuery,
  type CoordQueryResult,
  type FencedKvCommand,
  type LeaseCommand,
  type TaskCommand,
} from './coord/state-machine.js';
export { coordClient, kvClientCommands, localCoordClient, orThrow, type CoordTransport, type FencedKvApi, type LocalCoordClientOptions } from './coord/client.js';
export { subscribeJournal, watchJournal, type Journal } from './coord/watch.js';
export * from './coord/types.js';
// …and what an agent uses on top: background renewals with an abort signal, and XState actor logic.
export {
  withLease,
  processTasks,
  ClaimLostError,
  LeaseLostError,
  type WithLeaseOptions,
  type HeldLease,
  type ProcessTasksOptions,
  type TaskHandler,
  type Timers,
} from './coord/helpers.js';
export {
  leaseActor,
  claimTaskActor,
  watchActor,
  type LeaseActorInput,
  type LeaseActorEvent,
  type ClaimTaskActorInput,
  type ClaimTaskActorEvent,
  type ClaimTaskCommand,
  type WatchActorInput,
  type WatchActorEvent,
} from './coord/actors.js';
export { agentMachine, type AgentInput, type AgentContext, type AgentEvent, type AgentWorkInput } from '../machines/agent.js';

// Inspection: the Stately inspector, and an in-memory capture of the same (sanitized) events.
export {
  createInspector,
  createCapturingInspector,
  startInspectorServer,
  sanitizeInspectionEvent,
  sanitizeContext,
  sanitizeEvent,
  sanitizeSnapshot,
  type InspectObserver,
  type InspectorOptions,
  type RaftInspector,
  type CapturingInspector,
  type CapturedInspectionEvent,
  type CaptureOptions,
  type InspectorServer,
  type InspectorServerOptions,
  type InspectedSnapshot,
} from './inspect/inspect.js';

// Deterministic simulation.
export { Simulation, type SimulationOptions } from './sim/simulation.js';
export { SafetyChecker, SafetyViolation } from './sim/safety.js';
export { VirtualClock } from './sim/clock.js';
export type { JsonValue } from './core/json.js';
export {
  checkLinearizable,
  describeEntry,
  type HistoryEntry,
  type KvOp,
  type KvOutput,
  type LinearizabilityResult,
  type CheckOptions,
  type Counterexample,
} from './sim/linearizability.js';
export * from './kv/state-machine.js';
export { randomRun, ALL_FAULTS, type Fault, type RandomRunOptions, type RandomRunResult } from './sim/random-run.js';
