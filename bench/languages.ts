// The per-language lines of `npm run bench:judge`: for every offered language, A+B
// submit-to-verdict (compile included, one test), and the run overhead of the sandbox: the
// same built program (the artifacts the judge compiled, in its work dir) run with the same
// input in the sandbox and bare with spawnSync, both timed from Node, in the same run.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { COMPILE_LIMITS, DEFAULT_CAPS, DEFAULT_LIMITS } from '../src/judge/index.js';
import { detectLanguages } from '../src/judge/languages.js';
import { SubmissionPipeline, type JudgeContext } from '../src/judge/pipeline.js';
import { Sandbox } from '../src/sandbox/sandbox.js';

const here = dirname(fileURLToPath(import.meta.url));
const FIXTURES = [join(here, '../test/fixtures/languages'), join(here, '../../test/fixtures/languages')].find((d) => existsSync(d))!;
const INPUT = 'ab\n123456789 987654321\n';
const ANSWER = '1111111110\n';

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

export interface LanguageRow { id: string; submitMs: number; sandboxRunMs: number; bareRunMs: number }

/** Runs the per-language measurements; `only` restricts the ids (BENCH_LANGUAGES). */
export async function benchLanguages(o: { poolSize: number; submissions: number; runs: number; only?: string[] }): Promise<LanguageRow[]> {
  const languages = await detectLanguages();
  const sources = new Map(readdirSync(FIXTURES).map((f) => [f.slice(0, f.indexOf('.')), readFileSync(join(FIXTURES, f), 'utf8')]));
  const sandbox = Sandbox.open({ size: o.poolSize, name: `gavel-bench-lang-${process.pid}` });
  const ctx: JudgeContext = {
    sandbox, languages, defaults: { ...DEFAULT_LIMITS, wallTimeMs: 20_000 }, caps: DEFAULT_CAPS,
    compileLimits: COMPILE_LIMITS, previewBytes: 4096, compileOutputBytes: 16 * 1024,
  };
  const judger = new SubmissionPipeline(ctx);
  const rows: LanguageRow[] = [];
  try {
    for (const lang of languages.values()) {
      if (o.only && !o.only.includes(lang.id)) continue;
      // The test fixtures: C/C++ standards share one program, CPython and PyPy too.
      const source = sources.get(lang.id) ?? sources.get(lang.id === 'pypy3' ? 'python' : lang.id.replace(/\d+$/, ''));
      if (!source) continue;
      const sub = { language: lang.id, source, tests: [{ input: INPUT, expected: ANSWER }], limits: { timeMs: 5000 } };
      const submit: number[] = [];
      for (let i = 0; i < o.submissions; i++) {
        const t0 = performance.now();
        const r = await judger.judge(sub, () => {});
        if (r.verdict !== 'AC') throw new Error(`${lang.id}: expected AC, got ${r.verdict}: ${JSON.stringify(r).slice(0, 500)}`);
        submit.push(performance.now() - t0);
      }
      const { built } = await judger.build(sub);
      if (!built) throw new Error(`${lang.id}: compile failed`);
      try {
        const stdin = join(built.ws.io, 'in');
        writeFileSync(stdin, INPUT);
        const heapMb = String(DEFAULT_LIMITS.memoryBytes >> 20);
        const argv = built.argv.map((a) => a.replace('{heapMb}', heapMb));
        const env = { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: built.ws.box, LANG: 'C.UTF-8', TMPDIR: '/tmp', ...lang.env };
        const inSandbox: number[] = [];
        const bare: number[] = [];
        for (let i = 0; i < o.runs; i++) {
          let t0 = performance.now();
          const r = await sandbox.run({
            argv, workDir: built.ws.box, sealedWorkDir: true, env: lang.env, readOnlyPaths: lang.readOnlyPaths,
            limits: {
              timeMs: 5000, wallTimeMs: 20_000, outputBytes: 1 << 20,
              memoryBytes: DEFAULT_LIMITS.memoryBytes + (lang.extraMemoryBytes ?? 0),
              processes: DEFAULT_LIMITS.processes + (lang.extraProcesses ?? 0),
            },
            stdin: { kind: 'file', path: stdin }, stdout: { kind: 'file', path: join(built.ws.io, 'out') },
          });
          inSandbox.push(performance.now() - t0);
          if (r.status !== 'OK') throw new Error(`${lang.id}: sandboxed run ${r.status} ${r.error ?? ''}`);
          t0 = performance.now();
          const b = spawnSync(argv[0], argv.slice(1), { cwd: built.ws.box, input: INPUT, env, encoding: 'utf8' });
          bare.push(performance.now() - t0);
          if (b.stdout !== ANSWER) throw new Error(`${lang.id}: bare run printed ${JSON.stringify(b.stdout)} ${b.stderr}`);
        }
        rows.push({ id: lang.id, submitMs: median(submit), sandboxRunMs: median(inSandbox), bareRunMs: median(bare) });
      } finally {
        judger.discard(built.ws);
      }
    }
  } finally {
    await sandbox.close();
  }
  return rows;
}

export function printLanguageRows(rows: LanguageRow[], o: { submissions: number; runs: number }): void {
  console.log(`\nPer language: A+B submit-to-verdict (compile + 1 test, median of ${o.submissions}); one run in the sandbox vs bare (median of ${o.runs})`);
  console.log(`${'language'.padEnd(12)} ${'submit'.padStart(9)} ${'sandboxed'.padStart(10)} ${'bare'.padStart(9)} ${'overhead'.padStart(9)} ${'ratio'.padStart(6)}`);
  for (const r of rows) {
    console.log(`${r.id.padEnd(12)} ${r.submitMs.toFixed(0).padStart(6)} ms ${r.sandboxRunMs.toFixed(1).padStart(7)} ms ${r.bareRunMs.toFixed(1).padStart(6)} ms `
      + `${(r.sandboxRunMs - r.bareRunMs).toFixed(1).padStart(6)} ms ${(r.sandboxRunMs / r.bareRunMs).toFixed(2).padStart(5)}x`);
  }
  console.log(JSON.stringify({ bench: 'judge-languages', rows }));
}
