// `npm run bench:judge`: A+B in C++ with 10 tests, submit-to-verdict time (compile
// included) one at a time, and submissions per minute with the whole pool busy. The
// baseline, measured in the same run, is the same work without any sandbox: g++ on the
// host, then the binary run 10 times with spawnSync. Then one line per language (bench/languages.ts).
import { spawnSync } from 'node:child_process';
import { cpus } from 'node:os';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createJudge } from '../src/judge/index.js';
import type { Submission } from '../src/judge/schema.js';
import { benchLanguages, printLanguageRows } from './languages.js';

const SOURCE = '#include <iostream>\nint main(){long long a,b;std::cin>>a>>b;std::cout<<a+b<<"\\n";}\n';
const TESTS = Array.from({ length: 10 }, (_, i) => ({ input: `${i} ${i * 7}\n`, expected: `${i * 8}\n` }));
const SEQUENTIAL = Number(process.env.BENCH_SUBMISSIONS ?? 10);
const THROUGHPUT = Number(process.env.BENCH_THROUGHPUT ?? 30);
/** Per-language lines: submissions and runs per language; BENCH_LANGUAGES=c,java limits the ids. */
const LANG_SUBMISSIONS = Number(process.env.BENCH_LANG_SUBMISSIONS ?? 3);
const LANG_RUNS = Number(process.env.BENCH_LANG_RUNS ?? 10);

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
}

function baseline(): number[] {
  const dir = mkdtempSync(join(tmpdir(), 'gavel-bench-'));
  const times: number[] = [];
  try {
    writeFileSync(join(dir, 'main.cpp'), SOURCE);
    for (let i = 0; i < SEQUENTIAL; i++) {
      const t0 = performance.now();
      const c = spawnSync('g++', ['-std=gnu++20', '-O2', '-pipe', '-o', join(dir, 'main'), join(dir, 'main.cpp'), '-lm']);
      if (c.status !== 0) throw new Error(`baseline compile failed: ${c.stderr}`);
      for (const t of TESTS) {
        const r = spawnSync(join(dir, 'main'), { input: t.input });
        if (r.stdout.toString() !== t.expected) throw new Error('baseline run gave a wrong answer');
      }
      times.push(performance.now() - t0);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return times;
}

async function main(): Promise<void> {
  const poolSize = Number(process.env.GAVEL_POOL_SIZE ?? cpus().length);
  // No compile cache: every submission here compiles, like the baseline (bench:problem measures cache hits).
  const judge = await createJudge({ poolSize, name: `gavel-bench-${process.pid}`, compileCacheBytes: 0 });
  const sub: Submission = { language: 'cpp', source: SOURCE, tests: TESTS };
  try {
    // Warm-up: first compile pulls g++ and headers into the page cache.
    await judge.judge(sub, () => {});
    const base = baseline();
    const seq: number[] = [];
    for (let i = 0; i < SEQUENTIAL; i++) {
      const t0 = performance.now();
      const r = await judge.judge(sub, () => {});
      if (r.verdict !== 'AC') throw new Error(`expected AC, got ${r.verdict}`);
      seq.push(performance.now() - t0);
    }
    const t0 = performance.now();
    let next = 0;
    const worker = async () => {
      while (next < THROUGHPUT) {
        next++;
        const r = await judge.judge(sub, () => {});
        if (r.verdict !== 'AC') throw new Error(`expected AC, got ${r.verdict}`);
      }
    };
    await Promise.all(Array.from({ length: poolSize * 2 }, worker));
    const perMinute = (THROUGHPUT / (performance.now() - t0)) * 60_000;

    const row = (name: string, xs: number[]) =>
      `${name.padEnd(34)} ${quantile(xs, 0.5).toFixed(0).padStart(7)} ms ${quantile(xs, 0.9).toFixed(0).padStart(7)} ms`;
    console.log(`A+B in C++, 10 tests, compile included (pool of ${poolSize}, ${cpus().length} CPUs)`);
    console.log(`${''.padEnd(34)} ${'median'.padStart(10)} ${'p90'.padStart(10)}`);
    console.log(row('gavel submit-to-verdict', seq));
    console.log(row('baseline: g++ + 10 spawnSync runs', base));
    console.log(`ratio gavel / baseline (median)     ${(quantile(seq, 0.5) / quantile(base, 0.5)).toFixed(2)}x`);
    console.log(`throughput, pool busy               ${perMinute.toFixed(0)} submissions/min (${THROUGHPUT} submissions)`);
    console.log(JSON.stringify({
      bench: 'judge', poolSize, medianMs: quantile(seq, 0.5), p90Ms: quantile(seq, 0.9),
      baselineMedianMs: quantile(base, 0.5), ratio: quantile(seq, 0.5) / quantile(base, 0.5), perMinute,
    }));
  } finally {
    await judge.close();
  }
  const rows = await benchLanguages({ poolSize, submissions: LANG_SUBMISSIONS, runs: LANG_RUNS, only: process.env.BENCH_LANGUAGES?.split(',') });
  printLanguageRows(rows, { submissions: LANG_SUBMISSIONS, runs: LANG_RUNS });
}

await main();
