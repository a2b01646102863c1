/**
 * What both ends of the HTTP transport agree on: the two peer paths, the "host:port" form of a
 * peer address, and the error for an HTTP status other than success. The protocol itself is
 * described at the top of http.ts.
 */
import { TransportError } from './transport.js';

export const MESSAGES_PATH = '/raft/messages';
export const FORWARD_PATH = '/raft/forward';

/** "host:port" or "[ipv6]:port": group 1 or 2 is the host, group 3 the port. */
export const HOST_PORT = /^(?:\[([0-9a-fA-F:.]+)\]|([^\s:/[\]@]+)):(\d{1,5})$/;

/** A peer answered with (or this server refused) an HTTP status other than success. */
export class HttpStatusError extends TransportError {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(`HTTP ${status}: ${message}`);
    this.name = 'HttpStatusError';
  }
}
