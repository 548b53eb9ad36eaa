// How a program shipped in a package (output validator, interactor) is built and run, by
// the Kattis rules: a single source file by its extension, or a directory — with a `build`
// script (run it, then use the `run` it leaves), with only `run`, or otherwise its sources
// compiled as one program. C++ gets -std=gnu++20 -O2, as validators in public archives
// expect. Builds run in the sandbox with the compile limits, once per problem version.
import { chmodSync, cpSync, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import type { Sandbox } from '../sandbox/sandbox.js';
import type { RunLimits } from '../sandbox/types.js';
import { readCapped, sealBox } from '../judge/workspace.js';
import { ProblemError } from './errors.js';
import type { PackageProgram } from './types.js';

export interface ProgramPlan {
  /** argv run in the build directory; absent when nothing needs compiling. */
  compile?: string[];
  /** argv that runs the program, relative to the build directory. */
  run: string[];
  /** A description for messages ("C++ (g++ -std=gnu++20)", "build script"). */
  what: string;
}

const CPP = ['.cpp', '.cc', '.cxx', '.c++', '.C'];

/** The entry among several candidate files: a conventional name, or the only one, or the first. */
function pickEntry(files: string[], names: string[]): string {
  for (const n of names) if (files.includes(n)) return n;
  return files[0];
}

function javaMainClass(dir: string, files: string[]): string {
  for (const f of files) {
    const text = readFileSync(join(dir, f), 'utf8');
    if (/static\s+(?:public\s+)?void\s+main\s*\(/.test(text) || /public\s+static\s+void\s+main\s*\(/.test(text)) return f.slice(0, -5);
  }
  return files[0].slice(0, -5);
}

/** The plan for the files of a build directory (after the package's files were copied in). */
export function planProgram(dir: string): ProgramPlan {
  const files = readdirSync(dir).filter((f) => statSync(join(dir, f)).isFile()).sort();
  const exec = (f: string) => (statSync(join(dir, f)).mode & 0o100 ? [`./${f}`] : ['/bin/sh', `./${f}`]);
  if (files.includes('build')) return { compile: exec('build'), run: ['./run'], what: 'build script' };
  if (files.includes('run')) return { run: exec('run'), what: 'run script' };
  const by = (exts: string[]) => files.filter((f) => exts.includes(extname(f)));
  const cpp = by(CPP);
  if (cpp.length) return { compile: ['/usr/bin/g++', '-std=gnu++20', '-O2', '-pipe', '-o', '.gavel-program', ...cpp], run: ['./.gavel-program'], what: 'C++ (g++ -std=gnu++20 -O2)' };
  const c = by(['.c']);
  if (c.length) return { compile: ['/usr/bin/gcc', '-std=gnu17', '-O2', '-pipe', '-o', '.gavel-program', ...c, '-lm'], run: ['./.gavel-program'], what: 'C (gcc -std=gnu17 -O2)' };
  const py = by(['.py']);
  if (py.length) {
    const entry = pickEntry(py, ['validator.py', 'interactor.py', 'main.py']);
    return { compile: ['/usr/bin/python3', '-m', 'py_compile', ...py], run: ['/usr/bin/python3', entry], what: 'Python 3' };
  }
  const java = by(['.java']);
  if (java.length) return { compile: ['/usr/bin/javac', '-J-Xmx512m', '-encoding', 'UTF-8', '-d', '.', ...java], run: ['/usr/bin/java', '-Xss256m', '-XX:+UseSerialGC', '-cp', '.', javaMainClass(dir, java)], what: 'Java' };
  const kt = by(['.kt']);
  if (kt.length) return { compile: ['/usr/bin/kotlinc', ...kt, '-include-runtime', '-d', '.gavel-program.jar'], run: ['/usr/bin/java', '-Xss256m', '-jar', '.gavel-program.jar'], what: 'Kotlin' };
  const js = by(['.js']);
  if (js.length) return { run: ['/usr/bin/node', pickEntry(js, ['validator.js', 'main.js'])], what: 'JavaScript' };
  const sh = by(['.sh']);
  if (sh.length) return { run: ['/bin/sh', pickEntry(sh, ['validator.sh', 'run.sh'])], what: 'shell' };
  throw new Error('no source file of a known language (c, cpp, py, java, kt, js, sh) and no build or run script');
}

function shellQuote(a: string): string {
  return /^[A-Za-z0-9_./=-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`;
}

/**
 * Writes `.gavel-run` into the build directory: it changes into that directory and execs
 * the program with the caller's arguments, so the program may be started from anywhere
 * (the judge runs it with the feedback directory as its working directory).
 */
function writeLauncher(dir: string, run: string[]): void {
  writeFileSync(join(dir, '.gavel-run'), `#!/bin/sh\ncd "$(dirname "$0")" || exit 1\nexec ${run.map(shellQuote).join(' ')} "$@"\n`, { mode: 0o755 });
}

export const LAUNCHER = '.gavel-run';

export interface BuildContext {
  sandbox: Sandbox;
  limits: RunLimits;
  outputBytes: number;
}

/**
 * Builds `prog` (its files copied from `src`) in `buildDir` inside the sandbox; leaves
 * `buildDir/.gavel-run`. Throws a 422 naming the program with the compiler's output.
 */
export async function buildProgram(ctx: BuildContext, prog: PackageProgram, src: string, buildDir: string, signal?: AbortSignal): Promise<void> {
  if (prog.kind === 'dir') cpSync(src, buildDir, { recursive: true, dereference: true });
  else cpSync(src, join(buildDir, prog.path.split('/').pop()!), { dereference: true });
  let plan: ProgramPlan;
  try {
    plan = planProgram(buildDir);
  } catch (e) {
    throw new ProblemError(422, 'validator_unbuildable', `${prog.path}: ${(e as Error).message}`, prog.path);
  }
  if (plan.compile) {
    const out = join(buildDir, '..', `${prog.path.replace(/\//g, '_')}.compile.out`);
    const r = await ctx.sandbox.run({
      argv: plan.compile, workDir: buildDir, env: { PATH: '/usr/bin:/bin', HOME: '/tmp' }, limits: ctx.limits,
      stdout: { kind: 'file', path: out }, stderr: { kind: 'file', path: out }, signal,
    });
    const text = readCapped(out, ctx.outputBytes);
    if (r.status === 'SE') throw new Error(`building ${prog.path} failed in the sandbox: ${r.error}`);
    if (r.status !== 'OK') {
      const why = r.status === 'TLE' ? 'ran out of time' : r.status === 'MLE' ? 'ran out of memory' : `exited with ${r.exitCode ?? `signal ${r.signal}`}`;
      throw new ProblemError(422, 'validator_compile_error', `${prog.path}: the ${plan.what} build ${why}:\n${text}`.trim(), prog.path);
    }
  }
  if (plan.what === 'build script' && !existsSync(join(buildDir, 'run'))) {
    throw new ProblemError(422, 'validator_compile_error', `${prog.path}: the build script left no "run" file`, prog.path);
  }
  if (existsSync(join(buildDir, 'run'))) chmodSync(join(buildDir, 'run'), 0o755);
  writeLauncher(buildDir, plan.run);
  sealBox(buildDir);
}
