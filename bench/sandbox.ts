// Per-run latency of the sandbox against the floors of starting a process at all.
//
//   npm run bench:sandbox            (BENCH_RUNS=500 by default)
//
// Times, back to back, N runs each of /bin/true and of a static hello world:
//   - gavel: Sandbox.run in full isolation (namespaces, cgroup limits, seccomp), one slot;
//     once back to back and once on a slot left idle long enough to be ready ("idle slot")
//   - posix_spawn: a tiny C program that posix_spawn+waitpid's the same binary (the floor)
//   - spawnSync: Node's child_process.spawnSync
//   - bwrap / isolate, when installed
//   - the work dir's share: /bin/true with one reused dir, with a fresh one per run
//     (makeWorkDir/removeWorkDir), and with a memory one per run (makeMemoryWorkDir)
// and prints a table (median, p90, ratios to posix_spawn and spawnSync) and a JSON line;
// then the per-phase breakdown of a warm /bin/true (RunSpec.trace), and `gavel run --
// /bin/true` as a whole process against `node -e 0` (BENCH_CLI_RUNS=20 each).
// The contenders take turns in rounds of a few dozen runs, so a burst of load on a shared
// machine lands on all of them rather than skewing one ratio.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, release, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Sandbox } from '../src/sandbox/sandbox.js';
import type { RunLimits, RunSpec, RunTrace } from '../src/sandbox/types.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 500);
if (!Number.isInteger(RUNS) || RUNS < 1) throw new Error(`BENCH_RUNS must be a positive integer, got ${process.env.BENCH_RUNS}`);
const WARMUP = Math.min(50, Math.ceil(RUNS / 10));
/** Runs of one contender before the next takes its turn. */
const ROUND = 25;
/** Pause before each "idle slot" run: long enough for the slot's next sandbox to be ready. */
const IDLE_GAP_MS = 25;

const HELLO_C = '#include <stdio.h>\nint main(void) { puts("hello"); return 0; }\n';

// Prints one line per run: nanoseconds from just before posix_spawn to waitpid's return.
// The child's stdout goes to /dev/null so the timings are all this prints.
const SPAWN_FLOOR_C = `#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <time.h>
extern char **environ;
static long long now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1000000000LL + t.tv_nsec; }
int main(int argc, char **argv) {
  if (argc < 3) return 2;
  int n = atoi(argv[1]);
  char *args[] = { argv[2], NULL };
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  for (int i = 0; i < n; i++) {
    long long t0 = now();
    pid_t pid;
    if (posix_spawn(&pid, argv[2], &fa, NULL, args, environ) != 0) { perror("posix_spawn"); return 1; }
    int st;
    if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) { fprintf(stderr, "child failed\\n"); return 1; }
    printf("%lld\\n", now() - t0);
  }
  return 0;
}
`;

const LIMITS: RunLimits = { timeMs: 1000, wallTimeMs: 5000, memoryBytes: 256 << 20, outputBytes: 64 << 20, processes: 16 };

interface Row { tool: string; program: string; ms: number[] }
interface Stats { median: number; p90: number; mean: number; min: number }

function stats(ms: number[]): Stats {
  const s = [...ms].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * (s.length - 1) + 0.5))];
  return { median: q(0.5), p90: q(0.9), mean: s.reduce((a, b) => a + b, 0) / s.length, min: s[0] };
}

function onPath(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/** Times `n` calls of a synchronous starter. */
function timeSync(n: number, once: () => void): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    once();
    out.push(performance.now() - t0);
  }
  return out;
}

function mustSucceed(r: ReturnType<typeof spawnSync>, what: string): void {
  if (r.status !== 0) throw new Error(`${what} failed (status ${r.status}, signal ${r.signal}): ${r.stderr?.toString().slice(0, 500) ?? ''}`);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function timeGavel(sb: Sandbox, spec: Omit<RunSpec, 'limits'>, n: number, gapMs = 0): Promise<number[]> {
  const one = async () => {
    const r = await sb.run({ ...spec, limits: LIMITS });
    if (r.status !== 'OK') throw new Error(`sandbox run of ${spec.argv.join(' ')} ended ${r.status}: ${JSON.stringify(r)}`);
  };
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    if (gapMs) await sleep(gapMs);
    const t0 = performance.now();
    await one();
    out.push(performance.now() - t0);
  }
  return out;
}

function floor(spawner: string, program: string, n: number): number[] {
  const r = spawnSync(spawner, [String(n), program], { encoding: 'utf8', maxBuffer: 64 << 20 });
  mustSucceed(r, `${spawner} ${program}`);
  return r.stdout.trim().split('\n').map((ns) => Number(ns) / 1e6);
}

/** One contender: how to time `n` runs of one program. */
interface Contender { tool: string; program: string; measure: (n: number) => number[] | Promise<number[]> }

async function measureAll(contenders: Contender[]): Promise<Row[]> {
  for (const c of contenders) await c.measure(WARMUP);
  const rows: Row[] = contenders.map((c) => ({ tool: c.tool, program: c.program, ms: [] }));
  for (let done = 0; done < RUNS; done += ROUND) {
    const n = Math.min(ROUND, RUNS - done);
    for (let i = 0; i < contenders.length; i++) rows[i].ms.push(...(await contenders[i].measure(n)));
  }
  return rows;
}

function bwrapContenders(programs: Record<string, string>): Contender[] {
  if (!onPath('bwrap')) return [];
  const out: Contender[] = [];
  for (const [program, path] of Object.entries(programs)) {
    // The same view as ours: /usr read-only with merged-/usr symlinks, the program's
    // directory read-only, its own /dev, /proc and /tmp, and every namespace unshared.
    const dir = path.slice(0, path.lastIndexOf('/')) || '/';
    const args = ['--ro-bind', '/usr', '/usr', '--symlink', 'usr/lib', '/lib', '--symlink', 'usr/lib64', '/lib64',
      '--symlink', 'usr/bin', '/bin', '--ro-bind', dir, '/prog', '--dev', '/dev', '--proc', '/proc', '--tmpfs', '/tmp',
      '--unshare-all', '--die-with-parent', '--', path.startsWith(dir) ? `/prog${path.slice(dir.length)}` : path];
    const once = () => mustSucceed(spawnSync('bwrap', args, { stdio: ['ignore', 'ignore', 'pipe'] }), 'bwrap');
    try {
      once();
      out.push({ tool: 'bwrap', program, measure: (n) => timeSync(n, once) });
    } catch (e) {
      console.error(`bwrap skipped: ${(e as Error).message}`);
    }
  }
  return out;
}

/** isolate's box, set up for the bench and cleaned up after it; null when unavailable. */
function isolateContenders(programs: Record<string, string>): { contenders: Contender[]; cleanup: () => void } {
  const none = { contenders: [], cleanup: () => {} };
  if (!onPath('isolate')) return none;
  const box = ['--box-id', String(900 + (process.pid % 99))];
  const cleanup = () => void spawnSync('isolate', [...box, '--cleanup'], { stdio: 'ignore' });
  try {
    const dir = execFileSync('isolate', [...box, '--init'], { encoding: 'utf8' }).trim();
    const contenders: Contender[] = [];
    for (const [program, path] of Object.entries(programs)) {
      // isolate shows the host's /usr, /bin and /lib, but not our temp dir: copy into the box.
      let inBox = path;
      if (!path.startsWith('/usr/') && !path.startsWith('/bin/')) {
        copyFileSync(path, join(dir, 'box', program));
        inBox = `/box/${program}`;
      }
      const args = [...box, '--run', '--processes=16', '--time=1', '--wall-time=5', '--mem=262144', '--stdout=/dev/null', '--', inBox];
      const once = () => mustSucceed(spawnSync('isolate', args, { stdio: ['ignore', 'ignore', 'pipe'] }), 'isolate');
      once();
      contenders.push({ tool: 'isolate', program, measure: (n) => timeSync(n, once) });
    }
    return { contenders, cleanup };
  } catch (e) {
    console.error(`isolate skipped: ${(e as Error).message}`);
    cleanup();
    return none;
  }
}

async function main(): Promise<void> {
  const tmp = mkdtempSync(join(tmpdir(), 'gavel-bench-'));
  const sb = Sandbox.open({ size: 1, name: `gavel-bench-${process.pid}`, uidBase: 63000 });
  try {
    writeFileSync(join(tmp, 'hello.c'), HELLO_C);
    writeFileSync(join(tmp, 'spawnfloor.c'), SPAWN_FLOOR_C);
    execFileSync('gcc', ['-static', '-O2', '-o', join(tmp, 'hello'), join(tmp, 'hello.c')]);
    execFileSync('gcc', ['-O2', '-o', join(tmp, 'spawnfloor'), join(tmp, 'spawnfloor.c')]);
    const hello = join(tmp, 'hello');
    const programs = { true: '/bin/true', hello };

    // The judge's shape: the binary in a sealed work dir, stdout to a host file.
    const work = sb.makeWorkDir();
    const reused = sb.makeWorkDir();
    copyFileSync(hello, join(work, 'hello'));
    chmodSync(work, 0o755); // sealed: stays root's, but the program must reach its binary
    const out = join(tmp, 'stdout');
    const check = await sb.run({ argv: ['/box/hello'], workDir: work, sealedWorkDir: true, limits: LIMITS, stdout: { kind: 'file', path: out } });
    if (check.status !== 'OK' || readFileSync(out, 'utf8') !== 'hello\n') throw new Error(`hello in the sandbox: ${JSON.stringify(check)}`);

    console.log(`gavel sandbox bench: ${RUNS} runs each (+${WARMUP} warm-up), ${cpus().length} CPUs, Linux ${release()}, Node ${process.version}`);
    const gavelSpec = (argv: string[]) => ({ argv, workDir: work, sealedWorkDir: true, stdout: { kind: 'file' as const, path: out } });
    const contenders: Contender[] = [
      { tool: 'gavel', program: 'true', measure: (n) => timeGavel(sb, gavelSpec(['/bin/true']), n) },
      { tool: 'gavel', program: 'hello', measure: (n) => timeGavel(sb, gavelSpec(['/box/hello']), n) },
      { tool: 'gavel (idle slot)', program: 'true', measure: (n) => timeGavel(sb, gavelSpec(['/bin/true']), n, IDLE_GAP_MS) },
      // The work dir's cost: one reused (handed to the sandbox uid each run), a fresh one
      // per run from makeWorkDir, and one in memory per run (what `gavel run` and
      // POST /v1/run use).
      { tool: 'gavel (reused dir)', program: 'true', measure: (n) => timeGavel(sb, { argv: ['/bin/true'], workDir: reused }, n) },
      { tool: 'gavel (fresh dir)', program: 'true', measure: (n) => timeGavelFreshDir(sb, n, () => sb.makeWorkDir()) },
      { tool: 'gavel (memory dir)', program: 'true', measure: (n) => timeGavelFreshDir(sb, n, () => sb.makeMemoryWorkDir(LIMITS.memoryBytes)) },
    ];
    for (const [program, path] of Object.entries(programs)) {
      contenders.push({ tool: 'posix_spawn', program, measure: (n) => floor(join(tmp, 'spawnfloor'), path, n) });
    }
    for (const [program, path] of Object.entries(programs)) {
      contenders.push({ tool: 'spawnSync', program, measure: (n) => timeSync(n, () => mustSucceed(spawnSync(path, { stdio: 'ignore' }), `spawnSync ${path}`)) });
    }
    contenders.push(...bwrapContenders(programs));
    const iso = isolateContenders(programs);
    contenders.push(...iso.contenders);
    let rows: Row[];
    try {
      rows = await measureAll(contenders);
    } finally {
      iso.cleanup();
    }
    report(rows);
    await phases(sb, reused);
    cliRows();
  } finally {
    await sb.close();
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** Runs with a work dir made for each (and given back after), as `gavel run` without --dir does. */
async function timeGavelFreshDir(sb: Sandbox, n: number, make: () => string): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const workDir = make();
    const r = await sb.run({ argv: ['/bin/true'], workDir, limits: LIMITS });
    sb.removeWorkDir(workDir);
    out.push(performance.now() - t0);
    if (r.status !== 'OK') throw new Error(`sandbox run with a fresh work dir ended ${r.status}: ${JSON.stringify(r)}`);
  }
  return out;
}

/** Where a warm run of /bin/true spends its time: the median of each traced phase. */
async function phases(sb: Sandbox, workDir: string): Promise<void> {
  const traces: RunTrace[] = [];
  for (let i = 0; i < WARMUP + RUNS; i++) {
    const r = await sb.run({ argv: ['/bin/true'], workDir, limits: LIMITS, trace: true });
    if (r.status !== 'OK' || !r.trace) throw new Error(`traced run ended ${r.status}`);
    if (i >= WARMUP) traces.push(r.trace);
  }
  const keys = Object.keys(traces[0]) as (keyof RunTrace)[];
  const medians = Object.fromEntries(keys.map((k) => [k, stats(traces.map((t) => t[k]).filter((v): v is number => v !== undefined)).median]));
  console.log(`\nwarm /bin/true, per phase (median µs of ${RUNS} traced runs; the phases' medians need not add up to the total's):`);
  for (const k of keys) console.log(`  ${k.padEnd(20)} ${medians[k].toFixed(1).padStart(8)}`);
  console.log(JSON.stringify({ bench: 'sandbox-phases', runs: RUNS, medianUs: medians }));
}

/** `gavel run -- /bin/true` as a whole process, against `node -e 0` in the same rounds. */
function cliRows(): void {
  const n = Number(process.env.BENCH_CLI_RUNS ?? 20);
  const bin = join(dirname(fileURLToPath(import.meta.url)), '../../bin/gavel.js');
  const cli = () => mustSucceed(spawnSync(process.execPath, [bin, 'run', '--', '/bin/true'], { stdio: ['ignore', 'ignore', 'pipe'] }), 'gavel run');
  const node = () => mustSucceed(spawnSync(process.execPath, ['-e', '0'], { stdio: 'ignore' }), 'node -e 0');
  const rows: Row[] = [{ tool: 'gavel run (process)', program: 'true', ms: [] }, { tool: 'node -e 0', program: '-', ms: [] }];
  cli();
  for (let i = 0; i < n; i++) {
    rows[0].ms.push(...timeSync(1, cli));
    rows[1].ms.push(...timeSync(1, node));
  }
  const [c, f] = rows.map((r) => stats(r.ms));
  console.log(`\nwhole processes, ${n} each, alternating:`);
  console.log(`  gavel run -- /bin/true  median ${(c.median / 1000).toFixed(3)} s  p90 ${(c.p90 / 1000).toFixed(3)} s`);
  console.log(`  node -e 0 (floor)       median ${(f.median / 1000).toFixed(3)} s  p90 ${(f.p90 / 1000).toFixed(3)} s   (gavel run = floor + ${((c.median - f.median) / 1000).toFixed(3)} s)`);
  console.log(JSON.stringify({ bench: 'sandbox-cli', runs: n, gavelRunMs: c, nodeFloorMs: f }));
}

function report(rows: Row[]): void {
  const st = rows.map((r) => ({ ...r, s: stats(r.ms) }));
  const base = (tool: string, program: string) => st.find((r) => r.tool === tool && r.program === program)?.s.median;
  const fmt = (n: number | undefined, d = 3) => (n === undefined ? '-' : n.toFixed(d));
  const table = st.map((r) => {
    const ps = base('posix_spawn', r.program);
    const ss = base('spawnSync', r.program);
    return {
      tool: r.tool, program: r.program, median: r.s.median, p90: r.s.p90, mean: r.s.mean, min: r.s.min,
      vsPosixSpawn: ps ? r.s.median / ps : undefined, vsSpawnSync: ss ? r.s.median / ss : undefined,
    };
  });
  const header = ['tool', 'program', 'median ms', 'p90 ms', 'mean ms', 'min ms', '× posix_spawn', '× spawnSync'];
  const lines = table.map((t) => [t.tool, t.program, fmt(t.median), fmt(t.p90), fmt(t.mean), fmt(t.min), fmt(t.vsPosixSpawn, 2), fmt(t.vsSpawnSync, 2)]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const l of lines) console.log(line(l));
  const round = (n: number | undefined) => (n === undefined ? null : Math.round(n * 1000) / 1000);
  console.log(JSON.stringify({
    bench: 'sandbox', runs: RUNS, warmup: WARMUP, cpus: cpus().length, kernel: release(), node: process.version,
    results: table.map((t) => ({
      tool: t.tool, program: t.program, medianMs: round(t.median), p90Ms: round(t.p90), meanMs: round(t.mean), minMs: round(t.min),
      vsPosixSpawn: round(t.vsPosixSpawn), vsSpawnSync: round(t.vsSpawnSync),
    })),
  }));
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
