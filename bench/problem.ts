// `npm run bench:problem`: a problem package with 40 tests and BENCH_PROBLEM_MB (default 200)
// MB of input, against a real service process (node dist/src/server.js):
// - import: PUT of the package (tar) in MB/s, against `sha256sum` + `cp` of the same files;
// - judging: submit-to-verdict of an AC C++ submission, first (compile) and again (compile
//   cache hit), against the same binary run directly over the same files with no sandbox;
// - memory: the service's peak RSS while importing and judging.
// Every baseline is measured in the same run, on the same machine.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, createReadStream, mkdirSync, openSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { create } from 'tar';

const TESTS = 40;
const TOTAL_MB = Number(process.env.BENCH_PROBLEM_MB ?? 200);
const SERVER = fileURLToPath(new URL('../src/server.js', import.meta.url));

const SOURCE = `#include <cstdio>
// Sums the numbers of its input, read with a buffered reader.
static char buf[1 << 16];
int main() {
  unsigned long long sum = 0, cur = 0;
  bool in = false;
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, stdin)) > 0) {
    for (size_t i = 0; i < n; i++) {
      char c = buf[i];
      if (c >= '0' && c <= '9') { cur = cur * 10 + (c - '0'); in = true; }
      else if (in) { sum += cur; cur = 0; in = false; }
    }
  }
  if (in) sum += cur;
  std::printf("%llu\\n", sum);
}
`;

/** Writes the package: 40 inputs of random numbers with their sums. */
function makePackage(dir: string): { bytes: number } {
  mkdirSync(join(dir, 'data', 'secret'), { recursive: true });
  mkdirSync(join(dir, 'data', 'sample'), { recursive: true });
  writeFileSync(join(dir, 'problem.yaml'), 'name: Sum of many numbers\nlimits:\n  memory: 256\n');
  writeFileSync(join(dir, '.timelimit'), '5\n');
  writeFileSync(join(dir, 'data', 'sample', '1.in'), '1 2 3\n');
  writeFileSync(join(dir, 'data', 'sample', '1.ans'), '6\n');
  const per = Math.floor((TOTAL_MB * 1e6) / TESTS);
  let seed = 12345;
  let bytes = 0;
  for (let t = 0; t < TESTS; t++) {
    const chunks: string[] = [];
    let len = 0;
    let sum = 0n;
    while (len < per) {
      const line: string[] = [];
      for (let k = 0; k < 100; k++) {
        seed = (seed * 1103515245 + 12345) % 2147483648;
        line.push(String(seed));
        sum += BigInt(seed);
      }
      const s = line.join(' ') + '\n';
      chunks.push(s);
      len += s.length;
    }
    const name = String(t + 1).padStart(2, '0');
    writeFileSync(join(dir, 'data', 'secret', `${name}.in`), chunks.join(''));
    writeFileSync(join(dir, 'data', 'secret', `${name}.ans`), `${sum}\n`);
    bytes += len;
  }
  return { bytes };
}

function dirBytes(dir: string): number {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    n += e.isDirectory() ? dirBytes(p) : statSync(p).size;
  }
  return n;
}

interface Service { proc: ChildProcess; url: string; peakRss: () => number; stop: () => Promise<void> }

async function startService(dataDir: string): Promise<Service> {
  const proc = spawn(process.execPath, [SERVER], {
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', GAVEL_DATA_DIR: dataDir, GAVEL_INSTANCE: `gavel-bench-problem-${process.pid}`, GAVEL_POOL_SIZE: '2', GAVEL_MAX_PROBLEM_BYTES: '8GiB', ...(process.env.BENCH_SQLITE_SYNC ? { GAVEL_SQLITE_SYNC: process.env.BENCH_SQLITE_SYNC } : {}) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let buf = '';
    proc.stdout!.on('data', (c: Buffer) => {
      buf += c.toString();
      for (const line of buf.split('\n')) {
        try {
          const rec = JSON.parse(line) as { msg?: string; url?: string };
          if (rec.msg === 'gavel listening' && rec.url) resolve(rec.url);
        } catch { /* partial line */ }
      }
      buf = buf.slice(buf.lastIndexOf('\n') + 1);
    });
    proc.on('exit', (code) => reject(new Error(`service exited with ${code}`)));
  });
  let peak = 0;
  const sample = setInterval(() => {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${proc.pid}/status`, 'utf8'));
      if (m) peak = Math.max(peak, Number(m[1]) * 1024);
    } catch { /* exited */ }
  }, 20);
  return {
    proc, url, peakRss: () => peak,
    stop: async () => {
      clearInterval(sample);
      proc.kill('SIGTERM');
      await new Promise((r) => proc.once('exit', r));
    },
  };
}

function put(url: string, file: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const u = new URL(`${url}/v1/problems/sum`);
    const req = request({ host: u.hostname, port: u.port, path: u.pathname, method: 'PUT', headers: { 'content-type': 'application/x-tar', 'content-length': statSync(file).size } }, (res) => {
      let body = '';
      res.on('data', (c) => { body += c; }).on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
    // Large reads keep the client's own CPU use small (it shares the machine with the service).
    createReadStream(file, { highWaterMark: 1 << 20 }).pipe(req);
  });
}

async function json(url: string, method: string, path: string, body?: unknown): Promise<any> {
  const res = await fetch(url + path, { method, headers: body ? { 'content-type': 'application/json' } : {}, body: body ? JSON.stringify(body) : undefined });
  return res.json();
}

async function submitAndWait(url: string): Promise<{ ms: number; result: any }> {
  const t0 = performance.now();
  const { id } = await json(url, 'POST', '/v1/submissions', { problem: 'sum', language: 'cpp', source: SOURCE });
  for (;;) {
    const v = await json(url, 'GET', `/v1/submissions/${id}`);
    if (v.status === 'finished') return { ms: performance.now() - t0, result: v };
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** The same work with no sandbox: g++ on the host, then the binary over every input, output compared. */
function directRuns(pkg: string, work: string): { compileMs: number; runMs: number } {
  writeFileSync(join(work, 'main.cpp'), SOURCE);
  const t0 = performance.now();
  const c = spawnSync('/usr/bin/g++', ['-std=c++17', '-O2', '-pipe', '-o', join(work, 'main'), join(work, 'main.cpp')]);
  if (c.status !== 0) throw new Error(`baseline compile failed: ${c.stderr}`);
  const t1 = performance.now();
  for (const g of ['sample', 'secret']) {
    const dir = join(pkg, 'data', g);
    for (const f of readdirSync(dir).filter((x) => x.endsWith('.in')).sort()) {
      // stdin straight from the file, as the sandbox gets it.
      const fd = openSync(join(dir, f), 'r');
      const r = spawnSync(join(work, 'main'), { stdio: [fd, 'pipe', 'pipe'] });
      closeSync(fd);
      if (r.stdout.toString().trim() !== readFileSync(join(dir, f.replace(/\.in$/, '.ans')), 'utf8').trim()) throw new Error(`baseline: wrong answer on ${f}`);
    }
  }
  return { compileMs: t1 - t0, runMs: performance.now() - t1 };
}

async function main(): Promise<void> {
  const root = mkdtempSync(join(process.env.BENCH_DIR ?? tmpdir(), 'gavel-bench-problem-'));
  let svc: Service | undefined;
  try {
    const pkg = join(root, 'pkg');
    mkdirSync(pkg);
    process.stderr.write(`writing a package of ${TESTS} tests, ${TOTAL_MB} MB of input ...\n`);
    const { bytes } = makePackage(pkg);
    const tarFile = join(root, 'sum.tar');
    await create({ cwd: pkg, file: tarFile, portable: true }, ['.']);
    const pkgBytes = dirBytes(pkg);

    // Baseline import: hash every file and copy the tree.
    const files = (d: string): string[] => readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(d, e.name)) : [join(d, e.name)]));
    const b0 = performance.now();
    const h = spawnSync('sha256sum', files(pkg), { maxBuffer: 64 << 20 });
    if (h.status !== 0) throw new Error('sha256sum failed');
    const cp = spawnSync('cp', ['-r', pkg, join(root, 'copy')]);
    if (cp.status !== 0) throw new Error('cp failed');
    const baseImportMs = performance.now() - b0;
    rmSync(join(root, 'copy'), { recursive: true, force: true });

    svc = await startService(join(root, 'data'));
    const i0 = performance.now();
    const p = await put(svc.url, tarFile);
    const importMs = performance.now() - i0;
    if (p.status !== 201) throw new Error(`import failed: ${p.status} ${p.body}`);

    const miss = await submitAndWait(svc.url);
    if (miss.result.verdict !== 'AC') throw new Error(`expected AC, got ${JSON.stringify(miss.result).slice(0, 500)}`);
    const hits: number[] = [];
    for (let i = 0; i < 3; i++) {
      const hit = await submitAndWait(svc.url);
      if (hit.result.verdict !== 'AC' || !hit.result.compile?.cached) throw new Error('a resubmission did not hit the compile cache');
      hits.push(hit.ms);
    }
    const hitMs = hits.sort((a, b) => a - b)[1];
    const work = join(root, 'direct');
    mkdirSync(work);
    const direct = directRuns(pkg, work);
    const rss = svc.peakRss();

    const mbps = (n: number, ms: number) => n / 1e6 / (ms / 1000);
    const importMBps = mbps(pkgBytes, importMs);
    const baseMBps = mbps(pkgBytes, baseImportMs);
    console.log(`problem: ${TESTS + 1} tests, ${(bytes / 1e6).toFixed(0)} MB of input, package ${(pkgBytes / 1e6).toFixed(0)} MB`);
    console.log(`import (PUT, tar)                  ${importMs.toFixed(0).padStart(7)} ms  ${importMBps.toFixed(0).padStart(5)} MB/s`);
    console.log(`baseline: sha256sum + cp -r        ${baseImportMs.toFixed(0).padStart(7)} ms  ${baseMBps.toFixed(0).padStart(5)} MB/s`);
    console.log(`ratio import / baseline            ${(importMBps / baseMBps).toFixed(2)}x  (target >= 0.5)`);
    console.log(`submit-to-verdict, compile         ${miss.ms.toFixed(0).padStart(7)} ms`);
    console.log(`submit-to-verdict, cache hit       ${hitMs.toFixed(0).padStart(7)} ms  (median of 3)`);
    console.log(`baseline: g++ + direct runs        ${(direct.compileMs + direct.runMs).toFixed(0).padStart(7)} ms  (runs alone ${direct.runMs.toFixed(0)} ms)`);
    console.log(`ratio compile / (g++ + runs)       ${(miss.ms / (direct.compileMs + direct.runMs)).toFixed(2)}x`);
    console.log(`ratio cache hit / runs             ${(hitMs / direct.runMs).toFixed(2)}x  (target <= 1.15)`);
    console.log(`compile cache: hit / miss          ${(hitMs / miss.ms).toFixed(2)}x`);
    console.log(`service peak RSS                   ${(rss / (1 << 20)).toFixed(0).padStart(7)} MiB  (target < 200)`);
    console.log(JSON.stringify({
      bench: 'problem', tests: TESTS + 1, inputBytes: bytes, importMs, importMBps, baselineImportMBps: baseMBps,
      missMs: miss.ms, hitMs, directCompileMs: direct.compileMs, directRunMs: direct.runMs, peakRssBytes: rss,
    }));
  } finally {
    await svc?.stop();
    rmSync(root, { recursive: true, force: true });
  }
}

await main();
