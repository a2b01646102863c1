/**
 * npx tsx test/bench/snapshot-stall.ts [MB] [dir] — the longest event-loop stall while a node on
 * SqliteStorage takes a snapshot of a KV state machine of about [MB] megabytes (default 50).
 *
 * One voter (it elects itself) on the real event loop, its state machine filled through restore()
 * before the node starts, one write applied and a first snapshot taken (so the measured one also
 * replaces a 50 MB snapshot), one more write, then the measured `node.snapshot()`. Two probes run
 * meanwhile: perf_hooks.monitorEventLoopDelay (1 ms resolution) and a 1 ms setInterval whose gaps
 * between two ticks are the stalls a timer (an election timeout, a heartbeat) would have seen.
 * Printed: the synchronous part of node.snapshot() (the state machine's snapshot() and its
 * encoding — the floor the issue allows — and whatever else the node does in that turn), the
 * longest stall, the longest stall after that turn, and the whole snapshot's duration until it is
 * on disk. [dir] (default: os.tmpdir()) is where raft.db goes: measure on the disk the nodes use.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { KvStateMachine } from '../../src/kv/state-machine.js';
import { createRaftNode, type SnapshotEvent } from '../../src/runtime/raft-node.js';
import { encodeSnapshot } from '../../src/runtime/snapshot.js';
import { systemClock } from '../../src/runtime/clock.js';
import { SqliteStorage } from '../../src/storage/sqlite.js';
import { MemoryNetwork } from '../../src/transport/memory.js';

const megabytes = Number(process.argv[2] ?? 50);
const base = process.argv[3] ?? tmpdir();
const VALUE = 'v'.repeat(480);

/** About `mb` MB of KV state: keys of 12 characters, values of ~490 characters of JSON. */
function filledKv(mb: number): KvStateMachine {
  const kv = new KvStateMachine();
  const count = Math.round((mb * 1e6) / 512);
  const data: [string, { n: number; text: string }][] = [];
  for (let i = 0; i < count; i++) data.push([`key-${String(i).padStart(8, '0')}`, { n: i, text: VALUE }]);
  kv.restore({ version: 1, data, sessions: [] });
  return kv;
}

function ms(n: number): string {
  return `${n.toFixed(1)} ms`;
}

async function main(): Promise<void> {
  const kv = filledKv(megabytes);
  // For reference: snapshot() and encoding run alone, on the same state (median of 3).
  const alone: number[] = [];
  let chars = 0;
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    chars = encodeSnapshot(kv.snapshot()).length;
    alone.push(performance.now() - t0);
  }
  alone.sort((a, b) => a - b);

  const dir = mkdtempSync(join(base, 'xstate-raft-stall-'));
  const storage = SqliteStorage.open(dir, { nodeId: 'n1', clusterId: 'bench' });
  const network = new MemoryNetwork(systemClock);
  const node = createRaftNode({
    id: 'n1',
    peers: ['n1'],
    transport: network.transport('n1'),
    storage,
    stateMachine: kv,
    electionTimeout: [50, 100],
    heartbeatInterval: 15,
    snapshotThreshold: 1e9,
  });
  try {
    while (node.status().role !== 'leader') await new Promise((r) => setTimeout(r, 10));
    await node.propose({ type: 'put', key: 'bench', value: 1 });
    await node.snapshot();
    await node.propose({ type: 'put', key: 'bench', value: 2 });

    let stored: SnapshotEvent | undefined;
    node.on('snapshot', (event) => void (stored = event));
    const histogram = monitorEventLoopDelay({ resolution: 1 });
    let last = performance.now();
    let gaps: number[] = [];
    const probe = setInterval(() => {
      const now = performance.now();
      gaps.push(now - last);
      last = now;
    }, 1);
    // Settle the probes first, so their start is not counted.
    await new Promise((r) => setTimeout(r, 50));
    gaps = [];
    histogram.enable();
    const t0 = performance.now();
    const taking = node.snapshot();
    const synchronous = performance.now() - t0;
    const at = await taking;
    const total = performance.now() - t0;
    await new Promise((r) => setTimeout(r, 20));
    histogram.disable();
    clearInterval(probe);

    const mb = (Buffer.byteLength(encodeSnapshot(kv.snapshot()), 'utf8') / 1e6).toFixed(1);
    console.log(`snapshot at ${at.index}: ${mb} MB (${chars} characters), on ${dir}`);
    console.log(`  node.snapshot()'s synchronous part (the turn):    ${ms(synchronous)} (snapshot() + encoding alone: ${ms(alone[1] as number)}, median of 3)`);
    console.log(`  node.snapshot() until on disk:                    ${ms(total)} (the node's snapshot event says ${ms(stored?.ms ?? NaN)})`);
    // The first gap holding the synchronous part is the snapshot turn; the ones after it, the write.
    const turn = gaps.findIndex((g) => g >= synchronous);
    const after = gaps.slice(turn + 1);
    const stalls = gaps.filter((g) => g >= 10);
    console.log(`  longest stall, setInterval(1 ms) gap:             ${ms(Math.max(...gaps))}`);
    console.log(`  longest stall after the snapshot turn:            ${ms(Math.max(0, ...after))} (${after.length} ticks)`);
    console.log(`  stalls of 10 ms or more, in order:                ${stalls.map((g) => g.toFixed(0)).join(', ') || 'none'} (ms)`);
    console.log(`  longest stall, monitorEventLoopDelay max:         ${ms(histogram.max / 1e6)} (p99 ${ms(histogram.percentile(99) / 1e6)})`);
  } finally {
    node.stop();
    storage.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
