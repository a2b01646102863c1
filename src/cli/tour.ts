/**
 * `xstate-raft tour`: a real cluster of RaftNodes in this process, on the
 * in-memory network and the system clock, narrated line by line: an election, agents claiming
 * tasks through the replicated log, the leader crashing, a new election, and the crashed node
 * coming back and catching up from its storage.
 */
import type { NodeId } from '../core/types.js';
import { systemClock } from '../runtime/clock.js';
import { createRaftNode, type RaftNode } from '../runtime/raft-node.js';
import type { StateMachine } from '../state-machine.js';
import { MemoryStorage } from '../storage/memory.js';
import { MemoryNetwork } from '../transport/memory.js';
import { SeededRandom } from '../core/random.js';

type Claim = { agent: string; task: string };

/** A task board: the first agent to claim a task gets it; later claims are told who holds it. */
class TaskBoard implements StateMachine<Claim, { granted: boolean; owner: string }, string, string | undefined> {
  private readonly owners = new Map<string, string>();
  apply(command: Claim): { granted: boolean; owner: string } {
    const owner = this.owners.get(command.task);
    if (owner !== undefined) return { granted: owner === command.agent, owner };
    this.owners.set(command.task, command.agent);
    return { granted: true, owner: command.agent };
  }
  query(task: string): string | undefined {
    return this.owners.get(task);
  }
}

export async function runTour({ nodes: size, seed }: { nodes: number; seed: number }, out: (line: string) => void = console.log): Promise<number> {
  const ids: NodeId[] = Array.from({ length: size }, (_, i) => `n${i + 1}`);
  const network = new MemoryNetwork(systemClock, new SeededRandom(seed));
  const storages = new Map(ids.map((id) => [id, new MemoryStorage<Claim>()]));
  const nodes = new Map<NodeId, RaftNode<Claim, { granted: boolean; owner: string }, string, string | undefined>>();
  const started = systemClock.now();
  const say = (line: string) => out(`[+${((systemClock.now() - started) / 1000).toFixed(3)}s] ${line}`);

  const boot = (id: NodeId, index: number) => {
    const node = createRaftNode({
      id,
      peers: ids,
      transport: network.transport(id),
      storage: storages.get(id) as MemoryStorage<Claim>,
      stateMachine: new TaskBoard(),
      random: seed * 100 + index,
      onError: (error, context) => say(`${id} reported an error (${context}): ${(error as Error).message}`),
    });
    node.on('role', ({ role, term }) => {
      if (role === 'candidate') say(`${id} timed out waiting for a leader and stands for election in term ${term}`);
      if (role === 'leader') say(`${id} won a majority of votes and leads term ${term}`);
    });
    nodes.set(id, node);
    return node;
  };

  out(`Starting ${size} Raft nodes (${ids.join(', ')}) in this process; each is an XState actor.`);
  ids.forEach(boot);
  try {
    const first = await waitForLeader(nodes, 5000);
    say(`${first} is the leader; every node agrees: ${ids.map((id) => `${id}→${nodes.get(id)?.status().leaderId ?? '?'}`).join(', ')}`);

    const claims: Claim[] = [
      { agent: 'agent-ada', task: 'write-report' },
      { agent: 'agent-bob', task: 'write-report' },
      { agent: 'agent-bob', task: 'review-code' },
    ];
    for (const claim of claims) await claimThrough(nodes, ids, claim, say);

    say(`${first} crashes (its volatile state is gone; its storage is kept)`);
    nodes.get(first)?.stop();
    nodes.delete(first);
    const second = await waitForLeader(nodes, 5000);
    say(`${second} took over; the committed claims survived: write-report → ${await nodes.get(second)?.read('write-report')}`);

    await claimThrough(nodes, ids, { agent: 'agent-cy', task: 'deploy' }, say);

    say(`${first} restarts from its storage and catches up`);
    const back = boot(first, ids.indexOf(first));
    const target = nodes.get(second)?.status().commitIndex ?? 0;
    await waitFor(() => back.status().lastApplied >= target, 5000, `${first} did not catch up`);
    say(`${first} applied ${back.status().lastApplied} entries and follows ${back.status().leaderId}`);

    out('');
    out('Final state of every node:');
    for (const id of ids) {
      const s = nodes.get(id)?.status();
      if (s) out(`  ${id}: ${s.role.padEnd(9)} term ${s.term}  commitIndex ${s.commitIndex}  lastApplied ${s.lastApplied}  log length ${s.lastLogIndex}`);
    }
    const logs = ids.map((id) => JSON.stringify(nodes.get(id)?.log().slice(0, target)));
    const agree = logs.every((log) => log === logs[0]);
    out(agree ? `All ${size} logs agree on the first ${target} entries.` : 'The logs DISAGREE — this is a bug; please report it.');
    return agree ? 0 : 1;
  } catch (error) {
    out(`demo failed: ${(error as Error).message}`);
    return 1;
  } finally {
    for (const node of nodes.values()) node.stop();
  }
}

async function claimThrough(
  nodes: Map<NodeId, RaftNode<Claim, { granted: boolean; owner: string }, string, string | undefined>>,
  ids: NodeId[],
  claim: Claim,
  say: (line: string) => void,
): Promise<void> {
  // Ask any running node: a follower forwards the proposal to the leader.
  const via = ids.find((id) => nodes.has(id) && nodes.get(id)?.status().role !== 'leader') ?? ids.find((id) => nodes.has(id));
  const { index, term, result } = await (nodes.get(via as NodeId) as RaftNode<Claim, { granted: boolean; owner: string }>).propose(claim);
  say(`${claim.agent} claims "${claim.task}" via ${via}: committed at index ${index} (term ${term}) → ` + (result.granted ? 'granted' : `refused, ${result.owner} holds it`));
}

async function waitForLeader(nodes: Map<NodeId, Pick<RaftNode, 'id' | 'status'>>, timeoutMs: number): Promise<NodeId> {
  let leader: NodeId | undefined;
  await waitFor(
    () => {
      leader = [...nodes.values()].find((n) => n.status().role === 'leader')?.id;
      return leader !== undefined && [...nodes.values()].every((n) => n.status().leaderId === leader);
    },
    timeoutMs,
    'no leader was elected',
  );
  return leader as NodeId;
}

function waitFor(predicate: () => boolean, timeoutMs: number, message: string): Promise<void> {
  const deadline = systemClock.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const poll = () => {
      if (predicate()) return resolve();
      if (systemClock.now() > deadline) return reject(new Error(message));
      setTimeout(poll, 10);
    };
    poll();
  });
}
