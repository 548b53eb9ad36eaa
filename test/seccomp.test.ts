// The seccomp filter, tested by installing it for real: a small C probe (compiled here with
// gcc) loads the exported BPF with seccomp(2) and then tries the syscalls the filter is meant
// to refuse or let through. The filter cannot be installed into this process: Node is
// multi-threaded and the filter would also bind the test runner.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildSeccompFilter, DEFAULT_DENY } from '../src/sandbox/seccomp.js';

const here = dirname(fileURLToPath(import.meta.url));
// test/ when run from source, dist/test/ when compiled
const PROBE_SRC = [join(here, 'fixtures/seccomp/probe.c'), join(here, '../../test/fixtures/seccomp/probe.c')]
  .find((p) => existsSync(p)) ?? join(here, 'fixtures/seccomp/probe.c');

const SCMP_ACT_ALLOW = 0x7fff0000;
const SCMP_ACT_KILL_PROCESS = 0x80000000;
const ERRNO_EPERM = 0x00050001;
const ERRNO_ENOSYS = 0x00050026;
const BPF_RET_K = 0x06;

let dir: string;
let probe: string;
const filters: Record<'errno' | 'kill', string> = { errno: '', kill: '' };
let firstBuildMs = 0;

interface ProbeRun { status: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string; out: Record<string, string> }

/** Runs the probe under `filter` (a path, or '-' for none) and parses its key=value output. */
function run(filter: string, ...args: string[]): ProbeRun {
  const r = spawnSync(probe, [filter, ...args], { cwd: dir, encoding: 'utf8', timeout: 120_000 });
  if (r.error) throw r.error;
  const out: Record<string, string> = {};
  for (const word of r.stdout.split(/\s+/)) {
    const eq = word.indexOf('=');
    if (eq > 0) out[word.slice(0, eq)] = word.slice(eq + 1);
  }
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr, out };
}

function writeFilter(name: string, bpf: Buffer): string {
  const path = join(dir, `${name}.bpf`);
  writeFileSync(path, bpf);
  return path;
}

function onPath(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

function rets(bpf: Buffer): Set<number> {
  const set = new Set<number>();
  for (let i = 0; i < bpf.length; i += 8) if (bpf.readUInt16LE(i) === BPF_RET_K) set.add(bpf.readUInt32LE(i + 4));
  return set;
}

before(() => {
  const t0 = performance.now();
  const bpf = buildSeccompFilter();
  firstBuildMs = performance.now() - t0;
  dir = mkdtempSync(join(tmpdir(), 'gavel-seccomp-'));
  probe = join(dir, 'probe');
  const cc = spawnSync('gcc', ['-O2', '-Wall', '-pthread', '-o', probe, PROBE_SRC], { encoding: 'utf8' });
  assert.equal(cc.status, 0, `compiling ${PROBE_SRC} failed:\n${cc.stderr}`);
  filters.errno = writeFilter('errno', bpf);
  filters.kill = writeFilter('kill', buildSeccompFilter({ action: 'kill' }));
});

after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('filter program', () => {
  test('is a whole number of sock_filter entries within BPF_MAXINSNS, arch-checked first', (t) => {
    const bpf = buildSeccompFilter();
    assert.equal(bpf.length % 8, 0);
    const insns = bpf.length / 8;
    assert.ok(insns > 0 && insns <= 4096, `${insns} instructions`);
    // ld [4] (seccomp_data.arch) must come before anything looks at the syscall number
    assert.equal(bpf.readUInt16LE(0), 0x20);
    assert.equal(bpf.readUInt32LE(4), 4);
    t.diagnostic(`default filter: ${insns} instructions (${bpf.length} bytes), first build ${firstBuildMs.toFixed(2)} ms`);
    const kill = buildSeccompFilter({ action: 'kill' });
    t.diagnostic(`kill filter: ${kill.length / 8} instructions`);
  });

  test('returns only the intended actions', () => {
    assert.deepEqual([...rets(buildSeccompFilter())].sort(),
      [ERRNO_EPERM, ERRNO_ENOSYS, SCMP_ACT_ALLOW, SCMP_ACT_KILL_PROCESS].sort());
    // kill mode: no EPERM left; ENOSYS stays for clone3, KILL_PROCESS serves denials and bad arches
    assert.deepEqual([...rets(buildSeccompFilter({ action: 'kill' }))].sort(),
      [ERRNO_ENOSYS, SCMP_ACT_ALLOW, SCMP_ACT_KILL_PROCESS].sort());
  });

  test('is cached per distinct options, whatever their order', () => {
    const a = buildSeccompFilter({ deny: ['uname', 'getcwd'], allow: ['ptrace'] });
    const b = buildSeccompFilter({ allow: ['ptrace'], deny: ['getcwd', 'uname'] });
    assert.equal(a, b);
    assert.equal(buildSeccompFilter(), buildSeccompFilter({}));
    assert.notDeepEqual(a, buildSeccompFilter());
  });

  test('rejects unknown names, contradictions and unknown actions', () => {
    assert.throws(() => buildSeccompFilter({ deny: ['no_such_syscall'] }), /unknown syscall name "no_such_syscall"/);
    assert.throws(() => buildSeccompFilter({ allow: ['ptrac'] }), /unknown syscall name "ptrac"/);
    assert.throws(() => buildSeccompFilter({ deny: ['uname'], allow: ['uname'] }), /"uname" is both allowed and denied/);
    assert.throws(() => buildSeccompFilter({ action: 'trap' as 'kill' }), /unknown action "trap"/);
  });

  test('skips names this architecture lacks', () => {
    // stime and vm86 exist only on 32-bit x86; the default list already names stime
    assert.ok(DEFAULT_DENY.includes('stime'));
    const bpf = buildSeccompFilter({ deny: ['vm86', 'vm86old'] });
    assert.deepEqual(bpf, buildSeccompFilter());
  });
});

describe('without a filter (baseline: the probes can succeed here)', () => {
  const root = process.getuid?.() === 0;
  test('as root, every probed escape syscall works unfiltered', { skip: !root && 'needs root' }, () => {
    assert.equal(run('-', 'ptrace').out.ptrace, 'ok');
    assert.equal(run('-', 'unshare').out.unshare, 'ok');
    assert.equal(run('-', 'mount').out.mount, 'ENOENT');
    const ns = run('-', 'clone-ns').out;
    for (const flag of ['newns', 'newcgroup', 'newuts', 'newipc', 'newuser', 'newpid', 'newnet']) {
      assert.equal(ns[flag], 'ok', `clone(CLONE_${flag.toUpperCase()})`);
    }
    assert.equal(run('-', 'clone3').out.clone3, 'ok');
    assert.equal(run('-', 'personality').out.linux32, 'ok');
  });

  test('the i386 ABI works unfiltered (so SIGSYS below is the filter\'s doing)', () => {
    const r = run('-', 'int80');
    assert.equal(r.signal, null, r.stderr);
    assert.equal(r.out.int80, 'ok');
    // x32: ENOSYS when the kernel lacks CONFIG_X86_X32_ABI, ok when it has it; never a signal
    const x = run('-', 'x32');
    assert.equal(x.signal, null);
    assert.ok(['ok', 'ENOSYS'].includes(x.out.x32), x.stdout);
  });
});

describe('errno mode (default)', () => {
  test('ptrace, unshare and mount fail with EPERM', () => {
    assert.equal(run(filters.errno, 'ptrace').out.ptrace, 'EPERM');
    assert.equal(run(filters.errno, 'unshare').out.unshare, 'EPERM');
    assert.equal(run(filters.errno, 'mount').out.mount, 'EPERM');
  });

  test('clone with any namespace flag fails with EPERM, plain clone and fork work', () => {
    const ns = run(filters.errno, 'clone-ns').out;
    for (const flag of ['newns', 'newcgroup', 'newuts', 'newipc', 'newuser', 'newpid', 'newnet']) {
      assert.equal(ns[flag], 'EPERM', `clone(CLONE_${flag.toUpperCase()})`);
    }
    assert.equal(run(filters.errno, 'clone-plain').out.clone, 'ok');
    const f = run(filters.errno, 'fork').out;
    assert.equal(f.fork, 'ok');
    assert.equal(f.child_exit, '42');
  });

  test('clone3 fails with ENOSYS, and glibc threads still start (clone fallback)', () => {
    assert.equal(run(filters.errno, 'clone3').out.clone3, 'ENOSYS');
    assert.equal(run(filters.errno, 'thread').out.thread, 'ok');
  });

  test('personality: only 0 and the 0xffffffff query pass', () => {
    const p = run(filters.errno, 'personality').out;
    assert.equal(p.query, 'ok');
    assert.equal(p.zero, 'ok');
    assert.equal(p.linux32, 'EPERM');
    assert.equal(p.no_randomize, 'EPERM');
    assert.equal(p.read_implies_exec, 'EPERM');
    assert.equal(p.high_linux32, 'EPERM');
  });

  test('syscalls outside the list are untouched', () => {
    assert.equal(run(filters.errno, 'uname').out.uname, 'ok');
  });
});

describe('foreign ABIs are killed', () => {
  for (const mode of ['errno', 'kill'] as const) {
    test(`i386 int 0x80 and x32 syscalls die with SIGSYS (${mode} mode)`, () => {
      const i = run(filters[mode], 'int80');
      assert.equal(i.signal, 'SIGSYS', `int80: ${i.stdout}${i.stderr}`);
      const x = run(filters[mode], 'x32');
      assert.equal(x.signal, 'SIGSYS', `x32: ${x.stdout}${x.stderr}`);
    });
  }
});

describe('kill mode', () => {
  test('a denied syscall kills the process with SIGSYS', () => {
    for (const p of ['ptrace', 'unshare', 'mount', 'clone-ns']) {
      const r = run(filters.kill, p);
      assert.equal(r.signal, 'SIGSYS', `${p}: ${r.stdout}${r.stderr}`);
    }
  });

  test('clone3 still gets ENOSYS; fork, threads and the personality query survive', () => {
    assert.equal(run(filters.kill, 'clone3').out.clone3, 'ENOSYS');
    assert.equal(run(filters.kill, 'fork').out.fork, 'ok');
    assert.equal(run(filters.kill, 'thread').out.thread, 'ok');
    const p = run(filters.kill, 'personality');
    assert.equal(p.out.query, 'ok');
    assert.equal(p.out.zero, 'ok');
    assert.equal(p.signal, 'SIGSYS'); // killed at PER_LINUX32
  });
});

describe('options', () => {
  test('allow lifts entries from the default list', () => {
    const f = writeFilter('allow', buildSeccompFilter({ allow: ['ptrace', 'personality', 'clone3'] }));
    assert.equal(run(f, 'ptrace').out.ptrace, 'ok');
    assert.equal(run(f, 'personality').out.linux32, 'ok');
    assert.equal(run(f, 'clone3').out.clone3, 'ok');
    assert.equal(run(f, 'unshare').out.unshare, 'EPERM');
  });

  test('deny adds syscalls, with the chosen action', () => {
    const e = writeFilter('deny-errno', buildSeccompFilter({ deny: ['uname'] }));
    assert.equal(run(e, 'uname').out.uname, 'EPERM');
    const k = writeFilter('deny-kill', buildSeccompFilter({ deny: ['uname'], action: 'kill' }));
    assert.equal(run(k, 'uname').signal, 'SIGSYS');
  });
});

describe('compilers and runtimes run under the filter', () => {
  const tools: [string, string[], RegExp][] = [
    ['/bin/true', [], /^$/],
    ['python3', ['-c', 'print(1)'], /^1$/m],
    ['gcc', ['--version'], /gcc/i],
    ['java', ['-version'], /version/],
  ];
  for (const mode of ['errno', 'kill'] as const) {
    for (const [cmd, args, expect] of tools) {
      test(`${cmd} ${args.join(' ')} (${mode} mode)`, { skip: !onPath(cmd) && `${cmd} is not installed` }, () => {
        const r = run(filters[mode], 'exec', cmd, ...args);
        assert.equal(r.signal, null, `${cmd} killed by ${r.signal}: ${r.stderr}`);
        assert.equal(r.status, 0, r.stderr);
        assert.match(r.stdout + r.stderr, expect);
      });
    }

    test(`gcc compiles a program whose binary then runs (${mode} mode)`, () => {
      const src = join(dir, `hello-${mode}.c`);
      const bin = join(dir, `hello-${mode}`);
      writeFileSync(src, '#include <stdio.h>\nint main(void) { puts("hello"); return 3; }\n');
      const cc = run(filters[mode], 'exec', 'gcc', '-O2', '-o', bin, src);
      assert.equal(cc.signal, null, cc.stderr);
      assert.equal(cc.status, 0, cc.stderr);
      const r = run(filters[mode], 'exec', bin);
      assert.equal(r.status, 3);
      assert.equal(r.stdout, 'hello\n');
    });
  }
});
