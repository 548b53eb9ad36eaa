// Shared helpers for tests that run real programs in the real sandbox: compiling C
// fixtures, running a program with its output captured, and probing the host for what a
// sandbox may have left behind (processes, cgroups, mounts, file descriptors).
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Sandbox } from '../../src/sandbox/sandbox.js';
import type { RunLimits, RunResult, RunSpec } from '../../src/sandbox/types.js';

const execFileP = promisify(execFile);
const here = dirname(fileURLToPath(import.meta.url));

/** test/fixtures, found from test/helpers (tsx) and dist/test/helpers (compiled) alike. */
export const FIXTURES_DIR = [join(here, '../fixtures'), join(here, '../../../test/fixtures')]
  .find((d) => existsSync(d)) ?? join(here, '../fixtures');

/** Limits generous enough for any well-behaved fixture; tests tighten the one they probe. */
export const TEST_LIMITS: RunLimits = {
  timeMs: 2000,
  wallTimeMs: 5000,
  memoryBytes: 128 << 20,
  outputBytes: 4 << 20,
  processes: 16,
};

/** Compiled fixture programs, in a host directory the sandbox sees read-only at /data. */
export interface Programs {
  /** Host directory holding the binaries; pass it as RunSpec.dataDir. */
  dir: string;
  /** Path of a program inside the sandbox, e.g. "/data/spin". */
  at(name: string): string;
  cleanup(): void;
}

/**
 * Compiles every `<name>.c` of test/fixtures/<subdir> in parallel with gcc into a fresh
 * temp dir that the sandbox uid can read. `static` links with -static.
 */
export async function compileFixtures(subdir: string, opts: { static?: boolean; names?: string[] } = {}): Promise<Programs> {
  const srcDir = join(FIXTURES_DIR, subdir);
  const names = opts.names ?? readdirSync(srcDir).filter((f) => f.endsWith('.c')).map((f) => f.slice(0, -2));
  const dir = mkdtempSync(join(tmpdir(), `gavel-${subdir}-`));
  // mkdtemp makes it 0700; the sandbox uid must be able to reach the binaries.
  chmodSync(dir, 0o755);
  const programs: Programs = {
    dir,
    at: (name) => {
      if (!names.includes(name)) throw new Error(`no fixture program "${name}" in ${srcDir}`);
      return `/data/${name}`;
    },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
  try {
    await Promise.all(names.map((n) => compileC(join(srcDir, `${n}.c`), join(dir, n), opts)));
  } catch (e) {
    programs.cleanup();
    throw e;
  }
  return programs;
}

/** gcc -O2 one C file; the error carries the compiler's message. */
export async function compileC(src: string, out: string, opts: { static?: boolean } = {}): Promise<void> {
  const args = ['-O2', '-Wall', ...(opts.static ? ['-static'] : []), '-o', out, src];
  try {
    await execFileP('gcc', args, { encoding: 'utf8' });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`gcc ${args.join(' ')} failed:\n${err.stderr || err.message}`);
  }
}

export interface Captured {
  result: RunResult;
  stdout: Buffer;
  stderr: string;
  /** stdout as text. */
  out: string;
}

export interface RunOptions extends Partial<Omit<RunSpec, 'argv' | 'limits' | 'stdin' | 'stdout' | 'stderr'>> {
  limits?: Partial<RunLimits>;
  /** Becomes the program's stdin through a host file. */
  stdin?: string | Buffer;
}

/**
 * Runs argv in a fresh work dir with stdout and stderr captured to host files, and
 * removes everything afterwards.
 */
export async function runCaptured(sandbox: Sandbox, argv: string[], opts: RunOptions = {}): Promise<Captured> {
  const io = mkdtempSync(join(tmpdir(), 'gavel-io-'));
  const workDir = opts.workDir ?? sandbox.makeWorkDir();
  try {
    const stdinPath = join(io, 'stdin');
    if (opts.stdin !== undefined) writeFileSync(stdinPath, opts.stdin);
    const { stdin: _, limits, ...rest } = opts;
    const result = await sandbox.run({
      ...rest,
      argv,
      workDir,
      limits: { ...TEST_LIMITS, ...limits },
      stdin: opts.stdin !== undefined ? { kind: 'file', path: stdinPath } : { kind: 'null' },
      stdout: { kind: 'file', path: join(io, 'stdout') },
      stderr: { kind: 'file', path: join(io, 'stderr') },
    });
    const stdout = readFileSync(join(io, 'stdout'));
    return { result, stdout, stderr: readFileSync(join(io, 'stderr'), 'utf8'), out: stdout.toString('utf8') };
  } finally {
    if (!opts.workDir) sandbox.removeWorkDir(workDir);
    rmSync(io, { recursive: true, force: true });
  }
}

/** Parses "key=value" lines (the fixtures' report format). */
export function parseKv(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) out[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return out;
}

/** A result as one line, for assertion messages. */
export function show(r: RunResult | Captured): string {
  if ('result' in r) return `${JSON.stringify(r.result)} stdout=${JSON.stringify(r.out.slice(0, 500))} stderr=${JSON.stringify(r.stderr.slice(0, 500))}`;
  return JSON.stringify(r);
}

// ---- Host probes --------------------------------------------------------------------

export interface HostProcess { pid: number; uid: number; name: string }

/** Live processes whose real uid is in [from, to). */
export function processesWithUid(from: number, to: number): HostProcess[] {
  const found: HostProcess[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    let status: string;
    try {
      status = readFileSync(`/proc/${e}/status`, 'utf8');
    } catch {
      continue; // exited while we looked
    }
    const uid = Number(/^Uid:\s+(\d+)/m.exec(status)?.[1]);
    if (uid >= from && uid < to) found.push({ pid: Number(e), uid, name: /^Name:\s+(.*)$/m.exec(status)?.[1] ?? '?' });
  }
  return found;
}

/** Live processes in a cgroup of instance `name` (any hierarchy), e.g. pre-warmed sandboxes. */
export function processesInCgroupsOf(name: string): HostProcess[] {
  const found: HostProcess[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    let cgroups: string;
    let status: string;
    try {
      cgroups = readFileSync(`/proc/${e}/cgroup`, 'utf8');
      status = readFileSync(`/proc/${e}/status`, 'utf8');
    } catch {
      continue;
    }
    // Lines are "id:controllers:/path"; the instance's parent is one path component.
    if (!cgroups.split('\n').some((l) => l.split(':').slice(2).join(':').split('/').includes(name))) continue;
    found.push({ pid: Number(e), uid: Number(/^Uid:\s+(\d+)/m.exec(status)?.[1]), name: /^Name:\s+(.*)$/m.exec(status)?.[1] ?? '?' });
  }
  return found;
}

/** How many file descriptors this process has open. */
export function openFdCount(): number {
  return readdirSync('/proc/self/fd').length;
}

/** The fd count once it has not changed for `quietMs`. */
export async function stableFdCount(quietMs = 150, timeoutMs = 5000): Promise<number> {
  const end = Date.now() + timeoutMs;
  let last = openFdCount();
  let since = Date.now();
  while (Date.now() - since < quietMs && Date.now() < end) {
    await new Promise((resolve) => setTimeout(resolve, 10));
    const n = openFdCount();
    if (n !== last) {
      last = n;
      since = Date.now();
    }
  }
  return last;
}

/**
 * The fd count once it is at most `target`, or the last count after `timeoutMs`: work the
 * sandbox does in the background after a run (preparing the next one) holds fds for a while.
 */
export async function fdCountSettledTo(target: number, timeoutMs = 3000): Promise<number> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const n = openFdCount();
    if (n <= target || Date.now() > end) return n;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Lines of this process's mount table that contain `needle`. */
export function mountsMatching(needle: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(needle));
}

const V1_CONTROLLERS = ['memory', 'cpu', 'cpuacct', 'pids', 'cpuset'];

/**
 * Every directory that is (or would be) the cgroup parent of instance `name`: one per v1
 * hierarchy, or the v2 parent. For v2 the parent's location depends on where the process
 * sits, so pass the backend's root while the sandbox is open.
 */
export function cgroupParents(name: string, v2Root?: string, mountRoot = '/sys/fs/cgroup'): string[] {
  if (existsSync(join(mountRoot, 'cgroup.controllers'))) {
    return v2Root ? [v2Root] : [join(mountRoot, name)];
  }
  const dirs = new Set<string>();
  for (const c of V1_CONTROLLERS) {
    const mount = join(mountRoot, c);
    if (existsSync(mount)) dirs.add(join(realpathSync(mount), name));
  }
  return [...dirs];
}

/** Names of the child cgroups of `dir` (none when it does not exist). */
export function childCgroups(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((e) => {
    try {
      return statSync(join(dir, e)).isDirectory();
    } catch {
      return false;
    }
  }).sort();
}

/** What a service instance may have left on the host: its run dir and cgroups (any hierarchy). */
export function leftovers(instance: string): string[] {
  const found: string[] = [];
  if (existsSync(`/run/${instance}`)) found.push(`/run/${instance}`);
  for (const ctrl of readdirSync('/sys/fs/cgroup')) {
    if (existsSync(`/sys/fs/cgroup/${ctrl}/${instance}`)) found.push(`/sys/fs/cgroup/${ctrl}/${instance}`);
  }
  return found;
}
