// Signals against a service that is making sandboxes: a Node process with handlers for
// SIGUSR1, SIGUSR2, SIGWINCH, SIGCHLD, SIGHUP, SIGALRM and SIGURG clones cells in a loop
// (every run is cancelled, so every next run needs a fresh clone) and now and then builds a
// whole pool (pooled namespaces and the template mount namespace), while this process
// sends it, and every clone child it has, those signals as fast as it can. The clone
// child shares Node's memory until it execs: a Node handler running there would corrupt
// the service. Nothing may crash, and every run must still produce its exact output.
// Needs root.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { test } from 'node:test';
import { detectCgroupVersion } from '../src/sandbox/cgroup/index.js';

const inVm = process.env.GAVEL_CGROUP2_VM === '1';
const ROUNDS = inVm ? 20 : 100;
const POOLS = inVm ? 2 : 4;
const SIGNALS = ['SIGUSR1', 'SIGUSR2', 'SIGWINCH', 'SIGCHLD', 'SIGHUP', 'SIGALRM', 'SIGURG'] as const;

/** Direct children of every thread of `pid` (the clone children and cells' inits). */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        for (const c of readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').split(' ')) if (c.trim()) out.push(Number(c));
      } catch {
        // the thread ended
      }
    }
  } catch {
    // the process ended
  }
  return out;
}

/**
 * The clone paths of older kernels, taken on this one (GAVEL_TEST_CLONE, native/shim.c):
 * clone3 without CLONE_CLEAR_SIGHAND (the child resets Node's handlers itself), and plain
 * clone — which cannot place the child into a v2 cgroup, so only where cgroups are v1.
 */
const VARIANTS: { label: string; env?: string }[] = [
  { label: 'clone3 with CLONE_CLEAR_SIGHAND' },
  { label: 'clone3, handlers reset by the child', env: 'no-clear-sighand' },
  ...(detectCgroupVersion() === 1 ? [{ label: 'clone, handlers reset by the child', env: 'clone' }] : []),
];

for (const [k, variant] of VARIANTS.entries()) {
  test(`signals sent while cells are cloned in a loop (${variant.label}): no crash, every run exact`, { timeout: inVm ? 900_000 : 180_000 }, (t) => bombard(t, k, variant.env));
}

async function bombard(t: { diagnostic: (s: string) => void }, k: number, cloneMode: string | undefined): Promise<void> {
  const name = `gavel-test-signals-${process.pid}-${k}`;
  const uid = 64800 + k * 10;
  const mod = (p: string) => JSON.stringify(new URL(p, import.meta.url).href);
  const script = `
    import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
    import { join } from 'node:path';
    import { Sandbox } from ${mod('../src/sandbox/sandbox.js')};
    const seen = {};
    for (const s of ${JSON.stringify(SIGNALS)}) process.on(s, () => { seen[s] = (seen[s] ?? 0) + 1; });
    const limits = { timeMs: 2000, wallTimeMs: 10000, memoryBytes: 64 << 20, outputBytes: 1 << 20, processes: 8 };
    const wrong = [];
    let runs = 0, fresh = 0;
    async function round(sb, i) {
      const dir = sb.makeWorkDir();
      try {
        const out = join(dir, 'out');
        const r = await sb.run({ argv: ['/bin/echo', 'run ' + i], limits, workDir: dir, stdout: { kind: 'file', path: out } });
        runs++;
        const text = readFileSync(out, 'utf8');
        if (r.status !== 'OK' || text !== 'run ' + i + '\\n') wrong.push({ i, r, text });
        // A cancelled run spends its cell: the next run of the slot gets a fresh clone.
        const ac = new AbortController();
        const p = sb.run({ argv: ['/bin/sleep', '10'], limits, workDir: dir, signal: ac.signal });
        setImmediate(() => ac.abort());
        const c = await p;
        if (c.status !== 'SE') wrong.push({ i, cancelled: c });
        fresh++;
      } finally {
        sb.removeWorkDir(dir);
      }
    }
    let sb = Sandbox.open({ size: 1, name: ${JSON.stringify(name)}, uidBase: ${uid} });
    process.stdout.write('ready\\n');
    for (let i = 0; i < ${ROUNDS}; i++) {
      if (i > 0 && i % Math.ceil(${ROUNDS} / ${POOLS}) === 0) {
        await sb.close();
        sb = Sandbox.open({ size: 1, name: ${JSON.stringify(name)}, uidBase: ${uid} });
      }
      await round(sb, i);
    }
    await sb.close();
    process.stdout.write(JSON.stringify({ runs, fresh, wrong, seen }) + '\\n');
    // Node restores default dispositions while it exits: wait until the signals stop.
    process.stdin.resume();
    process.stdin.on('end', () => process.exit(0));`;
  const env = { ...process.env, GAVEL_TEST_CLONE: cloneMode ?? '' };
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['pipe', 'pipe', 'pipe'], env });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.once('exit', (code, signal) => r({ code, signal })));
  let sent = 0;
  let alive = true;
  try {
    await new Promise<void>((resolve, reject) => {
      const onData = () => out.includes('ready\n') && (child.stdout!.off('data', onData), resolve());
      child.stdout!.on('data', onData);
      child.once('exit', () => reject(new Error(`the child exited before it was ready: ${err}`)));
    });
    void exited.then(() => (alive = false));
    child.stdout!.on('data', () => out.includes('"runs"') && (alive = false));
    // As fast as the event loop turns: the service and each of its clone children.
    while (alive) {
      const targets = [child.pid!, ...childrenOf(child.pid!)];
      for (const sig of SIGNALS) {
        for (const pid of targets) {
          try {
            process.kill(pid, sig);
            sent++;
          } catch {
            // gone already
          }
        }
      }
      await new Promise((r) => setImmediate(r));
    }
    child.stdin!.end();
    const { code, signal } = await exited;
    t.diagnostic(`${sent} signals sent`);
    assert.equal(signal, null, `the service died of ${signal}: ${err}`);
    assert.equal(code, 0, `the service exited with ${code}: ${err}`);
    const report = JSON.parse(out.trim().split('\n').at(-1)!);
    t.diagnostic(`service saw ${JSON.stringify(report.seen)}`);
    assert.deepEqual(report.wrong, []);
    assert.equal(report.runs, ROUNDS);
    assert.equal(report.fresh, ROUNDS);
    for (const s of SIGNALS) assert.ok(report.seen[s] > 0, `the service's ${s} handler never ran: the test did not test`);
  } finally {
    child.kill('SIGKILL');
    await exited;
    // If the child was killed mid-way, what it left goes the way a restart would remove it.
    const { openCgroups } = await import('../src/sandbox/cgroup/index.js');
    const cg = openCgroups({ parentName: name });
    cg.cleanupStale();
    cg.destroy();
    rmSync(`/run/${name}`, { recursive: true, force: true });
  }
}
