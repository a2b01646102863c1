/**
 * How a new, empty server (`xstate-raft node --join <address>`) learns the cluster it joins: it
 * asks any member for GET /admin/members, which names the cluster id (stored in the new data
 * directory) and every member's address (so that the server accepts the leader's messages, and
 * can answer them, before the configuration entry that adds it reaches its log).
 */
import http from 'node:http';
import https from 'node:https';
import type { Logger } from 'pino';
import { RaftError } from '../errors.js';
import { HOST_PORT } from '../transport/http-wire.js';
import { MEMBERS_PATH, type MembersView } from './admin-members.js';

/** The member answered, but not with the cluster (401, 404, not a node): asking again will not help. */
export class JoinError extends RaftError {
  constructor(message: string) {
    super('join_failed', message);
  }
}

export interface AskClusterOptions {
  /** The cluster secret or the client token (the admin routes want it). */
  token?: string;
  /** Reach the member over https, trusting `ca`. */
  tls?: { ca?: string | Buffer };
  logger: Logger;
  /** Pause between attempts, doubling up to 2 s. Default 100 ms. */
  retryMs?: number;
  /** Each attempt's time limit. Default 5 s. */
  attemptTimeoutMs?: number;
}

/**
 * GET /admin/members at `address`, retried until a member answers it with a configuration (it
 * may not be up yet; a member answers from its own view, leader or not; a server still waiting
 * to be added has none). A refusal that asking again will not change (wrong secret, not an
 * xstate-raft node) throws JoinError.
 */
export async function askCluster(address: string, options: AskClusterOptions): Promise<MembersView> {
  if (!HOST_PORT.test(address)) throw new JoinError(`--join ${address}: expected the host:port of a member of the cluster`);
  let pause = options.retryMs ?? 100;
  for (let attempt = 1; ; attempt++) {
    try {
      const { status, body } = await getJson(address, MEMBERS_PATH, options);
      // A server that is itself waiting to be added knows the cluster's id but nobody's address.
      if (status === 200 && isMembersView(body) && body.voters.length > 0) return body;
      if (status === 200 && isMembersView(body)) {
        if (attempt === 1 || attempt % 20 === 0)
          options.logger.warn({ address }, `${address} knows no configuration yet (it is waiting to be added itself): asking again; --join a member`);
        await new Promise((resolve) => setTimeout(resolve, pause));
        pause = Math.min(pause * 2, 2000);
        continue;
      }
      if (status === 401) throw new JoinError(`${address} refused GET ${MEMBERS_PATH} (401): pass the cluster's --secret (or its --client-token)`);
      if (status !== 503)
        throw new JoinError(`${address} answered GET ${MEMBERS_PATH} with ${status} ${JSON.stringify(body).slice(0, 200)}: is it a member of an xstate-raft cluster?`);
      if (attempt === 1 || attempt % 20 === 0) options.logger.info({ address, status }, `waiting for ${address} to answer with the cluster's members`);
    } catch (error) {
      if (error instanceof JoinError) throw error;
      if (attempt === 1 || attempt % 20 === 0) options.logger.warn({ address, err: error }, `cannot reach ${address} yet; retrying`);
    }
    await new Promise((resolve) => setTimeout(resolve, pause));
    pause = Math.min(pause * 2, 2000);
  }
}

function isMembersView(body: unknown): body is MembersView {
  const view = body as Partial<MembersView> | null;
  const ids = (value: unknown) => Array.isArray(value) && value.every((id) => typeof id === 'string');
  return (
    typeof view === 'object' &&
    view !== null &&
    typeof view.clusterId === 'string' &&
    view.clusterId !== '' &&
    ids(view.voters) &&
    ids(view.learners) &&
    typeof view.addresses === 'object' &&
    view.addresses !== null &&
    Object.values(view.addresses).every((a) => typeof a === 'string' && HOST_PORT.test(a))
  );
}

function getJson(address: string, path: string, options: AskClusterOptions): Promise<{ status: number; body: unknown }> {
  const match = HOST_PORT.exec(address) as RegExpExecArray;
  const request = options.tls ? https.request : http.request;
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: match[1] ?? match[2],
        port: Number(match[3]),
        path,
        method: 'GET',
        headers: { accept: 'application/json', ...(options.token !== undefined ? { authorization: `Bearer ${options.token}` } : {}) },
        timeout: options.attemptTimeoutMs ?? 5000,
        ...(options.tls?.ca !== undefined ? { ca: options.tls.ca } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () => {
          let body: unknown;
          try {
            body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          } catch {
            body = undefined;
          }
          resolve({ status: res.statusCode ?? 0, body });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${options.attemptTimeoutMs ?? 5000} ms`)));
    req.on('error', reject);
    req.end();
  });
}
