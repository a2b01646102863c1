/**
 * One agent process for the exactly-once process test (coord-processes.test.ts): it claims tasks
 * from queue `jobs` through the cluster's HTTP API (connect()), works on each in steps with
 * heartbeats, writes `results/<id>` fenced by the claim's token, then completes the task — and
 * prints one JSON line per event, which is all the test knows of it:
 *
 *   {"event":"claimed","id","token"} · {"event":"completed","id","token"}
 *   {"event":"refused","op","id","token","code"}   (a stale token: the claim was lost)
 *   {"event":"unknown","op","id","token","code"}   (the outcome could not be learnt in time)
 *
 *   node --import tsx test/integration/agent-process.ts <worker> <peers> <ttlMs> <workMs>
 */
import { connect } from '../../src/client/connect.js';
import type { TaskClaim } from '../../src/coord/types.js';
import { RaftError } from '../../src/errors.js';

const [worker = 'agent', peers = '', ttlText = '1500', workText = '600'] = process.argv.slice(2);
const ttlMs = Number(ttlText);
const workMs = Number(workText);
const client = connect({ peers, clientId: worker, timeout: 20_000, attemptTimeout: 3000 });
const log = (line: Record<string, unknown>) => process.stdout.write(`${JSON.stringify({ worker, ...line })}\n`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const codeOf = (error: unknown) => (error instanceof RaftError ? error.code : error instanceof Error ? error.message : String(error));

async function work(claim: TaskClaim): Promise<boolean> {
  const steps = 3;
  for (let step = 0; step < steps; step++) {
    await sleep(workMs / steps);
    try {
      await client.tasks.heartbeat(claim.id, claim.token);
    } catch (error) {
      if (codeOf(error) === 'stale_token' || codeOf(error) === 'not_found') {
        log({ event: 'refused', op: 'heartbeat', id: claim.id, token: claim.token, code: codeOf(error) });
        return false;
      }
    }
  }
  return true;
}

async function finish(claim: TaskClaim): Promise<void> {
  try {
    await client.put(`results/${claim.id}`, { worker, token: claim.token }, { fence: { task: claim.id, token: claim.token } });
  } catch (error) {
    log({ event: codeOf(error) === 'stale_token' ? 'refused' : 'unknown', op: 'write', id: claim.id, token: claim.token, code: codeOf(error) });
    return;
  }
  try {
    await client.tasks.complete(claim.id, claim.token, { worker, token: claim.token });
    log({ event: 'completed', id: claim.id, token: claim.token });
  } catch (error) {
    log({ event: codeOf(error) === 'stale_token' ? 'refused' : 'unknown', op: 'complete', id: claim.id, token: claim.token, code: codeOf(error) });
  }
}

for (;;) {
  let claim: TaskClaim | undefined;
  try {
    claim = await client.tasks.claim('jobs', { worker, ttlMs });
  } catch (error) {
    log({ event: 'error', op: 'claim', code: codeOf(error) });
    await sleep(200);
    continue;
  }
  if (claim === undefined) {
    await sleep(100);
    continue;
  }
  log({ event: 'claimed', id: claim.id, token: claim.token });
  // A claim the agent may carry on with after losing it: a heartbeat refused only ends the work,
  // the write and the completion are still tried (and must be refused).
  await work(claim);
  await finish(claim);
}
