// Problems on PostgreSQL (cluster mode's registry and chunked test data), against a real server
// started for this file: version numbering and import locks as the SQLite registry has them,
// blobs larger than a chunk written once and read back by another node through its own cache,
// the cache's size cap, and sweeping.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PostgresStore } from '../src/store/postgres.js';
import { PostgresProblemStore } from '../src/problems/postgres.js';
import { PgBlobStore } from '../src/problems/pg-blobs.js';
import { ImportBusyError, type StoredVersion } from '../src/problems/store.js';
import type { ProblemMeta } from '../src/problems/types.js';
import { TestPostgres } from './helpers/pg.js';

const meta = (name: string) => ({
  name, format: '2023-07', type: 'pass-fail', interactive: false, validation: 'default', timeLimitMs: 1000,
  timeLimitFrom: 'problem.yaml', memoryBytes: 256 << 20, outputBytes: 8 << 20, validationLimits: { timeMs: 1000, memoryBytes: 1 << 30, outputBytes: 8 << 20 },
  validators: [], includes: {}, groups: [{ name: 'secret', validatorArgs: [], aggregation: 'sum', acceptScore: 1, stopOnReject: false }],
  tests: [{ name: 'secret/1', group: 'secret', input: 'data/secret/1.in', answer: 'data/secret/1.ans', inputBytes: 2, answerBytes: 2 }],
  submissions: [],
}) as unknown as ProblemMeta;

const version = (name: string, blobs: Record<string, string> = {}): Omit<StoredVersion, 'id' | 'version'> =>
  ({ meta: meta(name), blobs, bytes: 4, createdAt: Date.now() });

describe('problems on PostgreSQL (real server)', () => {
  let pg: TestPostgres;
  let store: PostgresStore;
  let problems: PostgresProblemStore;
  const dir = mkdtempSync(join(tmpdir(), `gavel-pgblobs-${process.pid}-`));

  before(async () => {
    pg = await TestPostgres.start();
    store = await PostgresStore.open({ url: pg.url });
    problems = new PostgresProblemStore(store.pool, (text, values) => store.query(text, values));
  });

  after(async () => {
    await store?.close().catch(() => undefined);
    await pg?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('numbers versions per id, locks imports, commits in one step, never reuses a number', async () => {
    const t1 = await problems.begin('aplusb');
    await assert.rejects(problems.begin('aplusb'), ImportBusyError);
    assert.equal(await problems.importing('aplusb'), true);
    assert.deepEqual(await problems.commit(t1, version('A+B')), { created: true });
    const t2 = await problems.begin('aplusb');
    assert.equal(t2.version, 2);
    await problems.abort(t2);
    const t3 = await problems.begin('aplusb');
    assert.equal(t3.version, 3, 'an aborted version number is not reused');
    assert.deepEqual(await problems.commit(t3, version('A+B v3', { 'data/secret/1.in': 'a'.repeat(64) })), { created: false });
    assert.equal((await problems.current('aplusb'))?.version, 3);
    assert.equal((await problems.version('aplusb', 1))?.meta.name, 'A+B');
    assert.deepEqual((await problems.list()).map((p) => [p.id, p.version, p.tests]), [['aplusb', 3, 1]]);
    assert.deepEqual([...(await problems.referencedBlobs())], ['a'.repeat(64)]);
    assert.equal(await problems.delete('aplusb'), true);
    assert.equal(await problems.current('aplusb'), undefined);
    const t4 = await problems.begin('aplusb');
    assert.equal(t4.version, 4, 'numbers go on after a delete');
    await problems.abort(t4);
  });

  it('clears only import locks older than the lease', async () => {
    const short = new PostgresProblemStore(store.pool, (text, values) => store.query(text, values), 1);
    await short.begin('stale');
    await new Promise((r) => setTimeout(r, 20));
    const fresh = await problems.begin('fresh');
    await problems.clearStaleImports();
    assert.equal(await problems.importing('fresh'), true, 'a recent import keeps its lock');
    await short.clearStaleImports();
    assert.equal(await problems.importing('stale'), false);
    await problems.abort(fresh);
  });

  it('stores a blob in chunks once, and another node reads it back through its own cache, verified', async () => {
    const a = new PgBlobStore({ pool: store.pool, cacheDir: join(dir, 'node-a'), cacheBytes: 64 << 20 });
    const b = new PgBlobStore({ pool: store.pool, cacheDir: join(dir, 'node-b'), cacheBytes: 64 << 20 });
    const data = randomBytes((2 << 20) + 12345); // three chunks
    const hash = createHash('sha256').update(data).digest('hex');
    const file = join(dir, 'upload');
    writeFileSync(file, data);
    assert.equal(await a.has(hash), false);
    await Promise.all([a.putFile(hash, file), a.putFile(hash, file)]);
    assert.equal(await b.has(hash), true);
    const { rows } = await store.query<{ n: string }>('SELECT count(*) AS n FROM blob_chunks WHERE hash = $1', [hash]);
    assert.equal(Number(rows[0].n), 3);
    const [p1, p2] = await Promise.all([b.localPath(hash), b.localPath(hash)]);
    assert.equal(p1, p2);
    assert.ok(readFileSync(p1).equals(data));
    assert.equal(statSync(p1).mode & 0o777, 0o444, 'cached blobs are read-only');
    // A damaged chunk is refused, not handed to a judge.
    await store.query("UPDATE blob_chunks SET data = '\\x00' WHERE hash = $1 AND n = 1", [hash]);
    const c = new PgBlobStore({ pool: store.pool, cacheDir: join(dir, 'node-c'), cacheBytes: 64 << 20 });
    await assert.rejects(c.localPath(hash), /damaged/);
    assert.equal(await c.sweep(new Set()), 1);
    assert.equal(await a.has(hash), false);
  });

  it('keeps the cache under its cap, evicting least recently used files not in use', async () => {
    const writer = new PgBlobStore({ pool: store.pool, cacheDir: join(dir, 'writer'), cacheBytes: 1 << 30 });
    const reader = new PgBlobStore({ pool: store.pool, cacheDir: join(dir, 'reader'), cacheBytes: 3 << 20 });
    const hashes: string[] = [];
    for (let i = 0; i < 4; i++) {
      const data = randomBytes(1 << 20);
      const hash = createHash('sha256').update(data).digest('hex');
      const f = join(dir, `f${i}`);
      writeFileSync(f, data);
      await writer.putFile(hash, f);
      hashes.push(hash);
    }
    const old = new Date(Date.now() - 3_600_000);
    for (const h of hashes.slice(0, 3)) utimesSync(await reader.localPath(h), old, old);
    // The fourth pushes the cache over 3 MiB: the least recently used old file goes.
    const newest = await reader.localPath(hashes[3]);
    assert.ok(existsSync(newest));
    const left = hashes.filter((h) => existsSync(join(dir, 'reader', h.slice(0, 2), h)));
    assert.equal(left.length, 3, `cached: ${left.length}`);
    assert.ok(!left.includes(hashes[0]) || !left.includes(hashes[1]) || !left.includes(hashes[2]));
  });
});
