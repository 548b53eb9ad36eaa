// Connection-level limits of the HTTP server, below Fastify: how many connections at once (in
// total and per client address), and an answer for requests Fastify never sees (CONNECT, and
// protocol errors such as a request that is not complete in time). Every one of them gets an
// HTTP answer in the service's JSON error shape, then the connection is closed.
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';

export interface ConnectionLimits {
  /** Connections open at once, in total (GAVEL_MAX_CONNECTIONS). */
  maxConnections: number;
  /** Connections open at once from one address; 0 = no per-client cap (GAVEL_MAX_CONNECTIONS_PER_CLIENT). */
  maxPerClient: number;
}

/** A complete HTTP/1.1 response with a JSON `{error, message}` body that closes the connection. */
export function rawResponse(status: number, reason: string, error: string, message: string, headers: Record<string, string> = {}): string {
  const body = JSON.stringify({ error, message });
  const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
  return `HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\n`
    + `connection: close\r\n${extra}\r\n${body}`;
}

/** Refuses connections past the caps with a 503 (and Retry-After) instead of taking them. */
export function limitConnections(server: Server, limits: ConnectionLimits, log: Logger): void {
  let open = 0;
  const perClient = new Map<string, number>();
  // Ahead of Node's own listener, so a refused connection never reaches the HTTP parser.
  server.prependListener('connection', (socket: Socket) => {
    const client = socket.remoteAddress ?? '?';
    const mine = perClient.get(client) ?? 0;
    const tooMany = open >= limits.maxConnections
      ? `the server has ${open} connections open, its cap (GAVEL_MAX_CONNECTIONS)`
      : limits.maxPerClient > 0 && mine >= limits.maxPerClient
        ? `${client} has ${mine} connections open, the cap per client (GAVEL_MAX_CONNECTIONS_PER_CLIENT)`
        : undefined;
    if (tooMany) {
      log.warn({ client, open }, 'connection refused: too many open');
      socket.end(rawResponse(503, 'Service Unavailable', 'too_many_connections', `${tooMany}; close some or retry later`, { 'retry-after': '1' }));
      // Let the answer go out, then make sure the socket does not linger.
      setTimeout(() => socket.destroy(), 1000).unref();
      return;
    }
    open++;
    perClient.set(client, mine + 1);
    socket.once('close', () => {
      open--;
      const n = (perClient.get(client) ?? 1) - 1;
      if (n > 0) perClient.set(client, n);
      else perClient.delete(client);
    });
  });
}

/** CONNECT is not something this server does: answer 405 rather than dropping the connection. */
export function refuseConnect(server: Server): void {
  server.on('connect', (_req, socket: Duplex) => {
    socket.end(rawResponse(405, 'Method Not Allowed', 'method_not_allowed', 'CONNECT is not supported: this is not a proxy', { allow: 'GET, POST, DELETE' }));
  });
}

/** Fastify's clientErrorHandler: protocol-level failures as JSON errors, not bare 400s. */
export function clientErrorHandler(requestTimeoutMs: number, uploadTimeoutMs: number) {
  return (err: NodeJS.ErrnoException, socket: Duplex): void => {
    if (err.code === 'ECONNRESET' || socket.destroyed) return;
    let answer: string;
    if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
      answer = rawResponse(408, 'Request Timeout', 'request_timeout',
        `the request did not arrive in time: its headers within GAVEL_HEADERS_TIMEOUT_MS, its body within ${requestTimeoutMs} ms (GAVEL_REQUEST_TIMEOUT_MS; uploads ${uploadTimeoutMs} ms, GAVEL_UPLOAD_TIMEOUT_MS)`);
    } else if (err.code === 'HPE_HEADER_OVERFLOW') {
      answer = rawResponse(431, 'Request Header Fields Too Large', 'headers_too_large', 'the request headers are larger than the server accepts');
    } else {
      answer = rawResponse(400, 'Bad Request', 'bad_request', `the request is not valid HTTP/1.1 (${err.code ?? err.message})`);
    }
    if (socket.writable) socket.end(answer);
    else socket.destroy();
  };
}
