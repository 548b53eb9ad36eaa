// Thousands of malformed requests (wrong types, huge strings, binary, deep nesting, unknown
// fields, bad headers): never a 5xx, always a JSON {error, message} for 4xx, and the server
// keeps working. Seeded, so a failure names a reproducible case.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { fakeSubmission, request, startTestServer, waitFinished, type TestServer } from './helpers/server.js';

const SEED = Number(process.env.GAVEL_FUZZ_SEED ?? 20240601);
const COUNT = Number(process.env.GAVEL_FUZZ_COUNT ?? 3000);

function prng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Case { method: string; path: string; body?: string | Uint8Array; headers: Record<string, string>; what: string }

/** Yields the cases one at a time (the huge ones are built only when needed). */
function* makeCases(seed: number, count: number): Generator<Case> {
  const rnd = prng(seed);
  const int = (n: number) => Math.floor(rnd() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)];
  const FIELDS = ['language', 'source', 'files', 'tests', 'limits', 'checker', 'interactor', 'stopOnFirstFailure', 'callbackUrl',
    'input', 'expected', 'id', 'group', 'points', 'timeMs', 'memoryBytes', 'kind', 'path', 'content', 'encoding', 'cmd', 'stdin',
    '__proto__', 'constructor', 'prototype', '', 'x'.repeat(300)];
  const STRINGS = ['', 'fake', 'echo', 'throw', 'sleep:1', '\u0000', '\uFFFF', '\uD800', '../../etc/passwd', '/abs', 'ftp://x', 'http://',
    'javascript:alert(1)', '𝕏'.repeat(100), '%00', '\r\n\r\n', '{"a":1}', 'NaN', '-1', '1e309'];
  const scalar = (): unknown => pick<() => unknown>([
    () => int(2) === 0, () => null, () => int(1e6) - 5e5, () => rnd() * 1e300, () => -0, () => 2 ** 53 + 1,
    () => pick(STRINGS), () => 'y'.repeat(int(5000)),
  ])();
  const value = (depth: number): unknown => {
    if (depth <= 0 || rnd() < 0.4) return scalar();
    if (rnd() < 0.5) return Array.from({ length: int(5) }, () => value(depth - 1));
    const o: Record<string, unknown> = {};
    for (let i = int(6); i > 0; i--) o[pick(FIELDS)] = value(depth - 1);
    return o;
  };
  /** A valid submission with one thing changed at a random spot. */
  const mutated = (): unknown => {
    const sub = JSON.parse(JSON.stringify(fakeSubmission('echo', 1 + int(3)))) as Record<string, any>;
    const targets: Array<[Record<string, any>, string]> = [[sub, pick(FIELDS)], [sub.tests[0], pick(FIELDS)], [sub, pick(Object.keys(sub))]];
    if (rnd() < 0.3) sub.limits = { timeMs: 1000 };
    if (rnd() < 0.3) sub.checker = { kind: pick(['exact', 'lines', 'tokens', 'float', 'program', 'magic']) };
    const [obj, key] = pick(targets);
    const op = int(4);
    if (op === 0) delete obj[key];
    else if (op === 1) obj[key] = value(3);
    else if (op === 2) obj[`unknown_${int(100)}`] = value(2);
    else obj[key] = scalar();
    return sub;
  };
  const deep = (n: number) => pick([
    () => '['.repeat(n) + ']'.repeat(n),
    () => '{"a":'.repeat(n) + '1' + '}'.repeat(n),
    () => `{"language":"fake","source":"echo","tests":[{"input":"1","expected":"1"}],"limits":${'['.repeat(n)}${']'.repeat(n)}}`,
    () => '['.repeat(n),
  ])();
  const binary = (n: number) => {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = int(256);
    return b;
  };
  const PATHS = ['/v1/submissions', '/v1/run'];
  const CTYPES = ['application/json', 'application/json; charset=utf-8', 'text/plain', 'application/octet-stream',
    'multipart/form-data; boundary=x', 'application/x-www-form-urlencoded', 'application/json; charset=utf-16', '', 'application/xml', '*/*'];

  for (let i = 0; i < count; i++) {
    const kind = int(10);
    const path = pick(PATHS);
    const json = { 'content-type': 'application/json' };
    if (kind <= 2) {
      yield { method: 'POST', path, body: JSON.stringify(mutated()), headers: json, what: 'mutated submission' };
    } else if (kind === 3) {
      yield { method: 'POST', path, body: JSON.stringify(value(6)), headers: json, what: 'random JSON' };
    } else if (kind === 4) {
      const s = fakeSubmission('echo', 1) as Record<string, any>;
      const field = pick(['source', 'language', 'callbackUrl', 'tests']);
      const big = 'z'.repeat(int(3) === 0 ? 9 * 1024 * 1024 : 200_000 + int(2_000_000));
      if (field === 'tests') s.tests = [{ input: big, expected: big }];
      else s[field] = big;
      yield { method: 'POST', path, body: JSON.stringify(s), headers: json, what: `huge ${field}` };
    } else if (kind === 5) {
      yield { method: 'POST', path, body: binary(int(4096)), headers: { 'content-type': pick(CTYPES) }, what: 'binary' };
    } else if (kind === 6) {
      yield { method: 'POST', path, body: deep(rnd() < 0.05 ? 1_000_000 : pick([10, 1000, 20_000, 100_000])), headers: json, what: 'deep nesting' };
    } else if (kind === 7) {
      const text = JSON.stringify(mutated());
      const broken = pick([
        () => text.slice(0, int(text.length)),
        () => text.replace(/"/g, "'"),
        () => text + 'garbage',
        () => `${text},${text}`,
        () => text.replace(':', '::'),
      ])();
      yield { method: 'POST', path, body: broken, headers: { 'content-type': pick(CTYPES) || 'application/json' }, what: 'broken JSON' };
    } else if (kind === 8) {
      const id = pick(['nope', '%00', '..%2F..%2Fetc', 'x'.repeat(200), '00000000-0000-0000-0000-000000000000', "' OR 1=1 --", '%F0%28%8C%BC']);
      const sub = pick(['', '/events']);
      yield {
        method: pick(['GET', 'DELETE', 'PUT', 'PATCH', 'POST', 'OPTIONS', 'HEAD']), path: `/v1/submissions/${id}${sub}`,
        headers: { 'last-event-id': pick(['', '-1', 'abc', '9'.repeat(40), '1e3', '5']) }, what: 'odd id / method',
      };
    } else {
      yield {
        method: 'POST', path, body: JSON.stringify(mutated()),
        headers: { 'content-type': 'application/json', authorization: pick(['Bearer', 'Basic x', 'Bearer ' + 'a'.repeat(5000)]), 'x-request-id': pick(['', '\t', 'ok-1', 'é'.repeat(10)]) },
        what: 'odd headers',
      };
    }
  }
}

describe('fuzz', () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer({ config: { queueMax: 100_000, bodyLimit: 8 * 1024 * 1024, maxTestsBytes: 4 * 1024 * 1024 } });
  });
  after(async () => { await s.close(); });

  test(`${COUNT} malformed requests: no 5xx, JSON errors, server alive (seed ${SEED})`, async () => {
    const cases = makeCases(SEED, COUNT);
    let index = 0;
    const statuses = new Map<number, number>();
    const failures: string[] = [];
    const timing = new Map<string, number>();
    const worker = async () => {
      for (;;) {
        const step = cases.next();
        if (step.done) return;
        const c = step.value;
        const i = index++;
        let res: Response;
        const t0 = Date.now();
        try {
          res = await fetch(s.url + c.path, { method: c.method, headers: c.headers, body: c.body as BodyInit | undefined });
        } catch (err) {
          failures.push(`#${i} ${c.what}: request failed: ${(err as Error).message}`);
          continue;
        }
        const text = await res.text();
        if (process.env.GAVEL_FUZZ_TIMING) timing.set(c.what, (timing.get(c.what) ?? 0) + Date.now() - t0);
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        if (res.status >= 500) failures.push(`#${i} ${c.what} ${c.method} ${c.path}: ${res.status} ${text.slice(0, 200)}`);
        if (res.status >= 400 && c.method !== 'HEAD') {
          let body: any;
          try { body = JSON.parse(text); } catch { /* checked below */ }
          if (typeof body?.error !== 'string' || typeof body?.message !== 'string') {
            failures.push(`#${i} ${c.what}: ${res.status} without a JSON {error, message}: ${text.slice(0, 200)}`);
          }
        }
      }
    };
    await Promise.all(Array.from({ length: Number(process.env.GAVEL_FUZZ_CONC ?? 16) }, worker));
    assert.deepEqual(failures.slice(0, 20), [], `${failures.length} bad answers`);
    const summary = Object.fromEntries([...statuses].sort((a, b) => a[0] - b[0]));
    if (process.env.GAVEL_FUZZ_TIMING) console.log(summary, Object.fromEntries(timing));
    // The generator must actually reach the interesting answers.
    for (const code of [400, 404, 413, 415]) assert.ok(statuses.has(code), `no ${code} in ${JSON.stringify(summary)}`);

    assert.equal((await request(s.url, 'GET', '/healthz')).status, 200);
    const ok = await request(s.url, 'POST', '/v1/submissions', fakeSubmission('echo', 2));
    assert.equal(ok.status, 202);
    assert.equal((await waitFinished(s.url, ok.body.id)).verdict, 'AC');
  });
});
