// The schemas' own edge values, fed to every route of a service with the real judge: every
// field of a few complete requests replaced, one at a time, by its limits and just past them
// (lengths in characters and in bytes, minimums and maximums, numbers that overflow, NUL bytes,
// paths that escape or collide, wrong types). Nothing a client sends may give a 5xx; what is
// accepted must be judged without the judge failing, and runs must not be sandbox errors.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createJudge } from '../src/judge/index.js';
import { RunRequest, Submission, type Judge } from '../src/judge/schema.js';
import { request, startTestServer, waitFinished, type JsonResponse, type TestServer } from './helpers/server.js';

type Schema = Record<string, any>;

/** Values at and past the edges of what `schema` allows (and a few of the wrong type). */
function edges(schema: Schema): unknown[] {
  if (schema.anyOf) return [...schema.anyOf.flatMap((s: Schema) => edges(s)), 'bogus', null];
  if ('const' in schema) return [schema.const];
  switch (schema.type) {
    case 'string': {
      const max = schema.maxLength ?? 300;
      return ['', 'x'.repeat(max), 'x'.repeat(max + 1), 'é'.repeat(max), '\u{1F600}'.repeat(Math.min(max, 200)),
        'a\0b', '../x', '/abs', 'a/b', 'a\\b', './a', 'a//b', ' ', 42, null];
    }
    case 'integer':
    case 'number': {
      const min = schema.minimum ?? 0;
      const out: unknown[] = [min, min - 1, min + 0.5, 2 ** 31, 2 ** 53, 2 ** 53 + 2, 1e308, -1e308, -0, 0, '1', null];
      if (schema.maximum !== undefined) out.push(schema.maximum, schema.maximum + 1);
      return out;
    }
    case 'boolean': return [true, false, 'true', 0];
    case 'array': return [[], 'x', null, {}];
    case 'object': return [{}, [], null, 'x'];
    default: return [null];
  }
}

/** Copies of `base` with one value replaced by each edge of its schema, everywhere in it. */
function variants(schema: Schema, base: unknown): unknown[] {
  const out: unknown[] = edges(schema).map((v) => v);
  if (schema.type === 'object' && base && typeof base === 'object' && !Array.isArray(base)) {
    const obj = base as Record<string, unknown>;
    for (const [key, sub] of Object.entries<Schema>(schema.properties ?? {})) {
      if (key in obj) {
        for (const v of variants(sub, obj[key])) out.push({ ...obj, [key]: v });
        // Without it: fine when optional, a 400 naming it when required.
        out.push(Object.fromEntries(Object.entries(obj).filter(([k]) => k !== key)));
      }
    }
    out.push({ ...obj, unknownField: 1 });
    const pattern = schema.patternProperties ? Object.values<Schema>(schema.patternProperties)[0] : undefined;
    if (pattern) {
      // A record (RunRequest.files): edge keys, edge values, colliding keys in both orders.
      for (const k of edges(schema.propertyNames ?? { type: 'string', maxLength: 255 })) if (typeof k === 'string') out.push({ [k]: 'x' });
      for (const v of edges(pattern)) out.push({ a: v });
      out.push({ a: '', 'a/b': '' }, { 'a/b': '', a: '' }, Object.fromEntries(Array.from({ length: (schema.maxProperties ?? 64) + 1 }, (_, i) => [`f${i}`, ''])));
    }
  }
  if (schema.type === 'array' && Array.isArray(base) && base.length) {
    for (const v of variants(schema.items, base[0])) out.push([v, ...base.slice(1)]);
    if (schema.maxItems !== undefined) {
      out.push(Array.from({ length: schema.maxItems }, () => base[0]), Array.from({ length: schema.maxItems + 1 }, () => base[0]));
    }
    if (schema.items?.properties?.path) {
      const f = (path: string) => ({ ...(base[0] as object), path, entry: false });
      out.push([base[0], f('a'), f('a/b')], [base[0], f('a/b'), f('a')], [base[0], f('a'), f('a')], [base[0], f('main.py')]);
    }
  }
  return out;
}

/** Replaces `key` of `base` by each variant (schema = the property's schema). */
function field(base: Record<string, unknown>, schema: Schema, key: string): unknown[] {
  return variants(schema.properties[key], base[key]).map((v) => ({ ...base, [key]: v }));
}

function all(schema: Schema, base: Record<string, unknown>): unknown[] {
  return Object.keys(base).flatMap((k) => field(base, schema, k));
}

const PY_ECHO = 'print(input())';
const tests = [{ id: 't1', input: '1\n', expected: '1', group: 'g', points: 1 }];
const limits = { timeMs: 2000, wallTimeMs: 5000, memoryBytes: 128 << 20, outputBytes: 1 << 20, processes: 4 };
const submissionBases: Array<Record<string, unknown>> = [
  { language: 'python3', source: PY_ECHO, tests, limits, checker: { kind: 'float', absError: 1e-6, relError: 1e-6 }, stopOnFirstFailure: false, callbackUrl: 'http://127.0.0.1:9/hook' },
  { language: 'python3', files: [{ path: 'main.py', content: PY_ECHO, encoding: 'utf8', entry: true }, { path: 'lib/util.py', content: '' }], tests },
  { language: 'python3', source: PY_ECHO, tests, checker: { kind: 'program', language: 'python3', source: 'import sys\nsys.exit(0)' } },
  { language: 'python3', source: PY_ECHO, tests, checker: { kind: 'program', language: 'python3', files: [{ path: 'check.py', content: 'pass', entry: true }] } },
];
const runBases: Array<Record<string, unknown>> = [
  { cmd: ['/bin/cat', 'in.txt'], stdin: 'hi', files: { 'in.txt': 'x', 'dir/more.txt': 'y' }, limits },
  { language: 'python3', source: 'print(1)', stdin: '', limits },
];

describe('schema edge values on every route', () => {
  let judge: Judge;
  let s: TestServer;
  const accepted: string[] = [];
  before(async () => {
    judge = await createJudge({ poolSize: 2, name: `gavel-edges-${process.pid}`, uidBase: 64200 });
    s = await startTestServer({ judge, config: { webhookAttempts: 1, webhookTimeoutMs: 500, queueMax: 5000 } });
  });
  after(async () => {
    await s?.close();
    await judge?.close();
  });

  const check = (what: string, r: JsonResponse) => {
    assert.ok(r.status < 500, `${what}: ${r.status} ${r.text.slice(0, 300)}`);
    if (r.status >= 400) {
      assert.equal(typeof r.body?.error, 'string', `${what}: JSON error body, got ${r.text.slice(0, 200)}`);
      assert.equal(typeof r.body?.message, 'string', what);
    }
  };

  test('POST /v1/submissions', async () => {
    const bodies = submissionBases.flatMap((b) => all(Submission as Schema, b));
    let i = 0;
    for (const body of bodies) {
      const r = await request(s.url, 'POST', '/v1/submissions', body);
      check(`submission #${i++} ${JSON.stringify(body).slice(0, 200)}`, r);
      if (r.status === 202) accepted.push(r.body.id);
    }
    assert.ok(accepted.length > 10 && accepted.length < bodies.length, `some accepted, some refused (${accepted.length}/${bodies.length})`);
  });

  test('POST /v1/run', async () => {
    const bodies = runBases.flatMap((b) => all(RunRequest as Schema, b));
    for (const body of bodies) {
      const r = await request(s.url, 'POST', '/v1/run', body);
      check(`run ${JSON.stringify(body).slice(0, 200)}`, r);
      // A command that cannot be executed (it does not exist in the sandbox) is the client's
      // mistake: an RE with a shell's exit code and the reason. No SE: that would be the
      // sandbox failing on what the client sent.
      assert.notEqual(r.body.status, 'SE', `a sandbox error for ${JSON.stringify(body).slice(0, 200)}: ${r.body.error}`);
      if (r.status === 200 && r.body.error !== undefined) {
        assert.equal(r.body.status, 'RE');
        assert.match(r.body.error, /^cannot execute .*: E[A-Z]+$/);
        assert.ok([126, 127].includes(r.body.exitCode), `exit code ${r.body.exitCode}`);
      }
    }
  });

  test('POST /v1/run of a missing command: RE 127, not counted as a sandbox error', async () => {
    const r = await request(s.url, 'POST', '/v1/run', { cmd: ['/nope'] });
    assert.equal(r.status, 200);
    assert.equal(r.body.status, 'RE');
    assert.equal(r.body.exitCode, 127);
    assert.equal(r.body.error, 'cannot execute /nope: ENOENT');
    const metrics = await (await fetch(`${s.url}/metrics`)).text();
    assert.doesNotMatch(metrics, /^gavel_sandbox_errors_total\{kind="run"\}/m);
  });

  test('ids, Last-Event-ID and the other routes', async () => {
    const ids = ['', 'x'.repeat(64), 'x'.repeat(65), '%00', '..', '%2e%2e%2f', 'é'.repeat(64), '%F0%9F%98%80', accepted[0] ?? 'none'];
    const lastIds = ['', '0', '-1', '1.5', 'x', '9'.repeat(15), '9'.repeat(16), '9'.repeat(32), '9'.repeat(33), '1e308'];
    for (const id of ids) {
      for (const [method, path] of [['GET', `/v1/submissions/${id}`], ['DELETE', `/v1/submissions/${id}`]] as const) {
        check(`${method} ${path}`, await request(s.url, method, path));
      }
      for (const last of lastIds) {
        const q = await fetch(`${s.url}/v1/submissions/${id}/events?lastEventId=${encodeURIComponent(last)}`, { signal: AbortSignal.timeout(30_000) });
        assert.ok(q.status < 500, `events ${id} ?lastEventId=${last}: ${q.status}`);
        await q.body?.cancel();
        const h = await fetch(`${s.url}/v1/submissions/${id}/events`, { headers: { 'last-event-id': last }, signal: AbortSignal.timeout(30_000) });
        assert.ok(h.status < 500, `events ${id} Last-Event-ID ${last}: ${h.status}`);
        await h.body?.cancel();
      }
    }
    for (const path of ['/v1/languages', '/healthz', '/readyz', '/metrics', '/openapi.yaml', '/v1', '/v1/', '/v1/run', '/nope']) {
      const r = await request(s.url, 'GET', path);
      assert.ok(r.status < 500, `GET ${path}: ${r.status}`);
    }
  });

  test('everything accepted is judged without the judge failing', async () => {
    for (const id of accepted) {
      const done = await waitFinished(s.url, id, 180_000);
      assert.equal(done.status, 'finished');
      assert.ok(!/^judge failed/.test(done.error ?? ''), `${id} ended with ${done.verdict}: ${done.error}`);
    }
  });
});
