// Cluster mode's pure parts, no database or Redis: the configuration rules, and the /v1/run
// relay against real HTTP servers standing in for worker nodes (one refusing connections, one
// draining, one answering).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConfigError, describeConfig, loadConfig } from '../src/config.js';
import { isClusterMode, judges } from '../src/cluster/backends.js';
import { RelayRunService, RelayedClientError } from '../src/cluster/relay.js';
import type { WorkerInfo } from '../src/cluster/registry.js';
import { StoreUnavailableError } from '../src/store/unavailable.js';
import { freePort } from './helpers/ports.js';

const urls = { GAVEL_DATABASE_URL: 'postgres://gavel:s3cret@db:5432/gavel', GAVEL_REDIS_URL: 'redis://:pw@redis:6379' };

describe('cluster configuration', () => {
  it('switches to cluster mode with both URLs, and hides their passwords in the log line', () => {
    const c = loadConfig({ ...urls, GAVEL_ROLE: 'api' });
    assert.ok(isClusterMode(c));
    assert.equal(judges(c), false);
    assert.equal(judges(loadConfig({ ...urls, GAVEL_ROLE: 'worker' })), true);
    assert.equal(judges(loadConfig({})), true, 'single node judges');
    const shown = JSON.stringify(describeConfig(c));
    assert.ok(!shown.includes('s3cret') && !shown.includes(':pw@'), shown);
  });

  it('refuses half a cluster, roles without one, and bad URLs, naming the variable', () => {
    const problem = (env: Record<string, string>) => {
      try { loadConfig(env); } catch (err) { assert.ok(err instanceof ConfigError); return err.message; }
      return assert.fail('accepted');
    };
    assert.match(problem({ GAVEL_DATABASE_URL: urls.GAVEL_DATABASE_URL }), /needs both GAVEL_DATABASE_URL and GAVEL_REDIS_URL/);
    assert.match(problem({ GAVEL_ROLE: 'worker' }), /GAVEL_ROLE=worker needs cluster mode/);
    assert.match(problem({ ...urls, GAVEL_ROLE: 'judge' }), /GAVEL_ROLE/);
    assert.match(problem({ ...urls, GAVEL_DATABASE_URL: 'mysql://x' }), /GAVEL_DATABASE_URL/);
    assert.match(problem({ ...urls, GAVEL_JOB_LOCK_MS: '10' }), /GAVEL_JOB_LOCK_MS/);
  });
});

async function serve(handler: (body: string, res: import('node:http').ServerResponse, auth?: string) => void): Promise<{ server: Server; url: string; hits: number }> {
  const box = { server: undefined as unknown as Server, url: '', hits: 0 };
  box.server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => { body += c.toString(); });
    req.on('end', () => { box.hits++; handler(body, res, req.headers.authorization); });
  });
  await new Promise<void>((r) => box.server.listen(0, '127.0.0.1', r));
  box.url = `http://127.0.0.1:${(box.server.address() as AddressInfo).port}`;
  return box;
}

const worker = (url: string, free: number): WorkerInfo => ({ node: url, url, slots: 4, busy: 4 - free, meanJobMs: 100, at: Date.now() });

describe('/v1/run relay', () => {
  it('skips a worker that refuses connections or is draining, relays the first answer, with the token', async () => {
    const draining = await serve((_b, res) => res.writeHead(503, { 'content-type': 'application/json' }).end('{"error":"shutting_down","message":"draining"}'));
    let sawAuth: string | undefined;
    const ok = await serve((body, res, auth) => {
      sawAuth = auth;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ status: 'OK', stdout: JSON.parse(body).stdin }));
    });
    const dead = `http://127.0.0.1:${await freePort()}`;
    try {
      // Most free slots first: dead (4 free), draining (3), ok (1).
      const relay = new RelayRunService({ workers: async () => [worker(ok.url, 1), worker(dead, 4), worker(draining.url, 3)], token: 't0k', timeoutMs: 5000 });
      const r = await relay.execute({ cmd: ['cat'], stdin: 'hello' }, new AbortController().signal);
      assert.equal(r.stdout, 'hello');
      assert.equal(draining.hits, 1);
      assert.equal(ok.hits, 1);
      assert.equal(sawAuth, 'Bearer t0k');
    } finally {
      draining.server.close();
      ok.server.close();
    }
  });

  it('passes a worker\'s 4xx on (with Retry-After), and answers 503 when no worker is up', async () => {
    const full = await serve((_b, res) => res.writeHead(429, { 'retry-after': '7', 'content-type': 'application/json' })
      .end('{"error":"queue_full","message":"100 runs are already waiting"}'));
    try {
      const relay = new RelayRunService({ workers: async () => [worker(full.url, 0)], timeoutMs: 5000 });
      await assert.rejects(relay.execute({ cmd: ['true'] }, new AbortController().signal), (err: unknown) => {
        assert.ok(err instanceof RelayedClientError);
        assert.equal(err.statusCode, 429);
        assert.equal(err.headers['retry-after'], '7');
        return true;
      });
      const none = new RelayRunService({ workers: async () => [], timeoutMs: 5000 });
      await assert.rejects(none.execute({ cmd: ['true'] }, new AbortController().signal), (err: unknown) => {
        assert.ok(err instanceof StoreUnavailableError);
        assert.match(err.message, /no worker node is up/);
        return true;
      });
    } finally {
      full.server.close();
    }
  });
});
