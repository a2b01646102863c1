/**
 * The HTTP transport and peers learned at run time (membership changes): a server started
 * knowing nobody but one member, and a member that learns the new server's address from a
 * configuration entry (setPeerAddress), exchange messages both ways; a sender nobody has named
 * is still refused (403), and so is a learned one whose requests are not signed with the secret.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { AppendEntries, RpcMessage } from '../../src/core/types.js';
import { HttpTransport } from '../../src/transport/http.js';
import { sleep } from './processes.js';

const transports: HttpTransport[] = [];
afterEach(async () => {
  await Promise.all(transports.splice(0).map((t) => t.stop()));
});

async function endpoint(id: string, peers: Record<string, string>, secret?: string) {
  const inbox: RpcMessage[] = [];
  const errors: string[] = [];
  const transport = new HttpTransport({
    id,
    listen: { host: '127.0.0.1', port: 0 },
    peers,
    ...(secret !== undefined ? { secret } : {}),
    backoff: { initial: 10, max: 50 },
    onError: (error, context) => errors.push(`${context}: ${(error as Error).message}`),
  });
  transports.push(transport);
  await transport.listen();
  transport.start({ onMessage: (message) => inbox.push(message as RpcMessage), onRequest: async () => ({ ok: true, value: null }) });
  return { transport, inbox, errors };
}

const heartbeat = (from: string, term = 1): AppendEntries<unknown> => ({
  type: 'rpc.appendEntries',
  from,
  term,
  leaderId: from,
  prevLogIndex: 0,
  prevLogTerm: 0,
  entries: [],
  leaderCommit: 0,
  seq: 0,
});

async function until(what: string, probe: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within 10 s`);
    await sleep(10);
  }
}

describe('HttpTransport with peers learned at run time', { timeout: 30_000 }, () => {
  it('a new server and a member that learns its address exchange messages both ways; an unnamed sender is refused', async () => {
    const secret = 'peers-secret';
    const leader = await endpoint('n1', {}, secret);
    // The new server knows the member it was told about (what --join learns from GET /admin/members).
    const joiner = await endpoint('n4', { n1: leader.transport.address }, secret);
    // Before the leader has learned n4, n4's messages are refused: a sender nobody named.
    joiner.transport.send('n1', heartbeat('n4'));
    await until('the refusal', () => joiner.errors.some((e) => /403/.test(e)));
    expect(leader.inbox).toHaveLength(0);
    // The configuration entry that adds n4 carries its address: the runtime tells the transport.
    leader.transport.setPeerAddress('n4', joiner.transport.address);
    leader.transport.send('n4', heartbeat('n1'));
    await until('n4 receives from the leader', () => joiner.inbox.length === 1);
    joiner.transport.send('n1', heartbeat('n4', 2));
    await until('the leader receives from n4', () => leader.inbox.length === 1);
    expect(leader.inbox[0]).toMatchObject({ from: 'n4', term: 2 });
    // A third server nobody has named is refused by both.
    const stranger = await endpoint('n9', { n1: leader.transport.address, n4: joiner.transport.address }, secret);
    stranger.transport.send('n1', heartbeat('n9'));
    stranger.transport.send('n4', heartbeat('n9'));
    await until('both refusals', () => stranger.errors.filter((e) => /403/.test(e)).length >= 2);
    expect(leader.inbox).toHaveLength(1);
    expect(joiner.inbox).toHaveLength(1);
    // Learning an address does not open the door to a sender without the secret.
    const unsigned = await endpoint('n5', { n1: leader.transport.address });
    leader.transport.setPeerAddress('n5', unsigned.transport.address);
    unsigned.transport.send('n1', heartbeat('n5'));
    await until('the unsigned refusal', () => unsigned.errors.some((e) => /401/.test(e)));
    expect(leader.inbox).toHaveLength(1);
  });
});
