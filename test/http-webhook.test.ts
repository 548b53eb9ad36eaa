// Callbacks against a local receiver on 127.0.0.1: signature, retries with backoff after a hang
// and an error, a dead endpoint never blocking judging, and pending callbacks resumed after a
// restart.
import assert from 'node:assert/strict';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { rmSync } from 'node:fs';
import { describe, test } from 'node:test';
import { sign } from '../src/webhook.js';
import { fakeSubmission, request, startTestServer, tempDir, until, waitFinished } from './helpers/server.js';

interface Hit { headers: IncomingMessage['headers']; body: string; answered: number | 'hang' }

/** An HTTP receiver whose n-th answer is given by `plan` (a status, or 'hang' to never answer). */
async function receiver(plan: (n: number) => number | 'hang') {
  const hits: Hit[] = [];
  const hanging: ServerResponse[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const answer = plan(hits.length);
      hits.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), answered: answer });
      if (answer === 'hang') hanging.push(res);
      else res.writeHead(answer).end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  return {
    hits, url,
    async close() {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

const verify = (secret: string, body: string, header: string | string[] | undefined) => {
  const want = Buffer.from(`sha256=${createHmac('sha256', secret).update(body).digest('hex')}`);
  const got = Buffer.from(String(header ?? ''));
  return want.length === got.length && timingSafeEqual(want, got);
};

describe('webhooks', () => {
  test('sign() is sha256=<hex HMAC-SHA256>', () => {
    assert.equal(sign('key', 'The quick brown fox jumps over the lazy dog'),
      'sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8');
  });

  test('the final result is POSTed, signed, and retried after a hang and an error', async () => {
    const rx = await receiver((n) => (n === 0 ? 'hang' : n === 1 ? 503 : 200));
    const s = await startTestServer({ config: { webhookSecret: 'whsec_test', webhookBackoffMs: 50, webhookAttempts: 5, webhookTimeoutMs: 300 } });
    try {
      const r = await request(s.url, 'POST', '/v1/submissions', fakeSubmission('echo', 2, { callbackUrl: rx.url }));
      assert.equal(r.status, 202);
      const done = await waitFinished(s.url, r.body.id);
      await until(() => rx.hits.length >= 3, 10_000, 'three delivery attempts');
      assert.deepEqual(rx.hits.map((h) => h.answered), ['hang', 503, 200]);
      for (const [i, hit] of rx.hits.entries()) {
        assert.equal(hit.headers['content-type'], 'application/json');
        assert.equal(hit.headers['x-gavel-submission'], r.body.id);
        assert.equal(hit.headers['x-gavel-attempt'], String(i + 1));
        assert.ok(verify('whsec_test', hit.body, hit.headers['x-gavel-signature']), 'signature matches the body');
        assert.ok(!verify('wrong-secret', hit.body, hit.headers['x-gavel-signature']));
      }
      const payload = JSON.parse(rx.hits[2].body);
      assert.equal(payload.id, r.body.id);
      assert.equal(payload.status, 'finished');
      assert.equal(payload.verdict, 'AC');
      assert.deepEqual(payload, done, 'the body is the final submission, as GET shows it');
      await until(async () => (await s.store.get(r.body.id))?.callbackState === 'delivered', 5000, 'delivered state');
      assert.equal(rx.hits.length, 3, 'no more attempts after success');
    } finally {
      await s.close();
      await rx.close();
    }
  });

  test('a dead endpoint never blocks judging; it is given up after the configured attempts', async () => {
    const dead = await receiver(() => 200);
    const deadUrl = dead.url;
    await dead.close(); // nothing listens there any more
    const s = await startTestServer({ config: { webhookSecret: 'x', webhookBackoffMs: 20, webhookAttempts: 3 } });
    try {
      const withHook = await request(s.url, 'POST', '/v1/submissions', fakeSubmission('echo', 1, { callbackUrl: deadUrl }));
      const plain = await request(s.url, 'POST', '/v1/submissions', fakeSubmission('echo', 1));
      assert.equal((await waitFinished(s.url, withHook.body.id)).verdict, 'AC');
      assert.equal((await waitFinished(s.url, plain.body.id)).verdict, 'AC');
      await until(async () => (await s.store.get(withHook.body.id))?.callbackState === 'failed', 10_000, 'failed state');
      assert.equal((await s.store.get(withHook.body.id))?.callbackAttempts, 3);
      const metrics = (await request(s.url, 'GET', '/metrics')).text;
      assert.match(metrics, /gavel_webhook_attempts_total\{outcome="failed"\} 1/);
      assert.match(metrics, /gavel_webhook_attempts_total\{outcome="retry"\} 2/);
    } finally {
      await s.close();
    }
  });

  test('callbacks still pending at shutdown are delivered by the next process', async () => {
    let up = false;
    const rx = await receiver(() => (up ? 200 : 500));
    const dataDir = tempDir();
    try {
      const cfg = { webhookSecret: 'k', webhookBackoffMs: 60_000, webhookAttempts: 5 };
      let s = await startTestServer({ dataDir, config: cfg });
      const r = await request(s.url, 'POST', '/v1/submissions', fakeSubmission('echo', 1, { callbackUrl: rx.url }));
      await waitFinished(s.url, r.body.id);
      await until(async () => (await s.store.get(r.body.id))?.callbackAttempts === 1, 5000, 'the first (failing) attempt');
      await s.close(); // the retry was a minute away: still pending
      up = true;
      s = await startTestServer({ dataDir, config: cfg });
      try {
        await until(() => rx.hits.length === 2, 10_000, 'delivery after restart');
        assert.equal(rx.hits[1].headers['x-gavel-attempt'], '2');
        assert.ok(verify('k', rx.hits[1].body, rx.hits[1].headers['x-gavel-signature']));
        assert.equal(JSON.parse(rx.hits[1].body).verdict, 'AC');
        await until(async () => (await s.store.get(r.body.id))?.callbackState === 'delivered', 5000, 'delivered');
      } finally {
        await s.close();
      }
    } finally {
      await rx.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  test('only http(s) callback URLs are accepted', async () => {
    const s = await startTestServer();
    try {
      for (const callbackUrl of ['file:///etc/passwd', 'ftp://127.0.0.1/x', 'javascript:alert(1)']) {
        const r = await request(s.url, 'POST', '/v1/submissions', fakeSubmission('echo', 1, { callbackUrl }));
        assert.equal(r.status, 400, callbackUrl);
        assert.equal(r.body.error, 'invalid_callback_url');
      }
    } finally {
      await s.close();
    }
  });
});
