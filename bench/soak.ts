// `npm run bench:soak`: the service under mixed traffic for a long time (SOAK_MINUTES, default
// 30), sampling what must not grow: its RSS, open fds, cgroups and mounts, and open event
// streams, every SOAK_SAMPLE_MS (default a minute). Traffic: submissions of every verdict (C,
// with a testlib checker for IE), POST /v1/run with and without files, SSE clients that drop and
// reconnect with Last-Event-ID, malformed requests, and cancels. Not part of `npm test`.
// Any 5xx, or growth after the warm-up sample, is reported as a failure (exit 1).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { freePort } from './ports.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const MINUTES = Number(process.env.SOAK_MINUTES ?? 30);
const SAMPLE_MS = Number(process.env.SOAK_SAMPLE_MS ?? 60_000);
const INSTANCE = `gavel-soak-${process.pid}`;
const SERVER = fileURLToPath(new URL('../src/server.js', import.meta.url));

const AB = '#include <stdio.h>\nint main(){long long a,b;scanf("%lld %lld",&a,&b);printf("%lld\\n",a+b);}';
const PROGRAMS: Record<string, { source: string; limits?: Record<string, number>; checker?: unknown }> = {
  AC: { source: AB },
  WA: { source: '#include <stdio.h>\nint main(){puts("0");}' },
  TLE: { source: 'int main(){for(;;);}', limits: { timeMs: 300 } },
  MLE: { source: '#include <stdlib.h>\n#include <string.h>\nint main(){for(;;){char*p=malloc(1<<20);if(!p)return 1;memset(p,1,1<<20);}}', limits: { memoryBytes: 32 << 20 } },
  RE: { source: 'int main(){return 3;}' },
  OLE: { source: '#include <stdio.h>\nint main(){for(;;)puts("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");}', limits: { outputBytes: 1 << 20 } },
  CE: { source: 'int main(){ this is not C }' },
  IE: { source: AB, checker: { kind: 'program', language: 'python3', source: 'import sys\nsys.exit(3)' } },
};

const counts = { submissions: 0, runs: 0, streams: 0, reconnects: 0, malformed: 0, cancels: 0, fiveXX: 0, clientErrors: 0 };
const fiveXX: string[] = [];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function call(base: string, method: string, path: string, body?: unknown, raw?: string): Promise<{ status: number; json: any }> {
  try {
    const res = await fetch(base + path, {
      method, signal: AbortSignal.timeout(120_000),
      ...(body !== undefined || raw !== undefined ? { body: raw ?? JSON.stringify(body), headers: { 'content-type': 'application/json' } } : {}),
    });
    const text = await res.text();
    if (res.status >= 500) {
      counts.fiveXX++;
      fiveXX.push(`${method} ${path} → ${res.status} ${text.slice(0, 200)}`);
    }
    let json: any;
    try { json = JSON.parse(text); } catch { json = undefined; }
    return { status: res.status, json };
  } catch {
    counts.clientErrors++;
    return { status: 0, json: undefined };
  }
}

/** Follows a submission's events, dropping the connection after a couple of events and resuming. */
async function follow(base: string, id: string): Promise<void> {
  let last = '';
  for (let attempt = 0; attempt < 20; attempt++) {
    const ctrl = new AbortController();
    try {
      const res = await fetch(`${base}/v1/submissions/${id}/events`, { headers: last ? { 'last-event-id': last } : {}, signal: ctrl.signal });
      if (res.status === 204) return;
      if (res.status >= 500) counts.fiveXX++;
      if (res.status !== 200) return;
      counts.streams++;
      const reader = res.body!.getReader();
      const dec = new TextDecoder();
      let buf = '';
      let seen = 0;
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        buf += dec.decode(value, { stream: true });
        let end: number;
        while ((end = buf.indexOf('\n\n')) >= 0) {
          const frame = buf.slice(0, end);
          buf = buf.slice(end + 2);
          const id = /^id: (\d+)$/m.exec(frame)?.[1];
          if (id) last = id;
          if (/^event: verdict$/m.test(frame)) { ctrl.abort(); return; }
          if (id && ++seen === 2 && attempt < 3) throw new Error('drop');
        }
      }
    } catch {
      ctrl.abort();
      counts.reconnects++;
    }
  }
}

async function submissions(base: string, until: number): Promise<void> {
  const kinds = Object.keys(PROGRAMS);
  for (let i = 0; Date.now() < until; i++) {
    const kind = kinds[i % kinds.length];
    const p = PROGRAMS[kind];
    const r = await call(base, 'POST', '/v1/submissions', {
      language: 'c', source: p.source, limits: p.limits, checker: p.checker,
      tests: [{ input: '1 2\n', expected: '3' }, { input: '40 2\n', expected: '42' }],
    });
    if (r.status !== 202) { await sleep(500); continue; }
    counts.submissions++;
    await follow(base, r.json.id);
  }
}

async function runs(base: string, until: number): Promise<void> {
  for (let i = 0; Date.now() < until; i++) {
    const body = i % 2 ? { cmd: ['/bin/cat', 'in.txt'], files: { 'in.txt': 'hello' } } : { cmd: ['/bin/echo', 'hi'] };
    const r = await call(base, 'POST', '/v1/run', body);
    if (r.status === 200) counts.runs++;
    await sleep(50);
  }
}

async function malformed(base: string, until: number): Promise<void> {
  const bad: Array<[string, string, string | undefined]> = [
    ['POST', '/v1/submissions', '{"language":'],
    ['POST', '/v1/submissions', '{"language":"c","tests":[]}'],
    ['POST', '/v1/run', '{"cmd":["a\\u0000b"]}'],
    ['POST', '/v1/run', JSON.stringify({ cmd: ['cat'], files: { a: '', 'a/b': '' } })],
    ['POST', '/v1/submissions', '['.repeat(100) + ']'.repeat(100)],
    ['GET', '/v1/submissions/nope', undefined],
    ['DELETE', '/v1/submissions/nope', undefined],
    ['PUT', '/v1/run', '{}'],
    ['GET', '/v1/nothing', undefined],
  ];
  for (let i = 0; Date.now() < until; i++) {
    const [method, path, raw] = bad[i % bad.length];
    await call(base, method, path, undefined, raw);
    counts.malformed++;
    await sleep(100);
  }
}

async function cancels(base: string, until: number): Promise<void> {
  while (Date.now() < until) {
    const r = await call(base, 'POST', '/v1/submissions', { language: 'c', source: PROGRAMS.TLE.source, limits: { timeMs: 5000 }, tests: [{ input: '', expected: '' }] });
    if (r.status === 202) {
      await sleep(300 + Math.random() * 1000);
      await call(base, 'DELETE', `/v1/submissions/${r.json.id}`);
      counts.cancels++;
    }
    await sleep(2000);
  }
}

function countDirs(root: string, needle: string, depth = 0): number {
  if (depth > 5 || !existsSync(root)) return 0;
  let n = 0;
  let entries: string[];
  try { entries = readdirSync(root, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name); } catch { return 0; }
  for (const e of entries) {
    const p = join(root, e);
    if (p.includes(needle)) n++;
    n += countDirs(p, needle, depth + 1);
  }
  return n;
}

interface Sample { minute: number; rssMiB: number; fds: number; cgroups: number; mounts: number; streams: number; submissions: number; runs: number }

async function sample(base: string, pid: number, t0: number): Promise<Sample> {
  const metrics = await fetch(`${base}/metrics`).then((r) => r.text()).catch(() => '');
  return {
    minute: Math.round((Date.now() - t0) / 60_000 * 10) / 10,
    rssMiB: Math.round(Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024),
    fds: readdirSync(`/proc/${pid}/fd`).length,
    cgroups: countDirs('/sys/fs/cgroup', INSTANCE),
    mounts: readFileSync(`/proc/${pid}/mountinfo`, 'utf8').split('\n').filter(Boolean).length,
    streams: Number(/^gavel_event_streams (\d+)/m.exec(metrics)?.[1] ?? -1),
    submissions: counts.submissions,
    runs: counts.runs,
  };
}

async function main(): Promise<void> {
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'gavel-soak-'));
  const base = `http://127.0.0.1:${port}`;
  const child: ChildProcess = spawn(process.execPath, [SERVER], {
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', GAVEL_DATA_DIR: dataDir, GAVEL_INSTANCE: INSTANCE, GAVEL_UID_BASE: '64600', GAVEL_POOL_SIZE: '2', LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  try {
    for (let i = 0; ; i++) {
      if (child.exitCode !== null) throw new Error(`the service exited with ${child.exitCode}`);
      if ((await fetch(`${base}/readyz`).catch(() => undefined))?.ok) break;
      if (i > 600) throw new Error('the service did not become ready');
      await sleep(100);
    }
    const t0 = Date.now();
    const end = t0 + MINUTES * 60_000;
    console.log(`soak: ${MINUTES} min against pid ${child.pid}, sampling every ${SAMPLE_MS / 1000} s`);
    const samples: Sample[] = [await sample(base, child.pid!, t0)];
    const traffic = Promise.all([submissions(base, end), submissions(base, end), runs(base, end), malformed(base, end), cancels(base, end)]);
    while (Date.now() < end) {
      await sleep(Math.min(SAMPLE_MS, Math.max(0, end - Date.now())));
      samples.push(await sample(base, child.pid!, t0));
      console.log(JSON.stringify(samples.at(-1)));
    }
    await traffic;
    await sleep(3000);
    samples.push(await sample(base, child.pid!, t0));
    console.table(samples);
    console.log(JSON.stringify(counts));
    // Warm-up: the first sample under traffic. After it, nothing may keep growing.
    const warm = samples[1] ?? samples[0];
    const last = samples.at(-1)!;
    const problems: string[] = [];
    if (last.rssMiB > warm.rssMiB * 1.25 + 16) problems.push(`RSS grew from ${warm.rssMiB} to ${last.rssMiB} MiB`);
    if (last.fds > warm.fds + 8) problems.push(`fds grew from ${warm.fds} to ${last.fds}`);
    if (last.cgroups > warm.cgroups) problems.push(`cgroups grew from ${warm.cgroups} to ${last.cgroups}`);
    if (last.mounts > warm.mounts) problems.push(`mounts grew from ${warm.mounts} to ${last.mounts}`);
    if (last.streams > 0) problems.push(`${last.streams} event streams still open after the traffic stopped`);
    if (counts.fiveXX) problems.push(`${counts.fiveXX} responses were 5xx: ${fiveXX.slice(0, 5).join('; ')}`);
    console.log(problems.length ? `FAIL: ${problems.join('; ')}` : 'ok: nothing grew after warm-up, no 5xx');
    process.exitCode = problems.length ? 1 : 0;
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => (child.exitCode !== null ? r(undefined) : child.once('exit', r)));
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
