// Problem packages across a cluster, with real processes: PostgreSQL, Redis, one API node and
// two worker nodes, each with a data directory of its own. A package imported through the API
// node (relayed to a worker, which compiles its C++ validator) is judged by the other worker,
// which never saw it: that worker rebuilds the version directory from the manifest and blobs
// in PostgreSQL. Replacing makes a new version that a worker without it judges; deleting
// removes it and its blobs; with no worker up an import answers 503.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { TestCluster, type Node } from './helpers/cluster.js';
import { CONTENT_TYPES, fixture, pack } from './helpers/packages.js';
import { request, until } from './helpers/server.js';

const ID = 'split';
const AC = 'n = int(input())\nprint(n // 2, n - n // 2)\n';
const WA = 'n = int(input())\nprint(n, 1)\n';

async function putProblem(api: string, body: Buffer) {
  const res = await fetch(`${api}/v1/problems/${ID}`, { method: 'PUT', body: new Uint8Array(body), headers: { 'content-type': CONTENT_TYPES.zip } });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined, text };
}

const versionDir = (n: Node, v: number) => join(n.env.GAVEL_DATA_DIR, 'problems', 'versions', ID, String(v));

describe('cluster mode: problem packages shared by workers through PostgreSQL', { timeout: 600_000 }, () => {
  let c: TestCluster;
  let db: pg.Pool;

  before(async () => {
    c = await TestCluster.start({ apis: 1, workers: 2, tag: 'gcp', uidOffset: 4 });
    db = new pg.Pool({ connectionString: c.pg.url, max: 2 });
    db.on('error', () => undefined);
  });

  after(async () => {
    await db?.end().catch(() => undefined);
    await c?.stop();
  });

  async function verdict(api: string, source: string): Promise<any> {
    const r = await request(api, 'POST', '/v1/submissions', { problem: ID, language: 'python3', source });
    assert.equal(r.status, 202, r.text);
    let out: any;
    await until(async () => {
      const g = await request(api, 'GET', `/v1/submissions/${r.body.id}`);
      if (g.body.status === 'finished') out = g.body;
      return out !== undefined;
    }, 120_000, `submission ${r.body.id}`);
    return out;
  }

  /** The worker that has the version's directory (the one that imported it). */
  const holder = (v: number) => c.workers.filter((w) => existsSync(versionDir(w, v)));

  it('imported through the API node, judged AC and WA by a worker that never saw the package', async () => {
    const api = c.apis[0].url;
    const put = await putProblem(api, await pack(fixture('cppcheck'), 'zip'));
    assert.equal(put.status, 201, put.text);
    assert.equal(put.body.version, 1);
    assert.equal((await request(api, 'GET', `/v1/problems/${ID}`)).body.version, 1);
    const importers = holder(1);
    assert.equal(importers.length, 1, 'exactly one worker imported it');
    const other = c.workers.find((w) => w !== importers[0])!;
    // Only the other worker is left to judge.
    await c.stopNode(importers[0]);
    const ac = await verdict(api, AC);
    assert.equal(ac.verdict, 'AC', JSON.stringify(ac));
    assert.deepEqual(ac.problem, { id: ID, version: 1 });
    const wa = await verdict(api, WA);
    assert.equal(wa.verdict, 'WA', JSON.stringify(wa));
    // The API node checks a request against the problem itself: a 400, never a 202 that
    // a worker would end as IE.
    const raise = await request(api, 'POST', '/v1/submissions', { problem: ID, language: 'python3', source: AC, limits: { timeMs: 20_000 } });
    assert.equal(raise.status, 400, raise.text);
    assert.match(raise.body.message, /limits may only lower/);
    const both = await request(api, 'POST', '/v1/submissions', { problem: ID, language: 'python3', source: AC, files: [{ path: 'a.py', content: AC }] });
    assert.equal(both.status, 400, both.text);
    // The rebuilt directory has the built validator, executable, and nothing half-made beside it.
    assert.ok(existsSync(versionDir(other, 1)));
    const build = join(versionDir(other, 1), 'build', '0');
    const exe = readdirSync(build).map((f) => statSync(join(build, f))).filter((s) => s.isFile() && (s.mode & 0o111));
    assert.ok(exe.length > 0, `an executable in ${build}`);
    assert.deepEqual(readdirSync(join(other.env.GAVEL_DATA_DIR, 'problems', 'versions', ID)), ['1']);
    await c.launch(importers[0]);
  });

  it('replaced: the new version is judged by a worker that lacks it; deleted: gone with its blobs', async () => {
    const api = c.apis[0].url;
    const put = await putProblem(api, await pack(fixture('cppcheck', { 'data/secret/3.in': '7\n', 'data/secret/3.ans': '3 4\n' }), 'zip'));
    assert.equal(put.status, 200, put.text);
    assert.equal(put.body.version, 2);
    assert.equal(put.body.tests, 4);
    const importers = holder(2);
    assert.equal(importers.length, 1, 'exactly one worker imported v2');
    const other = c.workers.find((w) => w !== importers[0])!;
    await c.stopNode(importers[0]);
    const ac = await verdict(api, AC);
    assert.equal(ac.verdict, 'AC', JSON.stringify(ac));
    assert.deepEqual(ac.problem, { id: ID, version: 2 });
    assert.equal(ac.tests.length, 4);
    assert.ok(existsSync(versionDir(other, 2)));

    const del = await request(api, 'DELETE', `/v1/problems/${ID}`);
    assert.equal(del.status, 204, del.text);
    assert.equal((await request(api, 'GET', `/v1/problems/${ID}`)).status, 404);
    const sub = await request(api, 'POST', '/v1/submissions', { problem: ID, language: 'python3', source: AC });
    assert.equal(sub.status, 404, sub.text);
    const { rows } = await db.query<{ n: string }>('SELECT (SELECT count(*) FROM blobs) + (SELECT count(*) FROM problem_imports) + (SELECT count(*) FROM problem_versions) AS n');
    assert.equal(Number(rows[0].n), 0, 'no blob, import lock or version row left');
    await c.launch(importers[0]);
  });

  it('answers 503 to an import when no worker is up', async () => {
    for (const w of c.workers) await c.stopNode(w);
    const put = await putProblem(c.apis[0].url, await pack(fixture('cppcheck'), 'zip'));
    assert.equal(put.status, 503, put.text);
    assert.equal((await db.query('SELECT 1 FROM problem_imports')).rowCount, 0);
    // Nothing half-made in any node's data dir.
    for (const n of c.nodes) {
      const staging = join(n.env.GAVEL_DATA_DIR, 'problems', 'staging');
      if (existsSync(staging)) assert.deepEqual(readdirSync(staging), [], `${n.name}: staging`);
    }
  });
});
