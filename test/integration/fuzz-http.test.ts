/**
 * Fuzzed HTTP requests (issue 14 §4) against three in-process node servers with a client token
 * and a cluster secret (the peer route /raft/* is on the same port as the client API):
 * random method × route (client /kv, /v1 coordination, /admin, /debug, the peer routes, signed
 * and unsigned) × body (arbitrary JSON, broken JSON, wrong types, deep nesting, large within
 * the body limit) × headers (Authorization, X-Client-Id, X-Request-Seq, X-Fence-*, Last-Event-ID,
 * Origin, the peer signature).
 *
 * 1. Refused inputs only — each built to be refused (no token or a wrong one, a body the route's
 *    schema refuses, bad headers or parameters, a wrong method, a peer request unsigned, signed
 *    wrongly, from an unknown sender or carrying messages parseRpcMessage refuses): every answer
 *    is a 4xx, and afterwards every node's term, vote, commit index and log are as before.
 * 2. Anything (valid writes, reads, watches, isolation, leadership transfer included): every
 *    answer is below 500, except the 503 and 504 the README documents (no_leader, stopping,
 *    unavailable, not ready; timeout, catch_up_timeout); none hangs (a 20 s limit per request);
 *    every server still answers /health.
 *
 * FUZZ_RUNS sets the requests per phase (default 200); `npm run fuzz` runs 100 000. The counts
 * per route are printed at the end.
 */
import { Agent, request } from 'node:http';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseRpcMessage } from '../../src/core/validate.js';
import { MAX_JSON_DEPTH } from '../../src/core/json.js';
import { nestingDepth } from '../../src/server/body.js';
import { signRequest } from '../../src/transport/http.js';
import { NodeServers } from './node-servers.js';

const RUNS = Math.max(1, Number(process.env.FUZZ_RUNS ?? 200));
const TOKEN = 'fuzz-client-token';
const SECRET = 'fuzz cluster secret';
const BODY_LIMIT = 256 * 1024;
const REQUEST_TIMEOUT_MS = 20_000;
const TIMEOUT = Math.max(60_000, RUNS * 60);

const servers = new NodeServers();
let addresses: Record<string, string> = {};
const agent = new Agent({ keepAlive: true, maxSockets: 4 });

// ---------------------------------------------------------------- one request

interface Req {
  /** Route group, for the counts. */
  route: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string;
  /** Peer route: sign with the secret as `from` (after the body is known). */
  sign?: { from: string; secret: string };
}
interface Answer {
  status: number;
  body: string;
  stream?: boolean;
  reset?: boolean;
}

function send(address: string, r: Req): Promise<Answer> {
  const [host, port] = address.split(':') as [string, string];
  const headers: Record<string, string | number> = { ...r.headers };
  if (r.body !== undefined) headers['content-length'] = Buffer.byteLength(r.body);
  if (r.sign !== undefined) {
    headers['x-raft-from'] = r.sign.from;
    headers['x-raft-signature'] = signRequest(r.sign.secret, r.sign.from, r.method, r.path, r.body ?? '');
  }
  return new Promise((resolve, reject) => {
    let answered = false;
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms: ${r.method} ${r.path.slice(0, 200)}`));
    }, REQUEST_TIMEOUT_MS);
    const req = request({ host, port: Number(port), method: r.method, path: r.path, headers, agent }, (res) => {
      answered = true;
      const status = res.statusCode ?? 0;
      if (String(res.headers['content-type']).startsWith('text/event-stream')) {
        clearTimeout(timer);
        res.destroy();
        return resolve({ status, body: '', stream: true });
      }
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        clearTimeout(timer);
        resolve({ status, body: Buffer.concat(chunks).toString('utf8') });
      });
      res.on('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
    });
    req.on('error', (error: NodeJS.ErrnoException) => {
      if (answered) return;
      clearTimeout(timer);
      // A server that refuses a request before reading its body answers and closes: writing the
      // rest of a large body can then fail before the answer is read.
      if ((error.code === 'EPIPE' || error.code === 'ECONNRESET') && (r.body?.length ?? 0) > 16 * 1024) return resolve({ status: 0, body: '', reset: true });
      reject(error);
    });
    req.end(r.body);
  });
}

// ---------------------------------------------------------------- what requests are made of

const safeChar = fc.constantFrom(...'abcXYZ019-_.~!*()$&+,;=:@ %/?#é'.split(''));
const text = (maxLength: number) => fc.string({ unit: safeChar, maxLength });
/** Path segments: ordinary, empty, dot segments (also encoded), bad percent-encoding, very long, members' ids. */
const segment = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('a', 'x', 'q1', 'task-1', 'n1', 'n2', 'zz-new') },
  { weight: 2, arbitrary: text(12).map(encodeURIComponent) },
  { weight: 1, arbitrary: fc.constantFrom('', '.', '..', '%2E%2E', '%ZZ', '%', '%E0%A4%A', 'a%2Fb', 'a%2Fcas', '%00', 'k'.repeat(1025), 'k'.repeat(300)) },
);
const query = fc.oneof(
  { weight: 8, arbitrary: fc.constant('') },
  fc.constantFrom(
    '?limit=0',
    '?limit=abc',
    '?limit=1001',
    '?limit=5',
    '?prefix=a&after=b',
    '?from=0',
    '?from=1',
    '?kinds=kv,nope',
    '?kinds=kv',
    '?token=1',
    '?token=x',
    '?x=1',
    '?%ZZ=1',
    '?limit=1&limit=2',
  ),
  // Spaces are the one character a request target cannot carry raw.
  text(20).map((q) => `?${q.replace(/ /g, '%20')}`),
);

const CLIENT = ['/kv', '/kv/{s}', '/kv/{s}/cas', '/kv/{s}/{s}', '/status', '/metrics', '/health', '/ready'];
const COORD = [
  '/v1',
  '/v1/nope',
  '/v1/leases',
  '/v1/leases/{s}',
  '/v1/leases/{s}/{s}',
  '/v1/queues',
  '/v1/queues/{s}',
  '/v1/queues/{s}/claim',
  '/v1/queues/{s}/{s}',
  '/v1/queues/{s}/{s}/{action}',
  '/v1/tasks/{s}',
  '/v1/tasks/{s}/{action}',
  '/v1/tasks/{s}/{s}/{s}',
  '/v1/watch',
];
const ADMIN = ['/admin/members', '/admin/members/{s}', '/admin/transfer-leadership', '/admin/isolate', '/admin/rejoin', '/admin/snapshot', '/admin/{s}'];
const DEBUG = ['/debug/events', '/debug/{s}'];
const OTHER = ['/', '/nope', '/{s}', '//kv//x', '/kv%2Fx', '/raft', '/raft/{s}'];
const TEMPLATES: Record<string, string[]> = { kv: CLIENT, v1: COORD, admin: ADMIN, debug: DEBUG, other: OTHER };

const fill = (template: string) =>
  fc.tuple(fc.array(segment, { minLength: 4, maxLength: 4 }), fc.constantFrom('heartbeat', 'complete', 'fail', 'nope'), query).map(([segs, action, q]) => {
    let i = 0;
    return template.replace(/\{s\}/g, () => segs[i++] as string).replace('{action}', action) + q;
  });
const pathOf = (group: string) => fc.constantFrom(...(TEMPLATES[group] as string[])).chain(fill);

const METHODS = ['GET', 'PUT', 'POST', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS', 'PROPFIND', 'FOO'];
const method = fc.constantFrom(...METHODS);
/** The methods the routes take, mostly; now and then another. */
const commonMethod = fc.oneof({ weight: 6, arbitrary: fc.constantFrom('GET', 'PUT', 'POST', 'DELETE') }, { weight: 1, arbitrary: method });

const deep = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;
const brokenJson = fc.oneof(
  fc.constantFrom('{', '{"value":', '[1,2', 'nul', 'undefined', "{'value': 1}", '{"value": 1,}', '\u0000', '{"value": 1}{"value": 2}', '\ufeff{"value": 1}', '{"value": NaN}'),
  // Never empty: an empty body is "no body", which some routes take.
  fc.string({ unit: safeChar, minLength: 1, maxLength: 40 }),
);
/** JSON the parsers must survive: deeply nested (within the body limit), large strings, lone surrogates. */
const awkwardJson = fc.oneof(
  fc.constantFrom(5_000, 50_000, 120_000).map((depth) => `{"value": ${deep(depth)}}`),
  fc.constantFrom(5_000, 120_000).map((depth) => deep(depth)),
  fc.constantFrom('{"value": "\\ud800"}', '{"value": {"__proto__": {"x": 1}}}', '{"__proto__": {"value": 1}}', '{"value": 1e999}', '{"value": -0}'),
  fc.integer({ min: 1000, max: BODY_LIMIT - 100 }).map((n) => JSON.stringify({ value: 'x'.repeat(n) })),
  fc.integer({ min: 1000, max: Math.floor((BODY_LIMIT - 100) / 6) }).map((n) => JSON.stringify({ task: Array.from({ length: n }, () => 0) })),
);
const anyJson = fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v));

/** The body each write route takes, valid. */
const VALID_BODIES: Record<string, fc.Arbitrary<Record<string, unknown>>> = {
  put: fc.record({ value: fc.jsonValue({ maxDepth: 2 }) }),
  cas: fc.record({ from: fc.jsonValue({ maxDepth: 1 }), to: fc.jsonValue({ maxDepth: 1 }) }),
  acquire: fc.record({ holder: fc.constantFrom('w1', 'w2'), ttlMs: fc.integer({ min: 100, max: 60_000 }) }),
  renew: fc.record({ token: fc.integer({ min: 1, max: 9 }) }),
  release: fc.record({ token: fc.integer({ min: 1, max: 9 }) }),
  post: fc.record({ task: fc.jsonValue({ maxDepth: 2 }) }),
  claim: fc.record({ worker: fc.constantFrom('w1', 'w2'), ttlMs: fc.integer({ min: 100, max: 60_000 }) }),
  heartbeat: fc.record({ token: fc.integer({ min: 1, max: 9 }) }),
  complete: fc.record({ token: fc.integer({ min: 1, max: 9 }) }),
  fail: fc.record({ token: fc.integer({ min: 1, max: 9 }), reason: text(20) }),
  members: fc.record({ id: fc.constant('zz-new'), address: fc.constant('127.0.0.1:1'), role: fc.constantFrom('learner', 'voter') }),
  transfer: fc.record({ to: fc.constantFrom('n1', 'n2', 'n3') }),
  peers: fc.record({ peers: fc.constant([] as string[]) }),
};
/** A field of another type than the route takes (every field below is typed: none is "any JSON"). */
const RETYPE: Record<string, [string, unknown][]> = {
  acquire: [
    ['holder', 5],
    ['ttlMs', '100'],
    ['ttlMs', 99],
    ['ttlMs', 1.5],
  ],
  renew: [
    ['token', '1'],
    ['token', 0],
    ['ttlMs', -1],
  ],
  release: [
    ['token', null],
    ['token', 2 ** 53],
  ],
  post: [
    ['id', 5],
    ['id', ''],
    ['maxAttempts', 0],
  ],
  claim: [
    ['worker', null],
    ['ttlMs', 86_400_001],
  ],
  heartbeat: [['token', -3]],
  complete: [['token', true]],
  fail: [
    ['reason', 5],
    ['reason', 'r'.repeat(4097)],
    ['retry', 'yes'],
  ],
  members: [
    ['role', 'boss'],
    ['id', ''],
    ['address', 'nowhere'],
    ['address', '127.0.0.1:70000'],
  ],
  transfer: [
    ['to', 5],
    ['to', ''],
  ],
  peers: [
    ['peers', 'n2'],
    ['peers', [5]],
    ['peers', ['']],
  ],
};
const REQUIRED: Record<string, string[]> = {
  put: ['value'],
  cas: ['from', 'to'],
  acquire: ['holder', 'ttlMs'],
  renew: ['token'],
  release: ['token'],
  post: ['task'],
  claim: ['worker', 'ttlMs'],
  heartbeat: ['token'],
  complete: ['token'],
  fail: ['token', 'reason'],
  members: ['id', 'role'],
};

/** A body the route's (strict) schema refuses: an extra field, a required one missing, one retyped, not an object, not JSON. */
const refusedBody = (kind: string): fc.Arbitrary<string> => {
  const valid = VALID_BODIES[kind] as fc.Arbitrary<Record<string, unknown>>;
  const options: fc.Arbitrary<string>[] = [
    fc.tuple(valid, fc.constantFrom('extra', 'Value', 'value ', '__proto__x', 'constructor'), fc.jsonValue({ maxDepth: 1 })).map(([b, k, v]) => JSON.stringify({ ...b, [k]: v })),
    brokenJson,
    // JSON that is not an object (null and an empty body mean "no body" where a body is optional).
    fc.constantFrom('5', '"value"', '[]', '[{"value":1}]', 'true'),
  ];
  const required = REQUIRED[kind];
  if (required !== undefined) options.push(fc.tuple(valid, fc.constantFrom(...required)).map(([b, k]) => JSON.stringify({ ...b, [k]: undefined })));
  const retype = RETYPE[kind];
  if (retype !== undefined) options.push(fc.tuple(valid, fc.constantFrom(...retype)).map(([b, [k, v]]) => JSON.stringify({ ...b, [k]: v })));
  if (kind === 'put') options.push(fc.constantFrom(5_000, 120_000).map((depth) => `{"value": ${deep(depth)}, "extra": 1}`));
  return fc.oneof(...options);
};

/** The write routes that read a body before they change anything, with the kind of body each takes. */
const BODY_ROUTES: [string, string, string, string][] = [
  ['kv', 'PUT', '/kv/{s}', 'put'],
  ['kv', 'POST', '/kv/{s}/cas', 'cas'],
  ['v1', 'PUT', '/v1/leases/{s}', 'acquire'],
  ['v1', 'POST', '/v1/leases/{s}', 'renew'],
  ['v1', 'DELETE', '/v1/leases/{s}', 'release'],
  ['v1', 'POST', '/v1/queues/{s}', 'post'],
  ['v1', 'POST', '/v1/queues/{s}/claim', 'claim'],
  ['v1', 'POST', '/v1/queues/{s}/{s}/heartbeat', 'heartbeat'],
  ['v1', 'POST', '/v1/tasks/{s}/complete', 'complete'],
  ['v1', 'POST', '/v1/queues/{s}/{s}/fail', 'fail'],
  ['admin', 'POST', '/admin/members', 'members'],
  ['admin', 'POST', '/admin/transfer-leadership', 'transfer'],
  ['admin', 'POST', '/admin/isolate', 'peers'],
  ['admin', 'POST', '/admin/rejoin', 'peers'],
];

const auth = { authorization: `Bearer ${TOKEN}` };
const badAuth = fc.constantFrom<Record<string, string>>(
  {},
  { authorization: 'Bearer wrong' },
  { authorization: `Basic ${TOKEN}` },
  { authorization: 'Bearer ' },
  { authorization: `Bearer ${TOKEN}x` },
  { authorization: SECRET },
);
/** X-Client-Id, X-Request-Seq, X-Fence-*, Last-Event-ID and Origin, each present or not, good or bad. */
const extraHeaders = fc.record(
  {
    'x-client-id': fc.oneof(fc.constantFrom('c1', 'agent-7', 'c'.repeat(257)), text(10)),
    'x-request-seq': fc.oneof(fc.constantFrom('1', '0', '-1', 'abc', '1e3', '9'.repeat(16), '2'), text(5)),
    'x-fence-lease': fc.oneof(fc.constantFrom('l1', '%ZZ', 'a%2Fb', 'x'.repeat(300)), text(8)),
    'x-fence-task': fc.constantFrom('t1', '%'),
    'x-fence-token': fc.constantFrom('1', '0', '-5', 'abc', '99999999999999999', '7'),
    'last-event-id': fc.oneof(fc.constantFrom('0', '5', 'abc', '-1', ' 3 ', '9'.repeat(16)), text(5)),
    'content-type': fc.constantFrom('application/json', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x'),
  },
  { requiredKeys: [] },
);
/** Now and then what a browser adds (a write from a web page is refused before any route: 403). */
const browserHeaders = fc.oneof(
  { weight: 12, arbitrary: fc.constant({}) },
  { weight: 1, arbitrary: fc.record({ origin: fc.constantFrom('http://evil.example', 'null') }) },
  { weight: 1, arbitrary: fc.record({ 'sec-fetch-site': fc.constantFrom('none', 'same-origin', 'same-site', 'cross-site') }) },
);
/** The headers of a request: each of the above present or not, and rarely a browser's. */
const headersOf = fc.tuple(extraHeaders, browserHeaders).map(([a, b]) => ({ ...a, ...b }));
/** Mostly with the client token. */
const authorized = fc.oneof({ weight: 5, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) });
/** Header sets that make a write refuse before it proposes anything (clientOf and fenceOf). */
const badWriteHeaders = fc.constantFrom<Record<string, string>>(
  { 'x-client-id': 'c1' },
  { 'x-request-seq': '1' },
  { 'x-client-id': '', 'x-request-seq': '1' },
  { 'x-client-id': 'c1', 'x-request-seq': 'abc' },
  { 'x-client-id': 'c'.repeat(257), 'x-request-seq': '1' },
  { 'x-client-id': 'c1', 'x-request-seq': '9'.repeat(16) },
  { 'x-fence-lease': 'l1' },
  { 'x-fence-lease': 'l1', 'x-fence-task': 't1', 'x-fence-token': '1' },
  { 'x-fence-lease': 'l1', 'x-fence-token': '0' },
  { 'x-fence-lease': 'l1', 'x-fence-token': 'abc' },
  { 'x-fence-lease': '%ZZ', 'x-fence-token': '1' },
  { 'x-fence-task': 'x'.repeat(300), 'x-fence-token': '1' },
  { 'x-fence-token': '1' },
  { origin: 'http://evil.example' },
  { 'sec-fetch-site': 'cross-site' },
);

// ---------------------------------------------------------------- the peer routes

const nodeIdOf = fc.constantFrom('n1', 'n2', 'n3', 'n2', 'n3', 'mallory', '');
/** Messages parseRpcMessage refuses (it is the oracle: a valid one would be a forged peer's, which only a secret holder can send). */
const refusedMessage = fc
  .oneof(
    fc.jsonValue({ maxDepth: 2 }),
    fc.record({
      type: fc.constantFrom('rpc.requestVote', 'rpc.appendEntries', 'rpc.installSnapshot', 'rpc.timeoutNow', 'rpc.appendEntriesResult', 'rpc.nope', '__proto__'),
      from: fc.constantFrom('n2', 'n3'),
      term: fc.oneof(fc.integer({ min: -2, max: 200 }), fc.constantFrom('9', null, 1.5, 2 ** 53)),
      candidateId: fc.constantFrom('n2', 'n3'),
      leaderId: fc.constantFrom('n2', 'n3'),
      lastLogIndex: fc.integer({ min: -1, max: 5 }),
      prevLogIndex: fc.integer({ min: -1, max: 5 }),
      entries: fc.constantFrom([], [{ term: 1, index: 7, command: 'x' }], 'x'),
      data: fc.constantFrom('', 'chunk', 5),
    }),
  )
  .filter((m) => !parseRpcMessage(m).ok);
const peerBody = (from: string, refusedOnly: boolean) =>
  fc.oneof(
    fc.array(refusedMessage, { minLength: 1, maxLength: 3 }).map((messages) => JSON.stringify({ from, messages })),
    fc.record({ epoch: fc.constantFrom('e', 'x'.repeat(65)), batch: fc.constantFrom(1, -1, 0.5) }).map((e) => JSON.stringify({ from, messages: [{}], ...e })),
    fc.constantFrom(JSON.stringify({ from, messages: 'x' }), JSON.stringify({ messages: [] }), JSON.stringify({ from: 5, messages: [] }), '[]', 'null'),
    brokenJson,
    // Accepted when signed, and harmless: an empty batch (a sender other than the header's is refused).
    ...(refusedOnly ? [] : [fc.constant(JSON.stringify({ from, messages: [] }))]),
  );
const signature = fc.oneof({ weight: 4, arbitrary: fc.constant('good') }, { weight: 1, arbitrary: fc.constantFrom('wrong-secret', 'none', 'malformed', 'other-path') });

function peerRequest(refusedOnly: boolean): fc.Arbitrary<Req> {
  return fc
    .tuple(
      nodeIdOf,
      signature,
      fc.constantFrom('/raft/messages', '/raft/messages', '/raft/messages', '/raft/forward', '/raft/messages?x=1', '/raft/nope'),
      fc.constantFrom('POST', 'POST', 'POST', 'POST', 'POST', 'GET', 'PUT'),
    )
    .chain(([from, sig, path, m]) => {
      const forwardBody = fc.oneof(
        fc.constantFrom('{"type":"nope"}', '{"type":"propose"}x', '{}', '[]', '{"type":5,"command":1}'),
        brokenJson,
        ...(refusedOnly ? [] : [fc.constant('{"type":"read","query":{"type":"get","key":"a"}}')]),
      );
      const body = path.startsWith('/raft/forward') ? forwardBody : peerBody(from === '' ? 'n2' : from, refusedOnly);
      return body.map((b): Req => {
        const r: Req = { route: `peer ${sig === 'good' ? 'signed' : 'unsigned'}`, method: m, path, headers: { 'content-type': 'application/json' }, body: b };
        if (sig === 'good') r.sign = { from, secret: SECRET };
        if (sig === 'wrong-secret') r.sign = { from, secret: 'not the secret' };
        if (sig === 'malformed') r.headers = { ...r.headers, 'x-raft-from': from || 'n2', 'x-raft-signature': 'zz'.repeat(32) };
        if (sig === 'other-path') r.headers = { ...r.headers, 'x-raft-from': from || 'n2', 'x-raft-signature': signRequest(SECRET, from, m, '/raft/other', b) };
        // A signed, valid request to /raft/forward would be served: only refusedOnly=false sends it.
        if (sig === 'good' && !['n1', 'n2', 'n3'].includes(from)) r.route = 'peer signed, not a member';
        return r;
      });
    });
}

// ---------------------------------------------------------------- the two phases' inputs

const withNode = fc.constantFrom('n1', 'n2', 'n3');

/** Requests every node must refuse with a 4xx, changing nothing. */
const refusedRequest: fc.Arbitrary<Req> = fc.oneof(
  // No client token, or a wrong one: any method, any route but the open probes and the peer paths.
  {
    weight: 3,
    arbitrary: fc
      .tuple(fc.constantFrom('kv', 'v1', 'admin', 'debug', 'other'), method, badAuth, headersOf, fc.option(fc.oneof(anyJson, brokenJson), { nil: undefined }))
      .chain(([group, m, a, h, body]) =>
        pathOf(group)
          .filter((p) => !/^\/(health|ready)(\?|$)/.test(p) && !/^\/raft(\/|\?|$)/.test(p))
          .map((path): Req => ({ route: `${group} no token`, method: m, path, headers: { ...h, ...a }, ...(body !== undefined ? { body } : {}) })),
      ),
  },
  // A body the route refuses, with the token (and sometimes headers that are refused as well).
  {
    weight: 5,
    arbitrary: fc
      .constantFrom(...BODY_ROUTES)
      .chain(([group, m, template, kind]) =>
        fc
          .tuple(fill(template.replace(/\?.*$/, '')), refusedBody(kind), fc.option(badWriteHeaders, { nil: undefined }))
          .map(([path, body, h]): Req => ({ route: `${group} bad body`, method: m, path: path.replace(/\?.*$/, ''), headers: { ...auth, ...h }, body })),
      ),
  },
  // Headers that refuse a write before it is proposed (DELETE /kv reads no body).
  {
    weight: 1,
    arbitrary: fc
      .tuple(fill('/kv/{s}'), badWriteHeaders)
      .filter(([path]) => !path.includes('?'))
      .map(([path, h]): Req => ({ route: 'kv bad headers', method: 'DELETE', path, headers: { ...auth, ...h } })),
  },
  // Bad parameters, bad names, bad Last-Event-ID on reads.
  {
    weight: 1,
    arbitrary: fc
      .constantFrom(
        '/kv?limit=0',
        '/kv?limit=abc',
        '/kv?limit=1001',
        '/kv?nope=1',
        '/kv/%ZZ',
        `/kv/${'k'.repeat(1025)}`,
        '/kv/',
        '/v1/leases?x=1',
        '/v1/leases/%ZZ',
        `/v1/leases/${'l'.repeat(257)}`,
        '/v1/queues/q?limit=0',
        '/v1/queues/q?x=1',
        '/v1/queues/%',
        '/v1/tasks/t/x/y',
        '/v1/tasks/t?x=1',
        '/v1/watch?from=0',
        '/v1/watch?from=abc',
        '/v1/watch?kinds=nope',
        '/v1/watch?x=1',
        '/v1/nope',
        '/admin/nope',
        '/debug/nope',
        '/nope',
      )
      .map((path): Req => ({ route: 'bad params', method: 'GET', path, headers: auth })),
  },
  {
    weight: 1,
    arbitrary: fc
      .constantFrom('abc', '-1', '1.5', '9'.repeat(16), 'x1')
      .map((id): Req => ({ route: 'v1 bad last-event-id', method: 'GET', path: '/v1/watch', headers: { ...auth, 'last-event-id': id } })),
  },
  // A method the route does not take.
  {
    weight: 1,
    arbitrary: fc
      .constantFrom<[string, string]>(
        ['PATCH', '/kv/x'],
        ['POST', '/kv/x'],
        ['OPTIONS', '/kv/x/cas'],
        ['HEAD', '/health'],
        ['POST', '/status'],
        ['PUT', '/kv'],
        ['DELETE', '/metrics'],
        ['PATCH', '/v1/leases/x'],
        ['PUT', '/v1/leases'],
        ['PUT', '/v1/queues/q'],
        ['GET', '/v1/queues/q/claim'],
        ['DELETE', '/v1/tasks/t/complete'],
        ['POST', '/v1/tasks/t'],
        ['POST', '/v1/watch'],
        ['PUT', '/admin/members'],
        ['GET', '/admin/members/n2'],
        ['GET', '/admin/transfer-leadership'],
        ['GET', '/admin/isolate'],
        ['PUT', '/admin/snapshot'],
        ['POST', '/debug/events'],
        ['FOO', '/kv/x'],
        ['PROPFIND', '/v1/leases'],
      )
      .map(([m, path]): Req => ({ route: 'wrong method', method: m, path, headers: auth })),
  },
  // The peer routes: unsigned, signed wrongly, unknown or own sender, and refused bodies.
  // (Refused by construction: a well-signed POST from a peer carries only bodies refusedMessage or
  // the forward bodies above make, which the route never accepts.)
  { weight: 4, arbitrary: peerRequest(true) },
);

/** Anything: valid writes and reads included (but no forged peer messages, no removal of a member). */
const anyRequest: fc.Arbitrary<Req> = fc.oneof(
  { weight: 3, arbitrary: refusedRequest },
  {
    weight: 3,
    arbitrary: fc
      .constantFrom(...BODY_ROUTES.filter(([, , , kind]) => kind !== 'members'))
      .chain(([group, m, template, kind]) =>
        fc
          .tuple(
            fill(template),
            fc.oneof(
              { weight: 5, arbitrary: VALID_BODIES[kind]?.map((b) => JSON.stringify(b)) as fc.Arbitrary<string> },
              { weight: 1, arbitrary: refusedBody(kind) },
              { weight: 1, arbitrary: anyJson },
              { weight: 1, arbitrary: awkwardJson },
            ),
            headersOf,
            authorized,
          )
          .map(([path, body, h, withToken]): Req => ({ route: `${group} any`, method: m, path, headers: { ...h, ...(withToken ? auth : {}) }, body })),
      ),
  },
  {
    weight: 3,
    arbitrary: fc
      .tuple(fc.constantFrom('kv', 'v1', 'admin', 'debug', 'other'), commonMethod, headersOf, authorized, fc.option(fc.oneof(anyJson, brokenJson, awkwardJson), { nil: undefined }))
      .chain(([group, m, h, withToken, body]) =>
        pathOf(group).map((path): Req => ({ route: `${group} any`, method: m, path, headers: { ...h, ...(withToken ? auth : {}) }, ...(body !== undefined ? { body } : {}) })),
      )
      // Removing a member or adding one (a voter waits to catch up) would change the cluster under the test.
      .filter((r) => !(r.path.startsWith('/admin/members') && (r.method === 'DELETE' || r.method === 'POST'))),
  },
  { weight: 1, arbitrary: peerRequest(false) },
);

/** The 503 and 504 the README documents. */
const DOCUMENTED: Record<number, string[]> = { 503: ['no_leader', 'stopping', 'unavailable'], 504: ['timeout', 'catch_up_timeout'] };
function documented(r: Req, a: Answer): boolean {
  if (a.status < 500 || a.stream) return true;
  if (r.path.startsWith('/ready') && a.status === 503) return true;
  let error: unknown;
  try {
    error = (JSON.parse(a.body) as { error?: unknown }).error;
  } catch {
    return false;
  }
  return DOCUMENTED[a.status]?.includes(String(error)) ?? false;
}

// ---------------------------------------------------------------- counts and state

const counts = new Map<string, Record<string, number>>();
function count(r: Req, a: Answer): void {
  const row = counts.get(r.route) ?? {};
  const key = a.reset ? 'reset' : a.stream ? `${a.status} stream` : String(a.status);
  row[key] = (row[key] ?? 0) + 1;
  counts.set(r.route, row);
}
afterAll(() => {
  const lines = [...counts]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([route, row]) => {
      const total = Object.values(row).reduce((x, y) => x + y, 0);
      const statuses = Object.entries(row)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([k, v]) => `${k}×${v}`)
        .join(' ');
      return `  ${route.padEnd(30)} ${String(total).padStart(8)}  ${statuses}`;
    });
  console.log(`fuzz-http: requests per route (FUZZ_RUNS=${RUNS})\n${lines.join('\n')}`);
});

function raftState() {
  return [...servers.servers.values()].map((s) => {
    const { context } = s.node.actor.getSnapshot();
    const status = s.node.status();
    return {
      id: s.node.id,
      term: status.term,
      votedFor: context.votedFor,
      commitIndex: status.commitIndex,
      lastLogIndex: status.lastLogIndex,
      log: context.log.slice(context.log.firstIndex).map((e) => [e.index, e.term]),
    };
  });
}

async function healthy(): Promise<void> {
  for (const address of Object.values(addresses)) {
    const answer = await send(address, { route: 'health', method: 'GET', path: '/health', headers: {} });
    expect(answer.status).toBe(200);
  }
}

beforeAll(async () => {
  // Long election timeouts: under load a slow event loop must not start an election mid-run
  // (the refused phase checks that no term changed).
  addresses = await servers.start(TOKEN, 'xstate-raft-fuzz-http-', { secret: SECRET, bodyLimit: BODY_LIMIT, electionTimeout: [3000, 6000], heartbeatInterval: 100 });
  const leader = await servers.agreedLeader(30_000);
  const put = await send(leader.address, { route: 'setup', method: 'PUT', path: '/kv/stable', headers: auth, body: '{"value": 1}' });
  expect(put.status).toBe(200);
  // Every follower has the entry, and knows it is committed.
  const deadline = Date.now() + 10_000;
  while (new Set(raftState().map((s) => `${s.commitIndex}/${s.lastLogIndex}`)).size > 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
}, 60_000);

afterAll(async () => {
  await servers.stopAll();
  agent.destroy();
});

describe('fuzzed HTTP requests to three node servers', { timeout: TIMEOUT }, () => {
  it('refuses every ill-formed, unauthorized or unsigned request with a 4xx, and no term, vote or log changes', async () => {
    const before = raftState();
    await fc.assert(
      fc.asyncProperty(refusedRequest, withNode, async (r, id) => {
        const answer = await send(addresses[id] as string, r);
        count(r, answer);
        if (answer.reset) return;
        if (answer.status < 400 || answer.status >= 500) throw new Error(`${r.method} ${r.path.slice(0, 200)} → ${answer.status} ${answer.body.slice(0, 300)}`);
      }),
      { numRuns: RUNS },
    );
    await healthy();
    expect(raftState()).toEqual(before);
  });

  it('answers anything below 500 but the documented 503/504, within the time limit, and every node still answers /health', async () => {
    await fc.assert(
      fc.asyncProperty(anyRequest, withNode, async (r, id) => {
        const answer = await send(addresses[id] as string, r);
        count(r, answer);
        if (!documented(r, answer)) throw new Error(`${r.method} ${r.path.slice(0, 200)} → ${answer.status} ${answer.body.slice(0, 300)}`);
      }),
      { numRuns: RUNS },
    );
    // Undo any isolation the fuzz switched on, then every node answers and they agree on a leader.
    for (const address of Object.values(addresses)) await send(address, { route: 'cleanup', method: 'POST', path: '/admin/rejoin', headers: auth });
    await healthy();
    await servers.agreedLeader(30_000);
  });

  // Found by this file (FUZZ_RUNS=10000): a (client, seq) reused for another command got the first
  // command's kept answer, which POST /v1/queues/:queue did not expect — a 500.
  it('answers a queue post whose X-Client-Id and X-Request-Seq were used for another request with 409 request_seq_reused', async () => {
    const leader = await servers.agreedLeader(30_000);
    const headers = { ...auth, 'x-client-id': 'reuser', 'x-request-seq': '1' };
    const acquired = await send(leader.address, { route: 'regression', method: 'PUT', path: '/v1/leases/reused', headers, body: '{"holder": "w1", "ttlMs": 60000}' });
    expect(acquired.status, acquired.body).toBe(200);
    const posted = await send(leader.address, { route: 'regression', method: 'POST', path: '/v1/queues/reused', headers, body: '{"task": 0}' });
    expect(posted.status, posted.body).toBe(409);
    expect(JSON.parse(posted.body)).toMatchObject({ error: 'request_seq_reused' });
    const claimed = await send(leader.address, { route: 'regression', method: 'POST', path: '/v1/queues/reused/claim', headers, body: '{"worker": "w1", "ttlMs": 60000}' });
    expect(claimed.status, claimed.body).toBe(409);
  });

  // Found by this file: a body nested ~1 500 deep overflowed the stack in z.json() and was a 500.
  it('refuses a body nested deeper than a command may be (MAX_JSON_DEPTH) with 400 before any schema', async () => {
    const leader = await servers.agreedLeader(30_000);
    for (const [path, body] of [
      ['/kv/a', `{"value": ${deep(5_000)}, "extra": 1}`],
      ['/kv/a', `{"value": ${deep(1_500)}}`],
      ['/kv/a/cas', `{"from": 1, "to": ${deep(120_000)}}`],
      ['/v1/queues/q', `{"task": ${deep(2_000)}}`],
      ['/kv/a', `{"value": [{"a": ${deep(MAX_JSON_DEPTH)}}]}`],
    ] as const) {
      const method = path === '/kv/a' ? 'PUT' : 'POST';
      const answer = await send(leader.address, { route: 'regression', method, path, headers: auth, body });
      expect(answer.status, `${method} ${path}`).toBe(400);
      expect(answer.body).toContain(`deeper than ${MAX_JSON_DEPTH} levels`);
    }
    // Brackets inside strings do not count.
    expect((await send(leader.address, { route: 'regression', method: 'PUT', path: '/kv/a', headers: auth, body: JSON.stringify({ value: '['.repeat(10_000) }) })).status).toBe(
      200,
    );
    // A body as deep as a command may be passes the edge (and z.json()); the state machines then
    // refuse a value that deep by their own, lower limit (64 levels), also with a 400.
    const atLimit = `{"task": ${deep(MAX_JSON_DEPTH - 1)}}`;
    expect(nestingDepth(atLimit)).toBe(MAX_JSON_DEPTH);
    const refused = await send(leader.address, { route: 'regression', method: 'POST', path: '/v1/queues/deep', headers: auth, body: atLimit });
    expect(refused.status, refused.body).toBe(400);
    expect(refused.body).toMatch(/at most 64 levels deep/);
    const taken = await send(leader.address, { route: 'regression', method: 'POST', path: '/v1/queues/deep', headers: auth, body: `{"task": ${deep(32)}}` });
    expect(taken.status, taken.body).toBe(200);
    expect(nestingDepth('{"a": "\\"}", "b": [[]]}')).toBe(3);
  });
});
