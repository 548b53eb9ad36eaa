// `gavel verify DIR`: imports a problem package as the service would and judges every
// submission under DIR/submissions/<category>/ against it, checking each final verdict
// against its category (accepted → AC; wrong_answer → WA; time_limit_exceeded → TLE, WA
// tolerated; run_time_error → RE; DOMjudge's @EXPECTED_RESULTS@ elsewhere). Prints a
// table like problemtools' verifyproblem; exit 0 only when every submission agrees.
import { join } from 'node:path';
import { createJudge } from '../judge/index.js';
import type { JudgeResult } from '../judge/schema.js';
import { programFromPath } from '../problems/service.js';
import { parseCount, parseFlags, UsageError } from './args.js';
import { openProblemDir, progress } from './problem.js';

interface Row {
  submission: string;
  category: string;
  expected: string[];
  verdict: string;
  timeMs: number;
  ok: boolean;
  note?: string;
}

function table(rows: Row[]): string {
  const head = ['submission', 'expected', 'got', 'max cpu ms', 'result'];
  const body = rows.map((r) => [r.submission, r.expected.join('|'), r.verdict, String(r.timeMs), r.ok ? 'ok' : `FAIL${r.note ? ` (${r.note})` : ''}`]);
  const all = [head, ...body];
  const w = head.map((_, i) => Math.max(...all.map((row) => row[i].length)));
  return all.map((row) => row.map((c, i) => c.padEnd(w[i])).join('  ').trimEnd()).join('\n') + '\n';
}

export async function verifyCommand(argv: string[]): Promise<number> {
  const { flags, positional } = parseFlags(argv, { '--time-ms': 'value', '--json': 'bool' });
  if (positional.length !== 1) throw new UsageError('give exactly one problem package DIR');
  const dir = positional[0];
  const timeLimitMs = flags.has('--time-ms') ? parseCount('--time-ms', flags.get('--time-ms')!) : undefined;
  const judge = await createJudge({ poolSize: 2, name: `gavel-verify-${process.pid}` });
  try {
    if (process.stderr.isTTY) process.stderr.write(`importing ${dir} ...`);
    const p = await openProblemDir(dir, judge, { timeLimitMs });
    try {
      const meta = p.version.meta;
      const subs = meta.submissions;
      if (process.stderr.isTTY) process.stderr.write(`\r\x1b[K`);
      process.stderr.write(`${meta.name || p.version.id}: ${meta.format}, ${meta.type}, ${meta.validation} validation, ${meta.tests.length} tests, time limit ${meta.timeLimitMs} ms (${meta.timeLimitFrom}), ${subs.length} submissions\n`);
      const rows: Row[] = [];
      for (let i = 0; i < subs.length; i++) {
        const s = subs[i];
        const name = s.path.slice(s.path.indexOf('submissions/') + 'submissions/'.length);
        let result: JudgeResult;
        let note: string | undefined;
        try {
          const run = programFromPath(join(dir, s.path), judge.ctx.languages);
          result = await p.service.judge.judge(p.version, run, progress(`[${i + 1}/${subs.length}] ${name}: `));
        } catch (e) {
          result = { verdict: 'IE', timeMs: 0, memoryBytes: 0, tests: [], error: (e as Error).message };
          note = (e as Error).message;
        }
        if (result.verdict === 'IE') note ??= result.error ?? result.tests.find((t) => t.verdict === 'IE')?.checkerMessage;
        const ok = s.expected.includes(result.verdict);
        if (!ok && !note) note = result.tests.find((t) => t.verdict === result.verdict)?.id;
        rows.push({ submission: name, category: s.category, expected: s.expected, verdict: result.verdict, timeMs: result.timeMs, ok, ...(note ? { note: note.split('\n')[0].slice(0, 120) } : {}) });
      }
      const bad = rows.filter((r) => !r.ok).length;
      if (flags.has('--json')) process.stdout.write(JSON.stringify({ problem: p.version.id, timeLimitMs: meta.timeLimitMs, submissions: rows, ok: bad === 0 }) + '\n');
      else process.stdout.write(`${table(rows)}\n${bad === 0 ? `all ${rows.length} submissions agree with their categories` : `${bad} of ${rows.length} submissions disagree with their categories`}\n`);
      return bad === 0 && rows.length > 0 ? 0 : 1;
    } finally {
      await p.close();
    }
  } finally {
    await judge.close();
  }
}
