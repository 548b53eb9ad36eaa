// End to end with the real judge (createJudge: real sandbox, real compilers): A+B in every
// offered language over HTTP, every verdict, /v1/run, and kill -9 of `node dist/src/server.js`
// while it judges — after a restart every accepted submission finishes.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { EventSource } from 'eventsource';
import { createJudge } from '../src/judge/index.js';
import type { Judge } from '../src/judge/schema.js';
import {
  request, killService, spawnService, stopService, startTestServer, tempDir, until, waitFinished, type Child, type JsonResponse, type TestServer,
} from './helpers/server.js';

import { leftovers } from './helpers/sandbox.js';

const SERVER = fileURLToPath(new URL('../src/server.js', import.meta.url));
const ab = [{ input: '1 2\n', expected: '3\n' }, { input: '40 2\n', expected: '42\n' }, { input: '-5 5\n', expected: '0\n' }];

const AB: Record<string, string> = {
  c: '#include <stdio.h>\nint main(void){long a,b;scanf("%ld %ld",&a,&b);printf("%ld\\n",a+b);return 0;}\n',
  cpp: '#include <iostream>\nint main(){long long a,b;std::cin>>a>>b;std::cout<<a+b<<"\\n";}\n',
  python3: 'a, b = map(int, input().split())\nprint(a + b)\n',
  javascript: 'const [a, b] = require("fs").readFileSync(0, "utf8").trim().split(/\\s+/).map(Number);\nconsole.log(a + b);\n',
  java: 'import java.util.*;\npublic class Main { public static void main(String[] x) { Scanner s = new Scanner(System.in); long a = s.nextLong(), b = s.nextLong(); System.out.println(a + b); } }\n',
  rust: 'use std::io::*;\nfn main(){let mut s=String::new();stdin().read_to_string(&mut s).unwrap();let v:Vec<i64>=s.split_whitespace().map(|x|x.parse().unwrap()).collect();println!("{}",v[0]+v[1]);}\n',
  go: 'package main\nimport "fmt"\nfunc main(){var a,b int64;fmt.Scan(&a,&b);fmt.Println(a+b)}\n',
};

/** The final `verdict` event's data, via a real SSE client. */
function verdictOf(base: string, id: string): Promise<any> {
  return new Promise((resolve, reject) => {
    const es = new EventSource(`${base}/v1/submissions/${id}/events`);
    const timer = setTimeout(() => { es.close(); reject(new Error(`no verdict for ${id}`)); }, 240_000);
    es.addEventListener('verdict', (e) => { clearTimeout(timer); es.close(); resolve(JSON.parse(e.data)); });
  });
}

describe('real judge over HTTP', () => {
  let judge: Judge;
  let s: TestServer;
  const instance = `gavel-http-e2e-${process.pid}`;
  before(async () => {
    judge = await createJudge({ poolSize: 2, name: instance, uidBase: 63000 });
    s = await startTestServer({ judge });
  });
  after(async () => {
    await s?.close();
    await judge?.close();
    assert.deepEqual(leftovers(instance), [], 'the pool left nothing behind');
  });

  test('A+B in every offered language', async () => {
    const offered = judge.languages().map((l) => l.id).filter((id) => AB[id]);
    assert.ok(offered.includes('c') && offered.includes('cpp'), `C and C++ are offered (${offered})`);
    const submitted = await Promise.all(offered.map(async (language) => {
      const r = await request(s.url, 'POST', '/v1/submissions', { language, source: AB[language], tests: ab, limits: { timeMs: 5000, memoryBytes: 256 << 20 } });
      assert.equal(r.status, 202, `${language}: ${r.text}`);
      return [language, r.body.id as string] as const;
    }));
    for (const [language, id] of submitted) {
      const v = await verdictOf(s.url, id);
      assert.equal(v.verdict, 'AC', `${language}: ${JSON.stringify(v.compile ?? v.tests)}`);
      assert.equal(v.tests.length, 3);
      assert.equal(v.score, v.maxScore);
    }
  });

  test('every verdict', async () => {
    const c = (source: string, extra: Record<string, unknown> = {}) => ({ language: 'c', source, tests: [ab[0]], ...extra });
    const cases: Array<[string, Record<string, unknown>]> = [
      ['AC', c(AB.c)],
      ['WA', c(AB.c.replace('a+b', 'a-b'))],
      ['TLE', c('int main(void){volatile unsigned long x=0;for(;;)x++;}', { limits: { timeMs: 300 } })],
      ['MLE', c('#include <stdlib.h>\n#include <string.h>\nint main(void){for(int i=0;i<64;i++){char*p=malloc(16<<20);if(!p)return 1;memset(p,1,16<<20);}return 0;}', { limits: { memoryBytes: 64 << 20 } })],
      ['RE', c('int main(void){volatile int*p=0;*p=1;return 0;}')],
      ['OLE', c('#include <stdio.h>\nint main(void){for(;;)fputs("flood flood flood\\n",stdout);}', { limits: { outputBytes: 1 << 20 } })],
      ['CE', c('int main(void){ this is not C }')],
    ];
    const ids = await Promise.all(cases.map(async ([want, body]) => {
      const r = await request(s.url, 'POST', '/v1/submissions', body);
      assert.equal(r.status, 202, `${want}: ${r.text}`);
      return r.body.id as string;
    }));
    for (const [i, [want]] of cases.entries()) {
      const done = await waitFinished(s.url, ids[i], 120_000);
      assert.equal(done.verdict, want, `${want}: ${JSON.stringify(done.tests[0] ?? done.compile)}`);
      if (want === 'CE') assert.ok(done.compile.output.length > 0);
    }
    // IE: what a cancelled submission ends with.
    const r = await request(s.url, 'POST', '/v1/submissions', c('int main(void){volatile unsigned long x=0;for(;;)x++;}', { limits: { timeMs: 20_000, wallTimeMs: 60_000 } }));
    await until(async () => (await request(s.url, 'GET', `/v1/submissions/${r.body.id}`)).body.status === 'running', 60_000, 'running');
    await request(s.url, 'DELETE', `/v1/submissions/${r.body.id}`);
    const cancelled = await waitFinished(s.url, r.body.id, 30_000);
    assert.equal(cancelled.verdict, 'IE');
    assert.equal(cancelled.error, 'cancelled');
  });

  test('POST /v1/run: a program, and a command', async () => {
    const prog = await request(s.url, 'POST', '/v1/run', { language: 'c', source: AB.c, stdin: '20 22\n' });
    assert.equal(prog.status, 200, prog.text);
    assert.equal(prog.body.status, 'OK');
    assert.equal(prog.body.stdout, '42\n');
    assert.equal(prog.body.compile.ok, true);
    const cmd = await request(s.url, 'POST', '/v1/run', { cmd: ['/bin/cat', 'in.txt'], files: { 'in.txt': 'from a file' } });
    assert.equal(cmd.status, 200, cmd.text);
    assert.equal(cmd.body.stdout, 'from a file');
    const ce = await request(s.url, 'POST', '/v1/run', { language: 'c', source: 'nope' });
    assert.equal(ce.body.status, 'CE');
  });
});

describe('kill -9 of the real service', () => {
  test('every accepted submission finishes after a restart', async () => {
    const dataDir = tempDir();
    const instance = `gavel-http-kill-${process.pid}`;
    const env = { GAVEL_DATA_DIR: dataDir, GAVEL_INSTANCE: instance, GAVEL_UID_BASE: '63100', GAVEL_POOL_SIZE: '2' };
    // Each test sleeps 150 ms, so judging is certainly under way at the kill.
    const slow = '#include <stdio.h>\n#include <unistd.h>\nint main(void){long a,b;usleep(150000);scanf("%ld %ld",&a,&b);printf("%ld\\n",a+b);return 0;}\n';
    let child: Child | undefined;
    try {
      child = await spawnService(SERVER, env);
      const ids: string[] = [];
      for (let i = 0; i < 8; i++) {
        const r: JsonResponse = await request(child.url, 'POST', '/v1/submissions', { language: 'c', source: slow, tests: ab });
        assert.equal(r.status, 202, r.text);
        ids.push(r.body.id);
      }
      const finished = new Map<string, string>();
      await until(async () => {
        for (const id of ids) {
          const r: JsonResponse = await request(child!.url, 'GET', `/v1/submissions/${id}`);
          if (r.body.status === 'finished') finished.set(id, r.body.finishedAt);
        }
        return finished.size >= 2;
      }, 120_000, 'two submissions to finish');
      assert.ok(finished.size < ids.length, 'work was pending at the kill');
      child.proc.kill('SIGKILL');
      await child.exited;

      child = await spawnService(SERVER, env);
      for (const id of ids) {
        const done = await waitFinished(child.url, id, 240_000);
        assert.equal(done.verdict, 'AC', `${id}: ${JSON.stringify(done.tests)}`);
        assert.equal(done.tests.length, 3);
        if (finished.has(id)) assert.equal(done.finishedAt, finished.get(id), 'finished before the kill: not judged again');
      }
      await stopService(child);
      child = undefined;
      assert.deepEqual(leftovers(instance), [], 'the restarted service cleaned up after the killed one, and after itself');
    } finally {
      await killService(child);
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
