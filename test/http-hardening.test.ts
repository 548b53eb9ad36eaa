// Input hardening: deeply nested JSON bodies are refused before parsing (the rest is
// Fastify's parser, prototype-poisoning keys refused), and callback hosts can be restricted.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { jsonDepth, MAX_JSON_DEPTH } from '../routes/json.js';
import { fakeSubmission, request, startTestServer, type TestServer } from './helpers/server.js';

test('jsonDepth counts nesting and ignores brackets inside strings', () => {
  assert.equal(jsonDepth('1'), 0);
  assert.equal(jsonDepth('{"a":[1,{"b":2}]}'), 3);
  assert.equal(jsonDepth('{"a":"[[[[{{{{"}'), 1);
  assert.equal(jsonDepth('["\\"[[[", [[]]]'), 3);
  assert.equal(jsonDepth('['.repeat(1000), 10), 11, 'stops early past the limit');
});

let server: TestServer;
before(async () => {
  server = await startTestServer();
});
after(async () => {
  await server.close();
});

test('a body nested past the limit is a 400 naming the limit', async () => {
  const deep = '['.repeat(1_000_000) + ']'.repeat(1_000_000);
  const r = await request(server.url, 'POST', '/v1/submissions', deep);
  assert.equal(r.status, 400);
  assert.equal(r.body.error, 'invalid_json');
  assert.match(r.body.message, new RegExp(`${MAX_JSON_DEPTH} levels`));
});

test('ordinary bodies still parse; prototype poisoning is refused', async () => {
  const ok = await request(server.url, 'POST', '/v1/submissions', fakeSubmission());
  assert.equal(ok.status, 202);
  const poisoned = await request(server.url, 'POST', '/v1/submissions', '{"language":"c","__proto__":{"x":1},"tests":[]}');
  assert.equal(poisoned.status, 400);
});

test('callback hosts: exact names and *.suffix patterns', async () => {
  const { callbackHostAllowed } = await import('../routes/checks.js');
  const allowed = ['judge.example.com', '*.hooks.example.org'];
  assert.ok(callbackHostAllowed('judge.example.com', allowed));
  assert.ok(callbackHostAllowed('JUDGE.example.com.', allowed));
  assert.ok(callbackHostAllowed('a.hooks.example.org', allowed));
  assert.ok(!callbackHostAllowed('hooks.example.org', allowed));
  assert.ok(!callbackHostAllowed('evilhooks.example.org', allowed));
  assert.ok(!callbackHostAllowed('127.0.0.1', allowed));
  assert.ok(!callbackHostAllowed('169.254.169.254', allowed));
});

test('GAVEL_CALLBACK_HOSTS refuses callbacks to other hosts with a 400', async () => {
  const s = await startTestServer({ config: { callbackHosts: ['hooks.example.org'] } });
  try {
    const bad = await request(s.url, 'POST', '/v1/submissions', fakeSubmission('echo', 1, { callbackUrl: 'http://169.254.169.254/latest' }));
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error, 'callback_host_not_allowed');
    assert.match(bad.body.message, /GAVEL_CALLBACK_HOSTS/);
    const good = await request(s.url, 'POST', '/v1/submissions', fakeSubmission('echo', 1, { callbackUrl: 'https://hooks.example.org/gavel' }));
    assert.equal(good.status, 202);
  } finally {
    await s.close();
  }
});
