/**
 * The fault layer itself (netns.ts), with plain TCP and UDP programs in the namespaces, no Raft:
 * a cut source really cannot reach, a one-way block really is one-way (also on a connection that
 * was open before it), loss drops about the share asked, the host reaches none of the addresses,
 * and teardown leaves no namespace and no link behind. Skipped, with the reason, where network
 * namespaces are not permitted (not root, no ip/nft, `ip netns add` refused).
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NetnsLab, namespacesNamed, netnsUnavailable } from './netns.js';

const run = promisify(execFile);
const unavailable = await netnsUnavailable();
if (unavailable !== undefined) console.warn(`test/jepsen/netns.test.ts skipped: ${unavailable}`);

const PORT = 7100;
const UDP_PORT = 7101;

/** A TCP server in `id`'s namespace that answers each chunk with "echo:<chunk>", and a UDP counter. */
const SERVER = `
const net = require('node:net'), dgram = require('node:dgram');
let datagrams = 0;
const udp = dgram.createSocket('udp4').on('message', () => datagrams++);
udp.bind(${UDP_PORT}, process.argv[1]);
net.createServer((s) => s.on('data', (d) => s.write('echo:' + d))).listen(${PORT}, process.argv[1], () => console.log('ready'));
process.stdin.on('data', () => console.log('datagrams ' + datagrams));
`;

/** Connect to argv[1]:PORT, send "x", print "ok" if "echo:x" comes back within argv[2] ms, else "no". */
const REACH = `
const net = require('node:net');
const s = net.connect(${PORT}, process.argv[1]);
const timer = setTimeout(() => { console.log('no'); process.exit(0); }, Number(process.argv[2]));
s.on('connect', () => s.write('x'));
s.on('data', (d) => { if (String(d) === 'echo:x') { clearTimeout(timer); console.log('ok'); process.exit(0); } });
s.on('error', () => { clearTimeout(timer); console.log('no'); process.exit(0); });
`;

/** Keep one connection to argv[1]:PORT open, send a ping every 50 ms, print each echo. */
const PINGER = `
const net = require('node:net');
const s = net.connect(${PORT}, process.argv[1], () => setInterval(() => s.write('p'), 50));
s.on('data', () => console.log('echo'));
s.on('error', () => {});
`;

/** Send argv[2] bytes to argv[1]:PORT, print the ms until as many have come back (echoed). */
const BULK = `
const net = require('node:net');
const size = Number(process.argv[2]);
const started = Date.now();
let got = 0;
const s = net.connect(${PORT}, process.argv[1], () => s.write(Buffer.alloc(size, 120)));
s.on('data', (d) => { got += d.length; if (got >= size) { console.log(Date.now() - started); process.exit(0); } });
`;

/** Send argv[2] UDP datagrams to argv[1]:UDP_PORT, 2 ms apart. */
const FLOOD = `
const dgram = require('node:dgram');
const u = dgram.createSocket('udp4');
let n = 0;
const t = setInterval(() => { u.send('d', ${UDP_PORT}, process.argv[1]); if (++n >= Number(process.argv[2])) { clearInterval(t); setTimeout(() => process.exit(0), 100); } }, 2);
`;

describe.skipIf(unavailable !== undefined)('the netns fault layer', { timeout: 120_000 }, () => {
  let lab: NetnsLab;
  const servers = new Map<string, { child: ChildProcess; lines: string[] }>();
  const started: ChildProcess[] = [];

  const reach = async (from: string, to: string, ms = 5000): Promise<boolean> => {
    const { stdout } = await run(lab.exec(from)[0] as string, [...lab.exec(from).slice(1), process.execPath, '-e', REACH, lab.address(to), String(ms)]);
    return stdout.trim() === 'ok';
  };
  const datagrams = async (id: string): Promise<number> => {
    const server = servers.get(id)!;
    const before = server.lines.length;
    server.child.stdin?.write('?\n');
    while (server.lines.length === before) await new Promise((resolve) => setTimeout(resolve, 20));
    return Number(server.lines.at(-1)?.split(' ')[1]);
  };

  beforeAll(async () => {
    lab = await NetnsLab.create(['a', 'b', 'c']);
    await Promise.all(
      lab.ids.map(
        (id) =>
          new Promise<void>((resolve, reject) => {
            const child = spawn(lab.exec(id)[0] as string, [...lab.exec(id).slice(1), process.execPath, '-e', SERVER, lab.address(id)], { stdio: ['pipe', 'pipe', 'inherit'] });
            const lines: string[] = [];
            servers.set(id, { child, lines });
            createInterface({ input: child.stdout! }).on('line', (line) => {
              lines.push(line);
              if (line === 'ready') resolve();
            });
            child.on('error', reject);
          }),
      ),
    );
  }, 120_000);

  afterAll(async () => {
    for (const child of [...[...servers.values()].map((s) => s.child), ...started]) child.kill('SIGKILL');
    await lab?.teardown();
  }, 120_000);

  it('every node reaches every other, and the bridge reaches them all, before any fault', async () => {
    for (const from of ['a', 'b', 'c']) for (const to of ['a', 'b', 'c']) if (from !== to) expect(await reach(from, to), `${from} → ${to}`).toBe(true);
    expect(await reach('bridge', 'a')).toBe(true);
  });

  it('the host reaches none of the addresses: they exist only inside the namespaces', async () => {
    const { stdout } = await run(process.execPath, ['-e', REACH, lab.address('a'), '500']);
    expect(stdout.trim()).toBe('no');
  });

  it('a cut stops every packet between the two nodes, both ways, and nothing else', async () => {
    await lab.cut([['a', 'b']]);
    expect(await reach('a', 'b', 1500)).toBe(false);
    expect(await reach('b', 'a', 1500)).toBe(false);
    expect(await reach('c', 'a')).toBe(true);
    expect(await reach('b', 'c')).toBe(true);
    expect(await reach('bridge', 'b')).toBe(true);
    await lab.heal();
    expect(await reach('a', 'b')).toBe(true);
  });

  it('a partition into groups cuts every pair across them', async () => {
    await lab.partition([['a'], ['b', 'c']]);
    expect(await reach('a', 'b', 1500)).toBe(false);
    expect(await reach('c', 'a', 1500)).toBe(false);
    expect(await reach('b', 'c')).toBe(true);
    await lab.heal();
    expect(await reach('c', 'a')).toBe(true);
  });

  it('a one-way block is one-way: nothing the blocked node sends arrives, what the other sends does (both ways on its own connection)', async () => {
    await lab.blockOneWay('a', ['b']);
    expect(await reach('a', 'b', 1500)).toBe(false);
    // b opens the connection: b's "x" reaches a, a's "echo:x" reaches b.
    expect(await reach('b', 'a')).toBe(true);
    expect(await reach('a', 'c')).toBe(true);
    await lab.heal();
    expect(await reach('a', 'b')).toBe(true);
  });

  it('a one-way block also silences a connection the blocked node opened before it', async () => {
    const pinger = spawn(lab.exec('a')[0] as string, [...lab.exec('a').slice(1), process.execPath, '-e', PINGER, lab.address('b')], { stdio: ['ignore', 'pipe', 'inherit'] });
    started.push(pinger);
    let echoes = 0;
    createInterface({ input: pinger.stdout! }).on('line', () => echoes++);
    const deadline = Date.now() + 10_000;
    while (echoes < 3 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(echoes).toBeGreaterThanOrEqual(3);
    await lab.blockOneWay('a', ['b']);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const atBlock = echoes;
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(echoes).toBe(atBlock);
    await lab.heal();
    const healed = Date.now() + 10_000;
    while (echoes === atBlock && Date.now() < healed) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(echoes).toBeGreaterThan(atBlock);
    pinger.kill('SIGKILL');
  });

  it(`slow holds back what the node sends (${'netem or, without it, a tbf rate limit'})`, async () => {
    const bulk = async () => Number((await run(lab.exec('b')[0] as string, [...lab.exec('b').slice(1), process.execPath, '-e', BULK, lab.address('a'), '40000'])).stdout);
    await lab.slow('a');
    // 40 kB echoed by a: at tbf's 400 kbit/s at least ~0.7 s; with netem (80 ± 40 ms per packet) a
    // few round trips, so at least one delay. Load only makes it slower.
    expect(await bulk()).toBeGreaterThan(lab.delayKind === 'netem' ? 40 : 400);
    await lab.heal();
    expect(lab.faultsAt('a').slow).toBe(false);
  });

  it('loss drops about the share of packets asked, at the receiving node only', async () => {
    await lab.loss(50, ['b']);
    const [b0, c0] = [await datagrams('b'), await datagrams('c')];
    await run(lab.exec('a')[0] as string, [...lab.exec('a').slice(1), process.execPath, '-e', FLOOD, lab.address('b'), '400']);
    await run(lab.exec('a')[0] as string, [...lab.exec('a').slice(1), process.execPath, '-e', FLOOD, lab.address('c'), '400']);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const [atB, atC] = [(await datagrams('b')) - b0, (await datagrams('c')) - c0];
    expect(atB).toBeGreaterThan(100);
    expect(atB).toBeLessThan(300);
    expect(atC).toBeGreaterThan(380);
    await lab.heal();
  });
});

describe.skipIf(unavailable !== undefined)('teardown', { timeout: 120_000 }, () => {
  it('leaves no namespace and no link behind, and a second teardown is harmless', async () => {
    const links = async () => (await run('ip', ['-o', 'link', 'show'])).stdout.split('\n').map((line) => line.split(':')[1]?.trim());
    const before = await links();
    const lab = await NetnsLab.create(['x', 'y']);
    expect(await namespacesNamed(lab.prefix)).toHaveLength(3);
    expect(await links()).toEqual(before);
    expect(await lab.teardown()).toEqual([]);
    expect(await namespacesNamed(lab.prefix)).toEqual([]);
    expect(await links()).toEqual(before);
    expect(await lab.teardown()).toEqual([]);
  });

  it('two labs at once never share a name', async () => {
    const [one, two] = await Promise.all([NetnsLab.create(['x']), NetnsLab.create(['x'])]);
    try {
      expect(one.prefix).not.toBe(two.prefix);
    } finally {
      await Promise.all([one.teardown(), two.teardown()]);
    }
  });
});
