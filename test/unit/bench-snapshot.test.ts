/**
 * The snapshot benchmark (test/bench/snapshot.ts, `npm run bench:snapshot`) keeps running: its
 * --quick mode — a few thousand writes, a 2 MB state machine, a child process for the joining
 * follower — ends with exit code 0 and prints the restart and InstallSnapshot lines the note on
 * issue 10 quotes. Only the lines' shape is checked, never the figures: they are wall-clock times.
 */
import { describe, expect, it } from 'vitest';
import { runBenchScript } from './bench-script.js';

// Past the test's timeout the script must not linger (its processes exit with it).
const runQuick = () => runBenchScript('snapshot.ts', ['--quick'], 110_000);

const NUMBER = String.raw`\d+(?:\.\d+)?`;

describe('the snapshot benchmark', () => {
  it('--quick prints the restart line and the InstallSnapshot line, and exits 0', { timeout: 120_000 }, async () => {
    const { code, stdout, stderr } = await runQuick();
    expect(code, `stderr:\n${stderr}\nstdout:\n${stdout}`).toBe(0);
    expect(stdout).toMatch(
      new RegExp(
        String.raw`^restart after 2000 writes: with snapshots ${NUMBER} s \(raft\.db ${NUMBER} MB\) · without ${NUMBER} s \(raft\.db ${NUMBER} MB\) · ratio ${NUMBER}×$`,
        'm',
      ),
    );
    expect(stdout).toMatch(
      new RegExp(
        String.raw`^InstallSnapshot of a ${NUMBER} MB state machine \(20 keys × 100 KB\) over HttpTransport on 127\.0\.0\.1 \(heartbeat 50 ms, election timeout 150–300 ms\): ${NUMBER} s from follower start to snapshotIndex \d+ · longest event-loop stall on the leader during the transfer \d+ ms$`,
        'm',
      ),
    );
    // Both configurations restarted, and the one with snapshots restarted from one.
    expect(stdout).toMatch(/^ {2}with snapshots \(threshold 500\): restart .*snapshot at [1-9]\d*, /m);
    expect(stdout).toMatch(/^ {2}without snapshots: restart .*snapshot at 0, /m);
  });
});
