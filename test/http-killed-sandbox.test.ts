// A sandbox killed from outside while it judges (an operator's kill -9, the OOM killer taking
// its init): the submission still ends — finished, with one verdict event — and the service
// goes on judging with a fresh sandbox in that slot.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { createJudge } from '../src/judge/index.js';
import { request, startTestServer, until, waitFinished } from './helpers/server.js';

/** Pids of processes whose cgroup path names `instance`. */
function pidsOf(instance: string): number[] {
  const out: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if (readFileSync(`/proc/${e}/cgroup`, 'utf8').includes(`/${instance}/`)) out.push(Number(e));
    } catch { /* gone */ }
  }
  return out;
}

const comm = (pid: number) => { try { return readFileSync(`/proc/${pid}/comm`, 'utf8').trim(); } catch { return ''; } };

test('kill -9 of a judging sandbox: the submission still ends, and the next one is judged', async () => {
  const instance = `gavel-killsb-${process.pid}`;
  const judge = await createJudge({ poolSize: 1, name: instance, uidBase: 64800 });
  const s = await startTestServer({ judge });
  try {
    const spin = await request(s.url, 'POST', '/v1/submissions', {
      language: 'c', source: 'int main(){for(;;);}', limits: { timeMs: 20_000, wallTimeMs: 30_000 }, tests: [{ input: '', expected: '' }],
    });
    assert.equal(spin.status, 202);
    // The program spinning in its sandbox: kill the sandbox's init (and so everything in it).
    let victims: number[] = [];
    await until(() => {
      victims = pidsOf(instance).filter((p) => comm(p) === 'main');
      return victims.length > 0;
    }, 60_000, 'the program to run');
    const inits = pidsOf(instance).filter((p) => comm(p).startsWith('gavel-init'));
    assert.ok(inits.length >= 1, 'the sandbox has an init');
    for (const p of inits) process.kill(p, 'SIGKILL');
    const done = await waitFinished(s.url, spin.body.id, 60_000);
    assert.equal(done.status, 'finished');
    assert.notEqual(done.verdict, 'AC');
    const verdicts = (await s.store.events(spin.body.id, 0)).filter((e) => e.type === 'verdict');
    assert.equal(verdicts.length, 1, 'exactly one verdict event');

    const next = await request(s.url, 'POST', '/v1/submissions', {
      language: 'c', source: '#include <stdio.h>\nint main(){int a,b;scanf("%d %d",&a,&b);printf("%d\\n",a+b);}',
      tests: [{ input: '1 2\n', expected: '3' }],
    });
    assert.equal((await waitFinished(s.url, next.body.id, 60_000)).verdict, 'AC', 'a fresh sandbox took the slot');
  } finally {
    await s.close();
    await judge.close();
  }
});
