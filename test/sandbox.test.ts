// The sandbox against hostile programs, on the real kernel: each C program under
// test/fixtures/hostile is compiled here with gcc and run through Sandbox.run with real
// namespaces, cgroups, rlimits and seccomp. Needs root.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { exitWatcher } from '../src/sandbox/reaper.js';
import { Sandbox } from '../src/sandbox/sandbox.js';
import type { RunResult } from '../src/sandbox/types.js';
import {
  cgroupParents, childCgroups, compileFixtures, fdCountSettledTo, mountsMatching, parseKv, processesInCgroupsOf,
  processesWithUid, runCaptured, show, stableFdCount, type Programs, type RunOptions,
} from './helpers/sandbox.js';

const NAME = `gavel-test-sandbox-${process.pid}`;
// Away from the service's default (60000) and the judge test's (61000).
const UID_BASE = 62000;
const SIZE = 2;
const MiB = 1 << 20;
// Inside the cgroup-v2 guest (an emulator, 6-35x slower) timing margins and run counts shrink.
const inVm = process.env.GAVEL_CGROUP2_VM === '1';
const SLOW = { timeout: inVm ? 600_000 : 60_000 };

let sandbox: Sandbox;
let progs: Programs;

before(async () => {
  progs = await compileFixtures('hostile');
  sandbox = Sandbox.open({ size: SIZE, name: NAME, uidBase: UID_BASE });
});

after(async () => {
  await sandbox?.close();
  progs?.cleanup();
});

/** Runs a fixture program; the binaries are shown to the sandbox read-only at /data. */
function hostile(name: string, args: string[] = [], opts: RunOptions = {}) {
  return runCaptured(sandbox, [progs.at(name), ...args], { dataDir: progs.dir, ...opts });
}

function sandboxProcesses() {
  return processesWithUid(UID_BASE, UID_BASE + SIZE);
}

test('busy loop: TLE by CPU time, measured close to the limit', SLOW, async (t) => {
  const limit = 500;
  const slack = inVm ? 1000 : 150;
  const { result: r } = await hostile('spin', [], { limits: { timeMs: limit, wallTimeMs: 30_000 } });
  t.diagnostic(`cpu ${r.cpuTimeMs} ms, wall ${r.wallTimeMs} ms`);
  assert.equal(r.status, 'TLE', show(r));
  assert.equal(r.limit, 'cpu', show(r));
  assert.ok(r.cpuTimeMs >= limit && r.cpuTimeMs < limit + slack, `cpu time ${r.cpuTimeMs} ms for a ${limit} ms limit`);
  assert.equal(r.signal, 9, show(r));
});

test('sleeping forever: TLE by wall time', SLOW, async (t) => {
  const wall = 300;
  const { result: r } = await hostile('sleep', [], { limits: { timeMs: 2000, wallTimeMs: wall } });
  t.diagnostic(`cpu ${r.cpuTimeMs} ms, wall ${r.wallTimeMs} ms`);
  assert.equal(r.status, 'TLE', show(r));
  assert.equal(r.limit, 'wall', show(r));
  assert.ok(r.wallTimeMs >= wall, show(r));
  assert.ok(r.cpuTimeMs < 2000, show(r));
});

test('1 GiB touched under a 64 MiB limit: MLE, never RE', SLOW, async (t) => {
  const limit = 64 * MiB;
  const c = await hostile('memtouch', ['1024'], { limits: { memoryBytes: limit } });
  t.diagnostic(`peak ${c.result.memoryBytes} bytes, signal ${c.result.signal}`);
  assert.equal(c.result.status, 'MLE', show(c));
  assert.doesNotMatch(c.out, /touched=/, 'the program must not have finished');
  assert.ok(c.result.memoryBytes <= limit * 1.05, show(c));
});

test('fork bomb under 16 processes: contained, and the next run in the same sandbox is OK', SLOW, async (t) => {
  const processes = 16;
  let maxSeen = 0;
  const { result: r } = await hostile('forkbomb', [], {
    limits: { processes, timeMs: 1000, wallTimeMs: 3000 },
    telemetryMs: 10,
    onTelemetry: (s) => {
      maxSeen = Math.max(maxSeen, s.processes);
    },
  });
  t.diagnostic(`${r.status}/${r.limit ?? '-'}: cpu ${r.cpuTimeMs} ms, wall ${r.wallTimeMs} ms, at most ${maxSeen} processes seen`);
  assert.notEqual(r.status, 'OK', show(r));
  assert.notEqual(r.status, 'SE', show(r));
  // pids.max is the program's limit plus gavel-init.
  assert.ok(maxSeen > 1 && maxSeen <= processes + 1, `saw ${maxSeen} processes at once`);
  assert.ok(sandbox.pool.slots.reduce((n, s) => n + s.cgroup.stats().pidsMaxHits, 0) > 0, 'the bomb must have hit pids.max');
  // The whole bomb is gone, not just its first process (a slot's next sandbox may already
  // wait in its cgroup, but as root until its run starts).
  assert.deepEqual(sandboxProcesses(), []);
  assert.equal(spawnSync('/bin/true').status, 0, 'the host can still start processes');
  const next = await hostile('memtouch', ['0']);
  assert.equal(next.result.status, 'OK', show(next));
  assert.equal(next.out, 'touched=0\n');
});

test('output flood: OLE, and the file stops at the limit', SLOW, async (t) => {
  const outputBytes = 1 * MiB;
  const c = await hostile('flood', [], { limits: { outputBytes } });
  t.diagnostic(`stdout ${c.stdout.length} bytes, signal ${c.result.signal}`);
  assert.equal(c.result.status, 'OLE', show(c.result));
  assert.ok(c.stdout.length <= outputBytes + 1, `${c.stdout.length} bytes written`);
  assert.equal(c.result.stdoutBytes, c.stdout.length);
});

test('segfault: RE with signal 11', SLOW, async () => {
  const { result: r } = await hostile('segv');
  assert.equal(r.status, 'RE', show(r));
  assert.equal(r.signal, 11, show(r));
  assert.equal(r.exitCode, null);
});

test('exit 3: RE with exit code 3', SLOW, async () => {
  const { result: r } = await hostile('exit3');
  assert.equal(r.status, 'RE', show(r));
  assert.equal(r.exitCode, 3, show(r));
  assert.equal(r.signal, null);
});

test('a command that cannot be executed: RE with 127 (missing) or 126 (not executable), as in a shell', SLOW, async () => {
  const missing = (await runCaptured(sandbox, ['/nope'])).result;
  assert.equal(missing.status, 'RE', show(missing));
  assert.equal(missing.exitCode, 127, show(missing));
  assert.equal(missing.error, 'cannot execute /nope: ENOENT');
  // /usr is in every sandbox; a header has no execute bit
  const plain = (await runCaptured(sandbox, ['/usr/include/stdio.h'])).result;
  assert.equal(plain.status, 'RE', show(plain));
  assert.equal(plain.exitCode, 126, show(plain));
  assert.equal(plain.error, 'cannot execute /usr/include/stdio.h: EACCES');
});

test('abort(): RE with signal 6, so the program is not pid 1', SLOW, async () => {
  const { result: r } = await hostile('abort');
  assert.equal(r.status, 'RE', show(r));
  assert.equal(r.signal, 6, show(r));
});

test('no network: not the host loopback, not the outside, only lo visible', SLOW, async () => {
  let connections = 0;
  const tcp = net.createServer((s) => {
    connections++;
    s.destroy();
  });
  const abstractName = `gavel-test-${process.pid}-abstract`;
  const unix = net.createServer((s) => {
    connections++;
    s.destroy();
  });
  await new Promise<void>((resolve) => tcp.listen(0, '127.0.0.1', resolve));
  await new Promise<void>((resolve) => unix.listen(`\0${abstractName}`, resolve));
  try {
    const port = (tcp.address() as net.AddressInfo).port;
    // Both servers answer from the host, so a refusal below is the sandbox's doing.
    for (const target of [{ port, host: '127.0.0.1' }, { path: `\0${abstractName}` }]) {
      await new Promise<void>((resolve, reject) => net.connect(target, resolve).on('error', reject));
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(connections, 2, 'the control connections reached the servers');
    connections = 0;

    const c = await hostile('net', [String(port), abstractName]);
    assert.equal(c.result.status, 'OK', show(c));
    const o = parseKv(c.out);
    assert.equal(o.tcp_local, 'ECONNREFUSED', `loopback inside is not the host's: ${c.out}`);
    assert.equal(o.tcp_outside, 'ENETUNREACH', c.out);
    assert.equal(o.udp_outside, 'ENETUNREACH', c.out);
    assert.equal(o.unix_abstract, 'ECONNREFUSED', `abstract unix sockets are per network namespace: ${c.out}`);
    assert.equal(o.ifaces, 'lo', c.out);
    assert.equal(o.procnetdev, 'lo', c.out);
    assert.equal(connections, 0, 'nothing from the sandbox reached the host servers');
  } finally {
    tcp.close();
    unix.close();
  }
});

test('host processes are invisible: only pid 1 (init) and the program', SLOW, async () => {
  // A sandbox serves run after run, so the program's pid grows; it is never 1, its parent
  // is our init, and nothing else is there, whatever ran before in the same sandbox.
  for (let i = 0; i < 3; i++) {
    const c = await hostile('procs');
    assert.equal(c.result.status, 'OK', show(c));
    const o = parseKv(c.out);
    assert.equal(o.ppid, '1', c.out);
    assert.notEqual(o.self, '1', c.out);
    assert.equal(o.pids, `1,${o.self}`, c.out);
  }
});

test('nothing is writable outside /box and /tmp', SLOW, async () => {
  const probe = `gavel-probe-${process.pid}`;
  const c = await hostile('writes', [probe]);
  assert.equal(c.result.status, 'OK', show(c));
  const o = parseKv(c.out);
  const keys = Object.keys(o);
  assert.equal(keys.length, 14 * 2 + 8, c.out);
  for (const k of keys) {
    const writable = /^(create|mkdir):\/(box|tmp)$/.test(k) || k === 'write:/dev/null';
    if (writable) assert.equal(o[k], 'ok', `${k} should work: ${c.out}`);
    else assert.notEqual(o[k], 'ok', `${k} must fail: ${c.out}`);
  }
  // Nothing reached the host, nor the slot's root skeleton that is the sandbox's "/".
  const roots = ['', ...sandbox.pool.slots.map((s) => s.rootDir)];
  for (const root of roots) {
    for (const dir of ['', '/usr', '/usr/bin', '/etc', '/dev']) {
      for (const n of [probe, `${probe}.d`]) assert.ok(!existsSync(`${root}${dir}/${n}`), `${root}${dir}/${n} exists`);
    }
  }
});

test('/etc/shadow is absent, and the host root is not reachable through /proc', SLOW, async () => {
  const c = await hostile('identity');
  const o = parseKv(c.out);
  assert.equal(o.shadow, 'ENOENT', c.out);
  assert.equal(o.gshadow, 'ENOENT', c.out);
  assert.notEqual(o.shadow_via_init, 'ok', c.out);
});

test('the program is not root and has no capabilities', SLOW, async () => {
  const c = await hostile('identity');
  assert.equal(c.result.status, 'OK', show(c));
  const o = parseKv(c.out);
  for (const k of ['uid', 'euid', 'gid', 'egid']) {
    const id = Number(o[k]);
    assert.ok(id >= UID_BASE && id < UID_BASE + SIZE, `${k}=${o[k]}: ${c.out}`);
  }
  assert.equal(o.groups, '0', 'no supplementary groups');
  for (const k of ['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb']) assert.match(o[k] ?? '', /^0{16}$/, `${k}: ${c.out}`);
  assert.equal(o.NoNewPrivs, '1');
  assert.equal(o.Seccomp, '2', 'a seccomp filter is installed');
});

test('ptrace, mount, unshare and the other ways out are denied', SLOW, async () => {
  const c = await hostile('escape');
  assert.equal(c.result.status, 'OK', show(c));
  const o = parseKv(c.out);
  assert.equal(Object.keys(o).length, 13, c.out);
  for (const [k, v] of Object.entries(o)) assert.notEqual(v, 'ok', `${k} must fail: ${c.out}`);
  for (const k of ['ptrace_traceme', 'ptrace_attach_init', 'mount_tmpfs', 'mount_bind', 'unshare_user', 'unshare_mount', 'unshare_net', 'clone_newuser']) {
    assert.equal(o[k], 'EPERM', `${k}: ${c.out}`);
  }
});

test('CPU time agrees with the program\'s own getrusage within 5 %', SLOW, async (t) => {
  const c = await hostile('cpuburn', ['500']);
  assert.equal(c.result.status, 'OK', show(c));
  const ownMs = Number(parseKv(c.out).rusage_us) / 1000;
  assert.ok(ownMs >= 500, c.out);
  t.diagnostic(`sandbox ${c.result.cpuTimeMs} ms, getrusage ${ownMs} ms`);
  // The cgroup also counts init's start of the program, which the emulator slows ~35x.
  const tolerance = inVm ? 0.1 : 0.05;
  assert.ok(Math.abs(c.result.cpuTimeMs - ownMs) <= ownMs * tolerance, `sandbox says ${c.result.cpuTimeMs} ms, getrusage ${ownMs} ms`);
});

test('peak memory of a 100 MiB touch is 100 MiB over the baseline, within 5 %', SLOW, async (t) => {
  const limits = { memoryBytes: 256 * MiB };
  const base = await hostile('memtouch', ['0'], { limits });
  const big = await hostile('memtouch', ['100'], { limits });
  assert.equal(base.result.status, 'OK', show(base));
  assert.equal(big.result.status, 'OK', show(big));
  const over = big.result.memoryBytes - base.result.memoryBytes;
  t.diagnostic(`baseline ${base.result.memoryBytes} bytes, 100 MiB touch ${big.result.memoryBytes} bytes, difference ${(over / MiB).toFixed(2)} MiB`);
  assert.ok(base.result.memoryBytes > 0, show(base));
  assert.ok(Math.abs(over - 100 * MiB) <= 5 * MiB, `peak ${big.result.memoryBytes} - baseline ${base.result.memoryBytes} = ${over} bytes`);
});

test('stdin from a file reaches the program byte for byte', SLOW, async () => {
  const input = Buffer.alloc(300_000);
  for (let i = 0; i < input.length; i++) input[i] = (i * 7919 + (i >> 9)) & 0xff;
  const c = await hostile('cat', [], { stdin: input });
  assert.equal(c.result.status, 'OK', show(c.result));
  assert.equal(c.stdout.length, input.length);
  assert.ok(c.stdout.equals(input), 'stdout differs from stdin');
});

test('argv and env pass through exactly, and the host environment does not leak', SLOW, async () => {
  process.env.GAVEL_TEST_HOST_ONLY = 'must-not-leak';
  try {
    const args = ['a b', '', 'ü→✓', '--x=1', 'line\nbreak', '$HOME', '*'];
    const env = { GAVEL_A: 'x y', GAVEL_EMPTY: '', GAVEL_UNI: 'ü=✓' };
    const c = await hostile('args', args, { env });
    assert.equal(c.result.status, 'OK', show(c));
    const entries = c.out.split('\0').slice(0, -1);
    const argv = entries.filter((e) => e.startsWith('A:')).map((e) => e.slice(2));
    const envp = entries.filter((e) => e.startsWith('E:')).map((e) => e.slice(2));
    assert.deepEqual(argv, [progs.at('args'), ...args]);
    for (const [k, v] of Object.entries(env)) assert.ok(envp.includes(`${k}=${v}`), `${k} missing from ${JSON.stringify(envp)}`);
    assert.ok(envp.some((e) => e.startsWith('PATH=')), 'a default PATH');
    assert.ok(!envp.some((e) => e.startsWith('GAVEL_TEST_HOST_ONLY=')), `host env leaked: ${JSON.stringify(envp)}`);
  } finally {
    delete process.env.GAVEL_TEST_HOST_ONLY;
  }
});

test('1000 runs of /bin/true leave no cgroup, mount, process or fd behind', { timeout: inVm ? 900_000 : 120_000 }, async (t) => {
  const name = `${NAME}-leak`;
  const uidBase = UID_BASE + 100;
  const size = 2;
  const runs = inVm ? 200 : 1000;
  exitWatcher(); // process-wide and long-lived: not a leak, so let it exist before counting
  const fdsBeforeOpen = await stableFdCount();
  const gavelMounts = mountsMatching('gavel').length;
  const sb = Sandbox.open({ size, name, uidBase });
  let closed = false;
  try {
    const parents = cgroupParents(name, sb.pool.cgroups.version === 2 ? sb.pool.cgroups.root : undefined);
    assert.ok(parents.length > 0 && parents.every((p) => existsSync(p)), `cgroup parents ${parents.join(' ')}`);
    const slotsOf = () => parents.map((p) => childCgroups(p));
    const initial = slotsOf();
    for (const names of initial) assert.deepEqual(names, ['slot-0', 'slot-1']);

    const one = async (): Promise<RunResult> => {
      const workDir = sb.makeWorkDir();
      try {
        return await sb.run({ argv: ['/bin/true'], workDir, limits: { timeMs: 1000, wallTimeMs: 5000, memoryBytes: 64 * MiB, outputBytes: MiB, processes: 4 } });
      } finally {
        sb.removeWorkDir(workDir);
      }
    };
    for (const r of await Promise.all([one(), one()])) assert.equal(r.status, 'OK', show(r));
    const fdsOpen = await stableFdCount();
    const t0 = performance.now();
    const bad: RunResult[] = [];
    for (let i = 0; i < runs; i += size) {
      for (const r of await Promise.all(Array.from({ length: size }, one))) if (r.status !== 'OK') bad.push(r);
    }
    t.diagnostic(`${runs} runs in ${((performance.now() - t0) / 1000).toFixed(1)} s, ${size} at a time`);
    assert.deepEqual(bad.slice(0, 3), [], `${bad.length} runs failed`);

    assert.equal(await fdCountSettledTo(fdsOpen), fdsOpen, 'fds leaked by runs');
    assert.deepEqual(processesWithUid(uidBase, uidBase + size), [], 'processes left running as a sandbox uid');
    // At most each slot's next sandbox, waiting for a run and not yet unprivileged.
    const waiting = processesInCgroupsOf(name);
    assert.ok(waiting.length <= size && waiting.every((p) => p.uid === 0), `in the instance's cgroups: ${JSON.stringify(waiting)}`);
    assert.deepEqual(mountsMatching(name), []);
    assert.equal(mountsMatching('gavel').length, gavelMounts, 'a sandbox mount reached the host mount table');
    assert.deepEqual(slotsOf(), initial, 'only the slot cgroups under the parent');
    assert.deepEqual(readdirSync(`${sb.pool.runDir}/work`), [], 'work dirs left');

    await sb.close();
    closed = true;
    for (const p of parents) assert.ok(!existsSync(p), `${p} still exists after close()`);
    assert.ok(!existsSync(sb.pool.runDir), `${sb.pool.runDir} still exists after close()`);
    assert.deepEqual(processesInCgroupsOf(name), []);
    assert.deepEqual(processesWithUid(uidBase, uidBase + size), []);
    assert.deepEqual(mountsMatching(name), []);
    assert.equal(await fdCountSettledTo(fdsBeforeOpen), fdsBeforeOpen, 'fds leaked by open/close');
  } finally {
    if (!closed) await sb.close();
  }
});

test('a sandbox serves run after run: nothing of one run is left for the next', SLOW, async () => {
  // Both slots get the same runs, so whichever sandbox serves them, each has had a
  // previous run that left a file in /tmp, background processes and a SysV segment.
  const leave = 'echo secret > /tmp/left; (sleep 600 &); (sleep 600 &); ipcmk -M 4096 >/dev/null 2>&1; touch /box/mine; echo done';
  const look = 'echo "tmp=$(ls -A /tmp | wc -l)"; echo "sleeps=$(cat /proc/[0-9]*/comm 2>/dev/null | grep -c sleep)"; ' +
    'echo "box=$(ls -A /box | wc -l)"; echo "shm=$(ipcs -m 2>/dev/null | grep -c "^0x")"';
  for (let i = 0; i < 2 * SIZE; i++) {
    const first = await runCaptured(sandbox, ['/bin/sh', '-c', leave]);
    assert.equal(first.result.status, 'OK', show(first));
    assert.match(first.out, /done/);
    const next = await runCaptured(sandbox, ['/bin/sh', '-c', look]);
    assert.equal(next.result.status, 'OK', show(next));
    const o = parseKv(next.out);
    assert.equal(o.tmp, '0', `/tmp must start empty: ${next.out}`);
    assert.equal(o.sleeps, '0', `background processes of the last run survived: ${next.out}`);
    assert.equal(o.box, '0', 'a fresh work dir shows nothing of the last one');
    assert.equal(o.shm, '0', `shared memory segments left: ${next.out}`);
  }
  assert.deepEqual(sandboxProcesses(), [], 'no process of a sandbox uid may outlive its run');
});

test('a fork bomb left running by a program that exits is swept before the next run', SLOW, async () => {
  const bomb = await runCaptured(sandbox, ['/bin/sh', '-c', 'b() { b & b & }; (b &); exit 0'], { limits: { processes: 16 } });
  assert.ok(['OK', 'RE', 'TLE'].includes(bomb.result.status), show(bomb));
  for (let i = 0; i < SIZE; i++) {
    const next = await runCaptured(sandbox, ['/bin/sh', '-c', 'echo "procs=$(ls -d /proc/[0-9]* | wc -l)"']);
    assert.equal(next.result.status, 'OK', show(next));
    // init, the shell, the command substitution's subshell, ls and wc at most
    assert.ok(Number(parseKv(next.out).procs) <= 5, next.out);
  }
  assert.deepEqual(sandboxProcesses(), [], 'no process of a sandbox uid may outlive its run');
});

test('when Node is killed with SIGKILL mid-run, its sandboxes die with it', SLOW, async () => {
  const name = `gavel-test-orphan-${process.pid}`;
  const uid = 64500;
  const script = `
    import { Sandbox } from ${JSON.stringify(new URL('../src/sandbox/sandbox.js', import.meta.url).href)};
    const sb = Sandbox.open({ size: 1, name: ${JSON.stringify(name)}, uidBase: ${uid} });
    const limits = { timeMs: 600000, wallTimeMs: 600000, memoryBytes: 64 << 20, outputBytes: 1 << 20, processes: 4 };
    sb.run({ argv: ['/bin/sleep', '1000'], limits, workDir: sb.makeWorkDir() });
    const poll = setInterval(() => {}, 1000);
    process.stdout.write('started\\n');`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await new Promise<void>((resolve, reject) => {
      child.stdout!.once('data', () => resolve());
      child.once('exit', (code) => reject(new Error(`the child exited early (${code})`)));
    });
    // The sleep is running in the sandbox under the slot's uid.
    for (let i = 0; i < 100 && processesWithUid(uid, uid + 1).length === 0; i++) await sleep(50);
    assert.ok(processesWithUid(uid, uid + 1).length > 0, 'the sandboxed program should be running');
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    // No restart, no cleanup by anyone: the kernel's parent-death signal alone ends it.
    for (let i = 0; i < 100 && processesWithUid(uid, uid + 1).length > 0; i++) await sleep(50);
    assert.deepEqual(processesWithUid(uid, uid + 1), []);
  } finally {
    child.kill('SIGKILL');
    // What a SIGKILLed service leaves (its cgroups and run dir) goes at its next start;
    // here the test does that part.
    const { openCgroups } = await import('../src/sandbox/cgroup/index.js');
    const cg = openCgroups({ parentName: name });
    cg.cleanupStale();
    cg.destroy();
    rmSync(`/run/${name}`, { recursive: true, force: true });
  }
});
