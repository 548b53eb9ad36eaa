// Bearer-token auth: off by default; with GAVEL_TOKENS every /v1 route needs a token, and
// /metrics and the health routes only when configured to.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { EventSource } from 'eventsource';
import { fakeSubmission, request, startTestServer, waitFinished, type TestServer } from './helpers/server.js';

describe('auth off (no GAVEL_TOKENS)', () => {
  let s: TestServer;
  before(async () => { s = await startTestServer(); });
  after(async () => { await s.close(); });

  test('every route answers without a token', async () => {
    assert.equal((await request(s.url, 'GET', '/v1/languages')).status, 200);
    assert.equal((await request(s.url, 'POST', '/v1/submissions', fakeSubmission())).status, 202);
    assert.equal((await request(s.url, 'GET', '/metrics')).status, 200);
    assert.equal((await request(s.url, 'GET', '/readyz')).status, 200);
  });
});

describe('auth on', () => {
  let s: TestServer;
  const good = { authorization: 'Bearer s3cret-one' };
  before(async () => { s = await startTestServer({ config: { tokens: ['s3cret-one', 'other-token'] } }); });
  after(async () => { await s.close(); });

  test('/v1 routes need a valid bearer token: 401 JSON otherwise', async () => {
    for (const [method, path, body] of [
      ['GET', '/v1/languages'], ['POST', '/v1/submissions', fakeSubmission()], ['POST', '/v1/run', { cmd: ['true'] }],
      ['GET', '/v1/submissions/x'], ['DELETE', '/v1/submissions/x'], ['GET', '/v1/submissions/x/events'], ['GET', '/v1/nope'],
    ] as Array<[string, string, unknown?]>) {
      for (const headers of [{}, { authorization: 'Bearer wrong' }, { authorization: 'Basic czNjcmV0LW9uZQ==' }, { authorization: 'Bearer' }] as Array<Record<string, string>>) {
        const r = await request(s.url, method, path, body, headers);
        assert.equal(r.status, 401, `${method} ${path} ${JSON.stringify(headers)}`);
        assert.equal(r.body.error, 'unauthorized');
        assert.match(r.body.message, /Bearer/);
        assert.match(r.headers.get('www-authenticate') ?? '', /^Bearer/);
      }
    }
  });

  test('with a token everything works, including the event stream', async () => {
    assert.equal((await request(s.url, 'GET', '/v1/languages', undefined, good)).status, 200);
    assert.equal((await request(s.url, 'GET', '/v1/languages', undefined, { authorization: 'bearer other-token' })).status, 200);
    const r = await request(s.url, 'POST', '/v1/submissions', fakeSubmission(), good);
    assert.equal(r.status, 202);
    assert.equal((await waitFinished(s.url, r.body.id, 10_000, good)).verdict, 'AC');
    const verdict = await new Promise<any>((resolve, reject) => {
      const es = new EventSource(`${s.url}/v1/submissions/${r.body.id}/events`, {
        fetch: (url, init) => fetch(url, { ...init, headers: { ...init?.headers, ...good } }),
      });
      es.addEventListener('verdict', (e) => { es.close(); resolve(JSON.parse(e.data)); });
      es.onerror = (e) => { es.close(); reject(new Error(`stream failed: ${e.message ?? e.code}`)); };
    });
    assert.equal(verdict.verdict, 'AC');
  });

  test('metrics, health and the OpenAPI document stay open by default', async () => {
    assert.equal((await request(s.url, 'GET', '/metrics')).status, 200);
    assert.equal((await request(s.url, 'GET', '/healthz')).status, 200);
    assert.equal((await request(s.url, 'GET', '/readyz')).status, 200);
    assert.equal((await request(s.url, 'GET', '/openapi.yaml')).status, 200);
  });
});

describe('auth on for metrics and health too', () => {
  let s: TestServer;
  before(async () => { s = await startTestServer({ config: { tokens: ['t0k'], authMetrics: true, authHealth: true } }); });
  after(async () => { await s.close(); });

  test('they need the token when configured', async () => {
    for (const path of ['/metrics', '/healthz', '/readyz']) {
      assert.equal((await request(s.url, 'GET', path)).status, 401, path);
      assert.equal((await request(s.url, 'GET', path, undefined, { authorization: 'Bearer t0k' })).status, 200, path);
    }
  });
});
