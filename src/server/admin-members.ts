/**
 * Membership and leadership transfer over HTTP, on every node's port (issue 11):
 *
 *   GET    /admin/members                 → 200 {clusterId, voters, learners, addresses, index, committed, leaderId}
 *                                            (this node's view: the configuration in force here)
 *   POST   /admin/members                 {"id", "address", "role": "learner" | "voter"}
 *                                            → 200 {"index", "term"} once the change is committed
 *   DELETE /admin/members/:id             → 200 {"index", "term"} once the removal is committed
 *   POST   /admin/transfer-leadership     {"to"?} → 200 {"leaderId", "term"} once the new leader leads
 *
 * `role: "voter"` adds the server as a learner, waits until it has caught up (within
 * PROMOTE_MAX_LAG entries of the leader, in replicate mode), then promotes it; for a server that
 * is already a learner it only waits and promotes (what `xstate-raft member promote` asks).
 *
 * Errors, as the client API answers them (toHttpError): a follower answers a change or a transfer
 * with 503 {"error": "no_leader", "leaderId", "leaderAddress", "retry": true} (nothing happened; ask
 * the leader), 409 {"error": "config_change_in_progress"} (another change is not yet committed, or
 * a transfer is under way), 409 {"error": "transfer_failed"} (the transfer was abandoned after an
 * election timeout or another voter won: the cluster has a leader, safe to retry), 400
 * {"error": "invalid_request"} (unknown id, the last voter, already a member, a lagging learner)
 * or {"error": "bad_request"} (a body that is not the one above), 504 {"error": "timeout",
 * "outcome": "unknown"} (the change entered the log but was not committed in time), 504
 * {"error": "catch_up_timeout"} (a voter added as a learner did not catch up in time: it stays a
 * learner). A wrong method is 405 with Allow. With a cluster secret (or a client token) every
 * route needs `Authorization: Bearer <it>` (401), like the other /admin routes.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { PROMOTE_MAX_LAG } from '../core/configuration.js';
import { progressOf } from '../core/leader.js';
import type { LogIndex, NodeId, Term } from '../core/types.js';
import { InvalidRequestError, NotLeaderError } from '../errors.js';
import type { RaftNode } from '../runtime/raft-node.js';
import { HOST_PORT } from '../transport/http-wire.js';
import { bearerMatches } from './auth.js';
import { HttpError, readJsonBody } from './body.js';
import { toHttpError } from './client-api.js';

export const MEMBERS_PATH = '/admin/members';
export const TRANSFER_PATH = '/admin/transfer-leadership';

/** What GET /admin/members answers (and what a joining server learns the cluster from). */
export interface MembersView {
  clusterId: string;
  voters: NodeId[];
  learners: NodeId[];
  /** Every member's "host:port", from the configuration (or, for a member it names without one, from the transport). */
  addresses: Record<NodeId, string>;
  /** The index of the configuration entry in force (0: the bootstrap list, not yet written). */
  index: LogIndex;
  committed: boolean;
  /** The leader this node heard from recently (itself, when it leads), or null. */
  leaderId: NodeId | null;
}

export interface MembershipRoutesOptions {
  node: Pick<RaftNode, 'id' | 'members' | 'status' | 'actor' | 'addLearner' | 'promote' | 'removeServer' | 'transferLeadership'>;
  clusterId: string;
  /** The cluster secret or the client token: every route needs `Authorization: Bearer <it>`. */
  secret?: string;
  bodyLimit: number;
  /** Where a node is reached (the transport's view: configured, or learned from the log). */
  addressOf: (id: NodeId) => string | undefined;
  /** The leader this node heard from recently (LeaderContact), or null. */
  leaderId: () => NodeId | null;
  /** How long `role: "voter"` waits for the new learner to catch up before it answers 504 (default 10 min; a client that goes away ends the wait sooner). */
  catchUpTimeoutMs?: number;
  /** How often the wait looks at the learner's progress, ms (default 50). */
  catchUpPollMs?: number;
}

const nodeId = z.string().min(1, 'a node id is 1 to 256 characters').max(256, 'a node id is 1 to 256 characters');
const address = z
  .string()
  .regex(HOST_PORT, 'address must be "host:port"')
  .refine((s) => Number(HOST_PORT.exec(s)?.[3]) <= 65535, 'the port is out of range');
const addBody = z.object({ id: nodeId, address: address.optional(), role: z.enum(['learner', 'voter']) }).strict();
const transferBody = z.object({ to: nodeId.optional() }).strict();

/** The methods each route takes (a wrong one is 405 with Allow). */
function allowed(pathname: string): string | undefined {
  if (pathname === MEMBERS_PATH) return 'GET, POST';
  if (pathname.startsWith(`${MEMBERS_PATH}/`)) return 'DELETE';
  if (pathname === TRANSFER_PATH) return 'POST';
  return undefined;
}

/** The membership routes; returns false for any other path. */
export function membershipRoutes(options: MembershipRoutesOptions): (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<boolean> {
  const { node } = options;
  return async (req, res, url) => {
    const allow = allowed(url.pathname);
    if (allow === undefined) return false;
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      if (res.headersSent) return void res.end();
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(JSON.stringify(body));
    };
    try {
      if (!allow.split(', ').includes(req.method ?? '')) {
        req.resume();
        throw new HttpError(405, { error: 'method_not_allowed', allow: allow.split(', ') }, { allow });
      }
      if (options.secret !== undefined && !bearerMatches(req.headers.authorization, options.secret)) {
        req.resume();
        throw new HttpError(401, { error: 'unauthorized', reason: 'this node has a cluster secret: send Authorization: Bearer <secret>' });
      }
      if (url.pathname === MEMBERS_PATH && req.method === 'GET') {
        req.resume();
        send(200, membersView(options));
        return true;
      }
      if (url.pathname === MEMBERS_PATH) {
        const body = parse(addBody, await readJsonBody(req, options.bodyLimit), 'the body is {"id": node id, "address": "host:port", "role": "learner" | "voter"}');
        send(200, await addMember(options, body, closed(res)));
        return true;
      }
      if (url.pathname === TRANSFER_PATH) {
        const body = parse(transferBody, (await readJsonBody(req, options.bodyLimit)) ?? {}, 'the body is {"to": node id} or empty (the most up-to-date voter)');
        send(200, await node.transferLeadership(body.to));
        return true;
      }
      req.resume();
      const id = decodeId(url.pathname.slice(MEMBERS_PATH.length + 1));
      send(200, await node.removeServer(id));
      return true;
    } catch (error) {
      const [status, body] = toHttpError(error, options.addressOf);
      send(status, body, error instanceof HttpError ? error.headers : {});
      return true;
    }
  };
}

export function membersView(options: Pick<MembershipRoutesOptions, 'node' | 'clusterId' | 'addressOf' | 'leaderId'>): MembersView {
  const members = options.node.members();
  const addresses: Record<NodeId, string> = {};
  for (const id of [...members.voters, ...members.learners]) {
    const known = members.addresses?.[id] ?? options.addressOf(id);
    if (known !== undefined) addresses[id] = known;
  }
  return {
    clusterId: options.clusterId,
    voters: [...members.voters],
    learners: [...members.learners],
    addresses,
    index: members.index,
    committed: members.committed,
    leaderId: options.leaderId(),
  };
}

/**
 * POST /admin/members. A new server needs an address (the others reach it there); a learner
 * named again as a voter is only promoted, once caught up.
 */
async function addMember(options: MembershipRoutesOptions, body: z.infer<typeof addBody>, gone: () => boolean): Promise<{ index: LogIndex; term: Term }> {
  const { node } = options;
  const members = node.members();
  const isLearner = members.learners.includes(body.id);
  const known = members.addresses?.[body.id];
  if (isLearner && body.role === 'voter') {
    if (body.address !== undefined && known !== undefined && known !== body.address) {
      throw new InvalidRequestError(`${body.id} is already a learner at ${known}, not ${body.address}: remove it first to move it`);
    }
    return promoteOr504(options, body.id, gone, `${body.id} is a learner`);
  }
  if (body.address === undefined && !members.voters.includes(body.id) && !isLearner) {
    throw new HttpError(400, { error: 'bad_request', reason: `address is missing: the other nodes reach the new server ${body.id} at its "host:port"` });
  }
  const added = await node.addLearner(body.id, body.address !== undefined ? { address: body.address } : {});
  if (body.role === 'learner') return added;
  return promoteOr504(options, body.id, gone, `${body.id} was added as a learner at index ${added.index}`, added);
}

/** Promote once caught up; a learner that does not catch up in time is a 504 that says it stays a learner. */
async function promoteOr504(
  options: MembershipRoutesOptions,
  id: NodeId,
  gone: () => boolean,
  what: string,
  learner?: { index: LogIndex; term: Term },
): Promise<{ index: LogIndex; term: Term }> {
  try {
    return await promoteWhenCaughtUp(options, id, gone);
  } catch (error) {
    if (!(error instanceof CatchUpTimeout)) throw error;
    throw new HttpError(504, {
      error: 'catch_up_timeout',
      reason: `${what} but ${error.message}; it stays a learner: promote it once it has caught up (xstate-raft member promote ${id})`,
      ...(learner !== undefined ? { learner } : {}),
    });
  }
}

/** The learner did not catch up before the deadline (or the client left): answered as 504 catch_up_timeout. */
class CatchUpTimeout extends Error {}

/** Wait until the leader sees `id` caught up (the bound promote checks), then promote it. */
async function promoteWhenCaughtUp(options: MembershipRoutesOptions, id: NodeId, gone: () => boolean): Promise<{ index: LogIndex; term: Term }> {
  const { node } = options;
  const timeout = options.catchUpTimeoutMs ?? 600_000;
  const deadline = Date.now() + timeout;
  for (;;) {
    const status = node.status();
    if (status.role !== 'leader') throw new NotLeaderError(status.leaderId ?? undefined);
    if (caughtUp(node, id)) {
      try {
        return await node.promote(id);
      } catch (error) {
        // Refused while still a learner: it fell behind again between the look and the change.
        if (!(error instanceof InvalidRequestError) || !node.members().learners.includes(id)) throw error;
      }
    }
    if (!node.members().learners.includes(id)) {
      // Removed, or promoted by someone else, meanwhile: nothing left to wait for.
      const { index } = node.members();
      if (node.members().voters.includes(id)) return { index, term: node.actor.getSnapshot().context.log.termAt(index) ?? status.term };
      throw new InvalidRequestError(`${id} is no longer a learner of this cluster (it was removed meanwhile)`);
    }
    if (gone()) throw new CatchUpTimeout('the client went away before it caught up');
    if (Date.now() > deadline) throw new CatchUpTimeout(`it did not catch up within ${timeout} ms`);
    await new Promise((resolve) => setTimeout(resolve, options.catchUpPollMs ?? 50));
  }
}

/** What promote requires of a learner: the leader knows where its log meets its own, and it lags by at most PROMOTE_MAX_LAG. */
function caughtUp(node: Pick<RaftNode, 'actor'>, id: NodeId): boolean {
  const ctx = node.actor.getSnapshot().context;
  const progress = progressOf(ctx, id);
  return progress.mode === 'replicate' && ctx.log.lastIndex - progress.matchIndex <= PROMOTE_MAX_LAG;
}

/** Whether the client has gone (closed the connection before its answer). */
function closed(res: ServerResponse): () => boolean {
  let gone = false;
  res.on('close', () => {
    if (!res.writableFinished) gone = true;
  });
  return () => gone;
}

function decodeId(raw: string): NodeId {
  let id: string;
  try {
    id = decodeURIComponent(raw);
  } catch {
    throw new HttpError(400, { error: 'bad_request', reason: 'the node id is not valid percent-encoding' });
  }
  if (id.length === 0 || id.length > 256) throw new HttpError(400, { error: 'bad_request', reason: 'DELETE /admin/members/<node id>: a node id is 1 to 256 characters' });
  return id;
}

function parse<T>(schema: z.ZodType<T>, body: unknown, shape: string): T {
  const result = schema.safeParse(body);
  if (result.success) return result.data;
  if (body === undefined) throw new HttpError(400, { error: 'bad_request', reason: `the body is empty: ${shape}` });
  const issue = result.error.issues[0];
  const where = issue?.path.length ? `${issue.path.join('.')}: ` : '';
  const what = issue?.code === 'unrecognized_keys' ? `unknown field ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}` : (issue?.message ?? 'invalid');
  const missing = issue?.path.length === 1 && typeof body === 'object' && body !== null && !Object.hasOwn(body, String(issue.path[0]));
  throw new HttpError(400, { error: 'bad_request', reason: `${missing ? `${String(issue?.path[0])} is missing` : `${where}${what}`}: ${shape}` });
}
