// How long a request's body may take to arrive, per route. Node's requestTimeout is one value
// for the whole server: small enough to cut slow-body attacks, it would also cut a 4 GiB
// package upload over an ordinary link. So Node's own bound is only the backstop (the upload
// bound) and this hook holds ordinary requests to GAVEL_REQUEST_TIMEOUT_MS; an upload route
// gets GAVEL_UPLOAD_TIMEOUT_MS as long as it keeps moving (a minimum rate over each
// GAVEL_REQUEST_TIMEOUT_MS), so a stalled upload is still cut early.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Socket } from 'node:net';
import { rawResponse } from './connections.js';

export interface BodyDeadlines {
  /** Ordinary requests: the whole body within this (GAVEL_REQUEST_TIMEOUT_MS); also the window of the rate rule. */
  requestTimeoutMs: number;
  /** Upload routes: the whole body within this (GAVEL_UPLOAD_TIMEOUT_MS). */
  uploadTimeoutMs: number;
  /** Upload routes: at least this many bytes a second in every window; 0 = no rate rule (GAVEL_UPLOAD_MIN_BYTES_PER_SEC). */
  uploadMinBytesPerSec: number;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route takes large streamed bodies: the upload deadlines apply to it. */
    upload?: boolean;
  }
}

/** Answers 408 on the request's connection and closes it, as Node does for its own timeout. */
function cut(socket: Socket, message: string): void {
  if (socket.destroyed) return;
  socket.end(rawResponse(408, 'Request Timeout', 'request_timeout', message));
  setTimeout(() => socket.destroy(), 1000).unref();
}

export function registerBodyDeadlines(app: FastifyInstance, d: BodyDeadlines): void {
  const timers = new WeakMap<FastifyRequest, NodeJS.Timeout[]>();
  const clear = (req: FastifyRequest) => {
    for (const t of timers.get(req) ?? []) clearTimeout(t);
    timers.delete(req);
  };

  app.addHook('onRequest', async (req) => {
    const raw = req.raw;
    if (raw.complete) return;
    const socket = raw.socket;
    const give = (message: string) => {
      if (raw.complete) return;
      req.log.info({ bytesRead: socket.bytesRead }, message);
      clear(req);
      cut(socket, message);
    };
    const mine: NodeJS.Timeout[] = [];
    if (!req.routeOptions.config?.upload) {
      mine.push(setTimeout(() => give(`the request body did not arrive within ${d.requestTimeoutMs} ms (GAVEL_REQUEST_TIMEOUT_MS)`), d.requestTimeoutMs));
    } else {
      mine.push(setTimeout(() => give(`the upload did not complete within ${d.uploadTimeoutMs} ms (GAVEL_UPLOAD_TIMEOUT_MS)`), d.uploadTimeoutMs));
      if (d.uploadMinBytesPerSec > 0) {
        // The socket's counter, not a 'data' listener: listening would take the stream from
        // the handler that reads it.
        const least = Math.ceil((d.uploadMinBytesPerSec * d.requestTimeoutMs) / 1000);
        let seen = socket.bytesRead;
        const tick = setInterval(() => {
          const got = socket.bytesRead - seen;
          seen = socket.bytesRead;
          if (got < least) {
            give(`the upload stalled: ${got} bytes in the last ${d.requestTimeoutMs} ms, below ${d.uploadMinBytesPerSec} bytes/s (GAVEL_UPLOAD_MIN_BYTES_PER_SEC)`);
          }
        }, d.requestTimeoutMs);
        mine.push(tick);
      }
    }
    for (const t of mine) t.unref();
    timers.set(req, mine);
    raw.once('close', () => clear(req));
  });
  app.addHook('onResponse', async (req) => clear(req));
}
