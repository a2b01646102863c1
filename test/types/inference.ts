/**
 * Type tests, checked by `npm run typecheck` (tsc over test/): the types follow the user's state
 * machine. Each `@ts-expect-error` line must stay an error — if a change lets it compile, tsc
 * reports the directive as unused and the typecheck fails. Nothing here runs.
 */
import { type ConsensusProtocol, createRaftNode, type MemoryNetwork, MemoryStorage, type RaftNode, type StateMachine } from '../../src/index.js';

interface Counter extends StateMachine<{ add: number }, number, 'total', number> {}
declare const counter: Counter;
declare const network: MemoryNetwork;

const node = createRaftNode({ id: 'n1', peers: ['n2', 'n3'], storage: new MemoryStorage(), transport: network.transport('n1'), stateMachine: counter });

// The command, result, query and query-result types come from the state machine, not from the storage.
export const typed: RaftNode<{ add: number }, number, 'total', number> = node;
void node.propose({ add: 1 }).then((r) => r.result.toFixed());
void node.read('total').then((total) => total.toFixed());
// @ts-expect-error a number is not this machine's command
void node.propose(42);
// @ts-expect-error nor is a command of another shape
node.submit({ add: 'one' });
// @ts-expect-error an unknown query
void node.read('average');
// @ts-expect-error the query's result is a number
void node.read('total').then((total: string) => total);

// The seed's class names three states.
declare const protocol: ConsensusProtocol;
export const state: 'follower' | 'candidate' | 'leader' = protocol.state;
// @ts-expect-error a pre-candidate reads as a follower in `state` (see `role`)
export const noPre: typeof protocol.state = 'preCandidate';
