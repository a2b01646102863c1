/**
 * A client process of the Jepsen-style test, run inside the test's own network namespace (the
 * bridge's: it reaches every node, the host's namespace reaches none). The test drives it over the
 * IPC channel (spawned with 'ipc' in stdio; `ip netns exec` execs this process, so the channel's
 * file descriptor is inherited):
 *
 *   { id, type: 'workload', clients, peers, t0, keyPeriodMs, seed, name, timeoutMs }  → { id, ok }
 *       start `clients` concurrent clients, each its own connect() session, doing reads (half of
 *       them asked of one node picked at random), writes and compare-and-sets on registers, and
 *       writes of unique set/ keys, until 'stop';
 *   { id, type: 'stop' }                         → { id, recorded, set, errors }   (after every client's last operation)
 *   { id, type: 'status', addresses }            → { id, statuses }      (GET /status of each, null if it did not answer)
 *   { id, type: 'probe', address, key, timeoutMs } → { id, status | error }  (one PUT to that node only, no retry)
 *   { id, type: 'final', peers, keys, prefix }   → { id, history, present }   (after healing: a read of each key,
 *                                                    recorded as history; the set/ keys present)
 *
 * Time is CLOCK_MONOTONIC in µs (process.hrtime), one clock for every process of the machine, so
 * the histories of all client processes merge into one.
 *
 * How an outcome is recorded (src/sim/linearizability.ts, "History format"): a result → call and
 * return with the output; OutcomeUnknownError or a read that timed out → call only (indeterminate:
 * it may have taken effect); NotLeaderError or InvalidRequestError after every retry → not recorded
 * (the client says nothing happened; if that were false, the value it wrote would appear from
 * nowhere and the checker would say so), counted as failed.
 */
import { SeededRandom } from '../../src/core/random.js';
import { connect } from '../../src/client/connect.js';
import type { JsonValue } from '../../src/core/json.js';
import { NotLeaderError, OutcomeUnknownError, ReadTimeoutError, RaftError } from '../../src/errors.js';
import type { GetResult } from '../../src/kv/state-machine.js';
import type { HistoryEntry, KvOp } from '../../src/sim/linearizability.js';
import { type Kind, now, type Recorded, type SetReport } from './outcomes.js';

interface Workload {
  clients: number;
  peers: string[];
  t0: number;
  keyPeriodMs: number;
  seed: number;
  name: string;
  timeoutMs: number;
}

type Request =
  | ({ id: number; type: 'workload' } & Workload)
  | { id: number; type: 'stop' }
  | { id: number; type: 'status'; addresses: string[] }
  | { id: number; type: 'probe'; address: string; key: string; timeoutMs: number }
  | { id: number; type: 'final'; peers: string[]; keys: string[]; prefix: string };

const recorded: Recorded[] = [];
const set: SetReport = { acked: [], failed: [] };
/** Why operations did not succeed, by error code (or name): what the summary shows beside the counts. */
const errors: Record<string, number> = {};
let running = false;
let loops: Promise<void>[] = [];

function reply(message: Record<string, unknown>): void {
  process.send?.(message);
}

process.on('message', (raw) => {
  const request = raw as Request;
  handle(request).then(
    (answer) => reply({ id: request.id, ...answer }),
    (error: unknown) => reply({ id: request.id, error: (error as Error).stack ?? String(error) }),
  );
});
// The test is gone (its channel closed): nothing left to report to.
process.on('disconnect', () => process.exit(0));

async function handle(request: Request): Promise<Record<string, unknown>> {
  switch (request.type) {
    case 'workload':
      running = true;
      loops = Array.from({ length: request.clients }, (_, c) => client(request, c));
      return { ok: true };
    case 'stop':
      running = false;
      await Promise.all(loops);
      return { recorded, set, errors };
    case 'status':
      return { statuses: await Promise.all(request.addresses.map(status)) };
    case 'probe':
      return probe(request.address, request.key, request.timeoutMs);
    case 'final':
      return final(request.peers, request.keys, request.prefix);
  }
}

async function status(address: string): Promise<Record<string, unknown> | null> {
  try {
    const res = await fetch(`http://${address}/status`, { signal: AbortSignal.timeout(1000) });
    return (await res.json()) as Record<string, unknown>;
  } catch {
    return null;
  }
}

/** One write sent to one node only, no retry, no forwarding elsewhere by the client: what a node cut off from the majority does with it. */
async function probe(address: string, key: string, timeoutMs: number): Promise<Record<string, unknown>> {
  const started = Date.now();
  try {
    const res = await fetch(`http://${address}/kv/${encodeURIComponent(key)}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ value: 'probe' }),
      signal: AbortSignal.timeout(timeoutMs),
    });
    return { status: res.status, ms: Date.now() - started };
  } catch (error) {
    return { error: (error as Error).name === 'TimeoutError' ? 'timeout' : (error as Error).message, ms: Date.now() - started };
  }
}

async function client(w: Workload, c: number): Promise<void> {
  const name = `${w.name}c${c}`;
  const random = new SeededRandom(w.seed * 1000 + c);
  // Each client starts at its own node; connect() follows the leader from there.
  const rotate = (c + w.seed) % w.peers.length;
  const kv = connect({ peers: [...w.peers.slice(rotate), ...w.peers.slice(0, rotate)], clientId: name, timeout: w.timeoutMs, attemptTimeout: 1000, maxInFlight: 1 });
  const recent = new Map<string, string[]>();
  for (let i = 0; running; i++) {
    // Registers are used for one key period each, then fresh ones: a key's sub-history stays small
    // enough for the checker, whatever the run's length.
    const period = Math.floor((now() - w.t0) / 1000 / w.keyPeriodMs);
    const key = `r${period}.${random.int(0, 2)}`;
    const value = `${name}.${i}`;
    const roll = random.next();
    let op: KvOp;
    let kind: Kind;
    if (roll < 0.4) [op, kind] = [{ type: 'get', key }, 'read'];
    else if (roll < 0.65) [op, kind] = [{ type: 'put', key, value }, 'write'];
    else if (roll < 0.85) {
      const seen = recent.get(key) ?? [];
      // Mostly the latest value this client saw or wrote there (a cas that may succeed), else an older one.
      const from = seen.length === 0 ? `${name}.${i - 1}` : random.chance(0.7) ? (seen.at(-1) as string) : random.pick(seen);
      [op, kind] = [{ type: 'cas', key, from, to: value }, 'cas'];
    } else [op, kind] = [{ type: 'put', key: `set/${value}`, value }, 'write'];
    // Half the reads go to a node picked at random, asked alone (it forwards to the leader it
    // knows): how a read lands on a deposed leader that does not know it yet (kv-workload's
    // wanderingReads). Through connect() alone, a client leaves a cut-off leader at its first write.
    const wander = op.type === 'get' && random.chance(0.5) ? (random.pick(w.peers) as string) : undefined;
    const call = now();
    try {
      const output =
        op.type === 'get' && wander !== undefined
          ? await readAt(wander, op.key)
          : op.type === 'get'
            ? await kv.get(op.key)
            : op.type === 'put'
              ? await kv.put(op.key, op.value)
              : op.type === 'cas'
                ? await kv.cas(op.key, op.from, op.to)
                : undefined;
      const entry = { clientId: name, op, call, return: now(), output } as HistoryEntry;
      const refused = op.type === 'cas' && (output as { ok?: boolean }).ok !== true;
      recorded.push({ entry, kind, outcome: refused ? 'refused' : 'ok' });
      if (op.type === 'get' && (output as { found: boolean }).found) remember(recent, key, (output as { value: string }).value);
      if (op.key.startsWith('set/')) set.acked.push(op.key);
    } catch (error) {
      const code = error instanceof RaftError ? error.code : (error as Error).name;
      errors[code] = (errors[code] ?? 0) + 1;
      const indeterminate = error instanceof OutcomeUnknownError || error instanceof ReadTimeoutError || !(error instanceof RaftError);
      if (indeterminate) recorded.push({ entry: { clientId: name, op, call } as HistoryEntry, kind, outcome: 'indeterminate' });
      else {
        recorded.push({ kind, outcome: 'failed' });
        if (op.key.startsWith('set/')) set.failed.push(op.key);
      }
    }
    if ((op.type === 'put' || op.type === 'cas') && op.key === key) remember(recent, key, value);
    await new Promise((resolve) => setTimeout(resolve, random.int(0, 10)));
  }
}

/** GET /kv/<key> at one node only, no retry: its answer, or an error (503: NotLeaderError, nothing else: ReadTimeoutError). */
async function readAt(address: string, key: string): Promise<GetResult> {
  let res: Response;
  try {
    res = await fetch(`http://${address}/kv/${encodeURIComponent(key)}`, { signal: AbortSignal.timeout(1500) });
  } catch (error) {
    throw new ReadTimeoutError(1500, `${address}: ${(error as Error).message}`);
  }
  const body = (await res.json().catch(() => ({}))) as { value?: JsonValue; error?: string };
  if (res.status === 200 && 'value' in body) return { found: true, value: body.value as JsonValue };
  if (res.status === 404 && body.error === 'not_found') return { found: false };
  if (res.status === 503) throw new NotLeaderError(undefined);
  throw new ReadTimeoutError(1500, `${address} answered ${res.status} ${body.error ?? ''}`);
}

function remember(recent: Map<string, string[]>, key: string, value: string): void {
  const seen = recent.get(key) ?? [];
  seen.push(value);
  if (seen.length > 4) seen.shift();
  recent.set(key, seen);
}

/** After healing: read every register (each read joins the history, so the final state is checked too) and list the set. */
async function final(peers: string[], keys: string[], prefix: string): Promise<Record<string, unknown>> {
  const kv = connect({ peers, clientId: 'final', timeout: 30_000, attemptTimeout: 3000, maxInFlight: 4 });
  const history: HistoryEntry[] = [];
  for (const key of keys) {
    const call = now();
    const output = await kv.get(key);
    history.push({ clientId: 'final', op: { type: 'get', key }, call, return: now(), output });
  }
  const present = (await kv.list(prefix)).map((entry) => entry.key);
  return { history, present };
}
