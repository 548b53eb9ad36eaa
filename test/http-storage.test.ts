// A full disk is a fault of the service's own storage, handled as one: the data dir is a small
// tmpfs filled up in the middle of a burst of submissions, then freed. New work meanwhile gets
// 507 with Retry-After, /readyz says not ready, DELETE still answers, and every submission that
// got a 202 ends finished with exactly one verdict event, without a restart.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { FakeJudge, fakeSubmission, request, sleep, startTestServer, until, waitFinished, type JsonResponse, type TestServer } from './helpers/server.js';

/** Writes zeros to `file` until the filesystem says ENOSPC. */
function fillUp(file: string): number {
  const fd = openSync(file, 'w');
  const chunk = Buffer.alloc(64 * 1024);
  let bytes = 0;
  try {
    for (;;) bytes += writeSync(fd, chunk);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    closeSync(fd);
  }
  return bytes;
}

test('the data dir fills up mid-burst and is freed: 507 meanwhile, every accepted submission finishes once', async () => {
  const mnt = mkdtempSync(join(tmpdir(), `gavel-full-${process.pid}-`));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m,mode=0700', 'tmpfs', mnt]);
  const dataDir = join(mnt, 'data');
  const filler = join(mnt, 'filler');
  const judge = new FakeJudge(2);
  let s: TestServer | undefined;
  try {
    const srv = await startTestServer({ judge, dataDir, config: { queueMax: 1000 } });
    s = srv;
    const url = srv.url;
    const accepted: string[] = [];
    const post = async () => {
      const r: JsonResponse = await request(url, 'POST', '/v1/submissions', fakeSubmission('sleep:20', 4));
      if (r.status === 202) accepted.push(r.body.id);
      return r;
    };
    for (let i = 0; i < 20; i++) assert.equal((await post()).status, 202);

    fillUp(filler);
    // New work is refused with a reason and a time to come back, never a bare 500.
    const refused: JsonResponse[] = [];
    await until(async () => {
      const r = await post();
      assert.ok(r.status === 202 || r.status === 507, `only 202 or 507 while full, got ${r.status} ${r.text}`);
      if (r.status === 507) refused.push(r);
      return refused.length >= 3;
    }, 20_000, 'posts to be refused');
    for (const r of refused) {
      assert.equal(r.body.error, 'storage_full');
      assert.match(r.body.message, /full/);
      assert.match(r.headers.get('retry-after') ?? '', /^\d+$/);
    }
    await until(async () => (await request(url, 'GET', '/readyz')).status === 503, 10_000, '/readyz to say not ready');
    const ready = await request(url, 'GET', '/readyz');
    assert.match(ready.body.message, /store/);
    // Reading works, and so does cancelling (it finishes once the store takes it).
    assert.equal((await request(url, 'GET', `/v1/submissions/${accepted[0]}`)).status, 200);
    const victim = accepted.at(-1)!;
    const del = await request(url, 'DELETE', `/v1/submissions/${victim}`);
    assert.ok(del.status === 200 || del.status === 202 || del.status === 409, `DELETE while full: ${del.status} ${del.text}`);
    await sleep(1500);

    rmSync(filler);
    for (const id of accepted) {
      const done = await waitFinished(url, id, 60_000);
      assert.equal(done.status, 'finished');
      if (id === victim && del.status !== 409) assert.equal(done.cancelled, true, 'the cancel was kept');
      else assert.equal(done.verdict, 'AC', `${id}: ${done.error ?? ''}`);
      const verdicts = (await srv.store.events(id, 0)).filter((e) => e.type === 'verdict');
      assert.equal(verdicts.length, 1, `${id}: exactly one verdict event`);
      const seqs = (await srv.store.events(id, 0)).map((e) => e.seq);
      assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), 'stored in order');
    }
    await until(async () => (await request(url, 'GET', '/readyz')).status === 200, 10_000, '/readyz to be ready again');
    const again = await post();
    assert.equal(again.status, 202, 'new work is taken again');
    assert.equal((await waitFinished(url, again.body.id)).verdict, 'AC');
  } finally {
    await s?.close();
    execFileSync('umount', [mnt]);
    rmSync(mnt, { recursive: true, force: true });
  }
});
