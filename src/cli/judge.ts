// `gavel judge`: judges a local file against DIR/*.in with matching .out or .ans files,
// with a live line per test on a terminal and a table at the end.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { createJudge } from '../judge/index.js';
import type { Checker, JudgeEvent, JudgeResult, Submission } from '../judge/schema.js';
import { parseCount, parseFlags, parseNumber, parseSize, UsageError } from './args.js';


const CHECKERS = ['exact', 'lines', 'tokens', 'float', 'program'];

function readTests(dir: string): Submission['tests'] {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new UsageError(`--tests: not a directory: ${dir}`);
  const inputs = readdirSync(dir).filter((f) => f.endsWith('.in'))
    .sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
  if (inputs.length === 0) throw new UsageError(`--tests: no *.in files in ${dir}`);
  return inputs.map((f) => {
    const stem = f.slice(0, -3);
    const ans = [`${stem}.out`, `${stem}.ans`].map((a) => join(dir, a)).find((a) => existsSync(a));
    if (!ans) throw new UsageError(`--tests: ${f} has no matching ${stem}.out or ${stem}.ans`);
    return { id: stem, input: readFileSync(join(dir, f), 'utf8'), expected: readFileSync(ans, 'utf8') };
  });
}

function fmtBytes(n: number): string {
  return n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MiB` : `${Math.round(n / 1024)} KiB`;
}

function table(r: JudgeResult): string {
  const rows = [['test', 'verdict', 'cpu ms', 'wall ms', 'memory'], ...r.tests.map((t) => [
    t.id, t.verdict, String(t.timeMs), String(t.wallTimeMs), fmtBytes(t.memoryBytes)])];
  const w = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
  const lines = rows.map((row) => row.map((c, i) => c.padEnd(w[i])).join('  '));
  const score = r.maxScore ? `  score ${r.score}/${r.maxScore}` : '';
  return `${lines.join('\n')}\n\nverdict ${r.verdict}  time ${r.timeMs} ms  memory ${fmtBytes(r.memoryBytes)}${score}\n`;
}

function limitFlags(flags: Map<string, string>): NonNullable<Submission['limits']> {
  const limits: Submission['limits'] = {};
  if (flags.has('--time-ms')) limits.timeMs = parseCount('--time-ms', flags.get('--time-ms')!);
  if (flags.has('--wall-ms')) limits.wallTimeMs = parseCount('--wall-ms', flags.get('--wall-ms')!);
  if (flags.has('--memory')) limits.memoryBytes = parseSize('--memory', flags.get('--memory')!);
  if (flags.has('--output-bytes')) limits.outputBytes = parseSize('--output-bytes', flags.get('--output-bytes')!);
  if (flags.has('--processes')) limits.processes = parseCount('--processes', flags.get('--processes')!);
  return limits;
}

export async function judgeCommand(argv: string[]): Promise<number> {
  const { flags, positional } = parseFlags(argv, {
    '--language': 'value', '--tests': 'value', '--checker': 'value', '--abs-error': 'value', '--rel-error': 'value',
    '--checker-file': 'value', '--checker-language': 'value', '--interactor': 'value', '--interactor-language': 'value',
    '--time-ms': 'value', '--wall-ms': 'value', '--memory': 'value', '--output-bytes': 'value', '--processes': 'value',
    '--stop-on-first-failure': 'bool', '--json': 'bool', '--problem': 'value',
  });
  if (flags.has('--problem')) {
    const { judgeProblemCommand } = await import('./problem.js');
    return judgeProblemCommand(flags.get('--problem')!, positional, flags.get('--language'), limitFlags(flags));
  }
  const language = flags.get('--language');
  if (!language) throw new UsageError('--language is required');
  if (positional.length !== 1) throw new UsageError('give exactly one source FILE');
  const file = positional[0];
  if (!existsSync(file)) throw new UsageError(`no such file: ${file}`);
  if (!flags.get('--tests')) throw new UsageError('--tests DIR is required');
  const kind = flags.get('--checker') ?? (flags.has('--checker-file') ? 'program' : 'tokens');
  if (!CHECKERS.includes(kind)) throw new UsageError(`--checker must be one of ${CHECKERS.join(', ')}`);
  const checker: Checker = { kind: kind as Checker['kind'] };
  if (flags.has('--abs-error')) checker.absError = parseNumber('--abs-error', flags.get('--abs-error')!);
  if (flags.has('--rel-error')) checker.relError = parseNumber('--rel-error', flags.get('--rel-error')!);
  if (kind === 'program') {
    const cf = flags.get('--checker-file');
    if (!cf || !existsSync(cf)) throw new UsageError('--checker program needs --checker-file FILE');
    checker.language = flags.get('--checker-language') ?? language;
    checker.source = readFileSync(cf, 'utf8');
  }
  const limits = limitFlags(flags);
  const sub: Submission = {
    language, source: readFileSync(file, 'utf8'), tests: readTests(flags.get('--tests')!), limits, checker,
    stopOnFirstFailure: flags.has('--stop-on-first-failure'),
  };
  if (flags.has('--interactor')) {
    const f = flags.get('--interactor')!;
    if (!existsSync(f)) throw new UsageError(`--interactor: no such file: ${f}`);
    sub.interactor = { language: flags.get('--interactor-language') ?? language, source: readFileSync(f, 'utf8') };
  }

  const judge = await createJudge({ poolSize: sub.interactor ? 2 : 1, name: `gavel-cli-${process.pid}` });
  try {
    try {
      judge.validate(sub);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    const live = process.stderr.isTTY && !flags.has('--json');
    const onEvent = (e: JudgeEvent) => {
      if (!live) return;
      if (e.type === 'compile') process.stderr.write(e.result.ok ? `compiled ${basename(file)} in ${e.result.timeMs} ms\n` : 'compilation failed\n');
      if (e.type === 'test-start') process.stderr.write(`\rtest ${e.id} ...`);
      if (e.type === 'telemetry') process.stderr.write(`\rtest ${e.id} ... ${e.cpuTimeMs} ms cpu, ${fmtBytes(e.memoryBytes)}   `);
      if (e.type === 'test') process.stderr.write(`\r\x1b[Ktest ${e.result.id}: ${e.result.verdict} ${e.result.timeMs} ms ${fmtBytes(e.result.memoryBytes)}\n`);
    };
    const result = await judge.judge(sub, onEvent);
    if (flags.has('--json')) process.stdout.write(JSON.stringify(result) + '\n');
    else {
      if (result.compile && !result.compile.ok) process.stdout.write(result.compile.output + '\n');
      if (result.error) process.stdout.write(`error: ${result.error}\n`);
      process.stdout.write(table(result));
    }
    return result.verdict === 'AC' ? 0 : 1;
  } finally {
    await judge.close();
  }
}
