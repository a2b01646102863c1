/**
 * `npm run test:jepsen -- --duration 300 [--seed N] [--clients P] [--hold ms] [--calm ms]`: a long
 * Jepsen-style run over real network namespaces (root only; see netns.ts). Prints the nemesis as
 * it goes and one summary line; exits 1 when the history is not linearizable, an acknowledged
 * write is missing or the faults did not bite; 0 with a message when namespaces are not
 * permitted here. Ctrl-C stops the nemesis, and every process and namespace is removed on the way
 * out (a second Ctrl-C removes them at once and exits).
 */
import { parseArgs } from 'node:util';
import type { JepsenEnvironment } from './environment.js';
import { bitten, runJepsen, summaryLine } from './jepsen.js';
import { netnsUnavailable } from './netns.js';

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '60' },
    seed: { type: 'string' },
    clients: { type: 'string', default: '3' },
    hold: { type: 'string', default: '3500' },
    calm: { type: 'string', default: '1500' },
  },
});

function positive(name: string, text: string | undefined): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0) {
    console.error(`--${name} takes a whole number ≥ 0, got ${text}`);
    process.exit(2);
  }
  return n;
}

const durationS = positive('duration', values.duration);
const seed = values.seed !== undefined ? positive('seed', values.seed) : Math.floor(Math.random() * 2 ** 31);

const unavailable = await netnsUnavailable();
if (unavailable !== undefined) {
  console.log(`jepsen: skipped — ${unavailable}`);
  process.exit(0);
}

let env: JepsenEnvironment | undefined;
let interrupted = 0;
process.on('SIGINT', () => {
  interrupted++;
  if (interrupted === 1) {
    console.error('jepsen: interrupted: healing and tearing down (Ctrl-C again to stop at once)');
    return;
  }
  env?.closeSync();
  process.exit(130);
});
process.on('exit', () => env?.closeSync());

console.log(`jepsen: seed ${seed}, ${durationS} s of nemesis (replay the schedule: --seed ${seed})`);
try {
  const report = await runJepsen({
    durationS,
    seed,
    clientProcesses: positive('clients', values.clients),
    holdMs: positive('hold', values.hold),
    calmMs: positive('calm', values.calm),
    log: (line) => console.log(line),
    shouldStop: () => interrupted > 0,
    onEnvironment: (made) => {
      env = made;
    },
  });
  console.log(summaryLine(report));
  const bites = report.bites.map(
    (b) => `${b.fault} ${b.oldLeader}@${b.oldTerm}→${b.newLeader ? `${b.newLeader.id}@${b.newLeader.term}` : 'none'} (write at ${b.oldLeader}: ${b.minorityWrite})`,
  );
  console.log(`jepsen: errors seen by the clients: ${JSON.stringify(report.errors)}; bites: ${bites.join(', ')}`);
  const problems: string[] = [];
  if (!report.verdict.ok) {
    problems.push(report.verdict.timedOut ? 'the checker ran out of budget' : 'the history is not linearizable');
    const cx = report.verdict.counterexample;
    if (cx !== undefined) console.log(`counterexample on key ${cx.key}:\n${cx.description}`);
  }
  if (report.set.lost.length > 0) problems.push(`acknowledged writes lost: ${report.set.lost.join(', ')}`);
  if (report.set.failedButPresent.length > 0) problems.push(`writes that failed definitely are present: ${report.set.failedButPresent.join(', ')}`);
  if (report.bites.some((b) => b.minorityWrite === '200')) problems.push('a write at a cut-off leader was acknowledged');
  if (bitten(report).length === 0 && interrupted === 0) problems.push('no partition bit (no new leader while the leader was cut off)');
  for (const crash of report.crashes) problems.push(`a node crashed: ${crash}`);
  if (report.leftover.length > 0) problems.push(`namespaces left behind: ${report.leftover.join(', ')}`);
  for (const problem of problems) console.log(`jepsen: FAIL: ${problem}`);
  process.exitCode = problems.length > 0 ? 1 : 0;
} catch (error) {
  console.error(error);
  process.exitCode = 1;
}
