/**
 * npm run bench:in-process (and npm run bench) — in-process cluster throughput and simulator speed, measured in one run.
 * - commits/s of a 3-node cluster (real clock, in-memory network with no added delay, memory
 *   storage) with one client proposing sequentially and with many concurrent clients;
 * - virtual seconds per wall second of the simulator, 5 nodes with all faults.
 * Prints medians of several runs and the ratios between them.
 */
import { createRaftNode, type RaftNode } from '../../src/runtime/raft-node.js';
import { systemClock } from '../../src/runtime/clock.js';
import { MemoryStorage } from '../../src/storage/memory.js';
import { MemoryNetwork } from '../../src/transport/memory.js';
import { SeededRandom } from '../../src/core/random.js';
import { ALL_FAULTS, randomRun } from '../../src/sim/random-run.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 2);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

async function startCluster(): Promise<{ nodes: RaftNode[]; leader: RaftNode; stop: () => void }> {
  const ids = ['n1', 'n2', 'n3'];
  const network = new MemoryNetwork(systemClock, new SeededRandom(1));
  network.setConditions({ delay: [0, 0] });
  const nodes = ids.map((id, i) =>
    createRaftNode({ id, peers: ids, transport: network.transport(id), storage: new MemoryStorage(), stateMachine: { apply: (c) => c, query: () => undefined }, random: i + 1 }),
  );
  for (;;) {
    const leader = nodes.find((n) => n.status().role === 'leader');
    if (leader && nodes.every((n) => n.status().leaderId === leader.id)) return { nodes, leader, stop: () => nodes.forEach((n) => n.stop()) };
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function commitsPerSecond(clients: number): Promise<{ rate: number; p50: number; p99: number }> {
  const { leader, stop } = await startCluster();
  const deadline = performance.now() + SECONDS * 1000;
  const latencies: number[] = [];
  let committed = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      for (let i = 0; performance.now() < deadline; i++) {
        const s = performance.now();
        await leader.propose({ c, i });
        latencies.push(performance.now() - s);
        committed++;
      }
    }),
  );
  const elapsed = (performance.now() - t0) / 1000;
  stop();
  latencies.sort((a, b) => a - b);
  return { rate: committed / elapsed, p50: latencies[Math.floor(latencies.length * 0.5)] ?? 0, p99: latencies[Math.floor(latencies.length * 0.99)] ?? 0 };
}

async function main() {
  console.log(`node ${process.version}; ${RUNS} runs of ${SECONDS}s each; medians`);
  const results: Record<string, number> = {};
  for (const clients of [1, 16, 256]) {
    const runs = [];
    for (let r = 0; r < RUNS; r++) runs.push(await commitsPerSecond(clients));
    const rate = median(runs.map((x) => x.rate));
    results[clients] = rate;
    console.log(
      `3 nodes, ${String(clients).padStart(3)} client(s): ${Math.round(rate).toLocaleString('en-US').padStart(8)} commits/s` +
        `  latency p50 ${median(runs.map((x) => x.p50)).toFixed(2)} ms, p99 ${median(runs.map((x) => x.p99)).toFixed(2)} ms`,
    );
  }
  console.log(
    `ratio: 16 clients ${((results[16] as number) / (results[1] as number)).toFixed(1)}×, 256 clients ${((results[256] as number) / (results[1] as number)).toFixed(1)}× one client (batching per event-loop turn)`,
  );

  const speeds: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    const t0 = performance.now();
    let virtual = 0;
    for (let seed = 1; seed <= 10; seed++) virtual += (await randomRun({ seed: seed + r * 10, nodes: 5, duration: 10_000, faults: ALL_FAULTS })).virtualMs;
    speeds.push(virtual / (performance.now() - t0));
  }
  console.log(`simulator, 5 nodes, all faults: ${median(speeds).toFixed(0)} virtual s per wall s`);
}

void main();
