// Connection-level limits with raw sockets: a body or headers that arrive too slowly get a 408
// while normal traffic is served; idle keep-alive connections are closed; connections past the
// caps get a 503 answer (not a silent drop); CONNECT gets an answer too.
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { describe, test } from 'node:test';
import { request, startTestServer } from './helpers/server.js';

/** A raw connection to `url` and everything it receives until the server closes it. */
function open(url: string): Promise<{ socket: Socket; received: Promise<string>; closed: () => boolean }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    let text = '';
    let isClosed = false;
    const received = new Promise<string>((res) => {
      socket.on('data', (d) => { text += d.toString(); });
      socket.on('close', () => { isClosed = true; res(text); });
      socket.on('error', () => undefined);
    });
    socket.once('connect', () => resolve({ socket, received, closed: () => isClosed }));
    socket.once('error', reject);
  });
}

const within = <T>(p: Promise<T>, ms: number, what: string) => Promise.race([
  p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what} not within ${ms} ms`)), ms).unref()),
]);

describe('timeouts', () => {
  test('slow bodies and slow headers are cut with 408 while other requests are served', async () => {
    const s = await startTestServer({ config: { requestTimeoutMs: 1500, headersTimeoutMs: 800 } });
    try {
      const slowBodies = await Promise.all(Array.from({ length: 6 }, () => open(s.url)));
      for (const c of slowBodies) {
        c.socket.write('POST /v1/submissions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"language"');
      }
      const slowHeaders = await open(s.url);
      slowHeaders.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n');
      // Meanwhile, ordinary requests are answered at once.
      for (let i = 0; i < 5; i++) assert.equal((await request(s.url, 'GET', '/healthz')).status, 200);
      for (const c of [...slowBodies, slowHeaders]) {
        const text = await within(c.received, 8000, 'the 408');
        assert.match(text, /^HTTP\/1\.1 408 /);
        assert.match(text, /"error":"request_timeout"/);
        assert.match(text, /GAVEL_REQUEST_TIMEOUT_MS/);
        assert.ok(c.closed(), 'and the connection is closed');
      }
    } finally {
      await s.close();
    }
  });

  test('keep-alive: idle connections are closed, and a connection serves at most so many requests', async () => {
    const s = await startTestServer({ config: { keepAliveTimeoutMs: 300, maxRequestsPerSocket: 2 } });
    try {
      const c = await open(s.url);
      c.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
      const text = await within(c.received, 5000, 'the idle close');
      assert.match(text, /^HTTP\/1\.1 200 /);
      const d = await open(s.url);
      d.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
      const two = await within(d.received, 5000, 'two answers and the close');
      assert.equal(two.match(/HTTP\/1\.1 200 /g)?.length, 2);
      assert.match(two, /connection: close/i, 'the last one says it closes');
    } finally {
      await s.close();
    }
  });
});

describe('connection caps and CONNECT', () => {
  test('past the total cap a connection gets 503 with Retry-After; room comes back when one closes', async () => {
    const s = await startTestServer({ config: { maxConnections: 4 } });
    try {
      const held = await Promise.all(Array.from({ length: 4 }, () => open(s.url)));
      const extra = await open(s.url);
      const text = await within(extra.received, 5000, 'the refusal');
      assert.match(text, /^HTTP\/1\.1 503 /);
      assert.match(text, /retry-after: 1/i);
      assert.match(text, /"error":"too_many_connections"/);
      assert.match(text, /GAVEL_MAX_CONNECTIONS/);
      held[0].socket.destroy();
      await held[0].received;
      await new Promise((r) => setTimeout(r, 50));
      const ok = await open(s.url);
      ok.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      assert.match(await within(ok.received, 5000, 'the answer'), /^HTTP\/1\.1 200 /);
      for (const h of held.slice(1)) h.socket.destroy();
    } finally {
      await s.close();
    }
  });

  test('the cap per client address', async () => {
    const s = await startTestServer({ config: { maxConnectionsPerClient: 2 } });
    try {
      const held = await Promise.all([open(s.url), open(s.url)]);
      const third = await open(s.url);
      assert.match(await within(third.received, 5000, 'the refusal'), /^HTTP\/1\.1 503 [^]*GAVEL_MAX_CONNECTIONS_PER_CLIENT/);
      for (const h of held) h.socket.destroy();
    } finally {
      await s.close();
    }
  });

  test('CONNECT is answered with 405, not dropped', async () => {
    const s = await startTestServer();
    try {
      const c = await open(s.url);
      c.socket.write('CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n');
      const text = await within(c.received, 5000, 'the answer');
      assert.match(text, /^HTTP\/1\.1 405 /);
      assert.match(text, /"error":"method_not_allowed"/);
      assert.equal((await request(s.url, 'GET', '/healthz')).status, 200, 'the server is fine');
    } finally {
      await s.close();
    }
  });
});
