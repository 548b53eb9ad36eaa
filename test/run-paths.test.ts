// The fast paths of a run, on the real sandbox: a work dir in memory (a detached tmpfs
// attached as /box), streams in memoryFiles, work dirs reused through makeWorkDir, and the
// per-phase trace. Needs root.
import assert from 'node:assert/strict';
import { closeSync, existsSync, readdirSync, readSync, writeFileSync, writeSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { Sandbox } from '../src/sandbox/sandbox.js';
import type { RunLimits } from '../src/sandbox/types.js';

const L: RunLimits = { timeMs: 2000, wallTimeMs: 5000, memoryBytes: 64 << 20, outputBytes: 1 << 20, processes: 8 };
let sb: Sandbox;

before(() => {
  sb = Sandbox.open({ size: 1, name: `gavel-test-paths-${process.pid}`, uidBase: 64900 });
});
after(() => sb?.close());

function text(fd: number): string {
  const b = Buffer.alloc(1 << 16);
  return b.subarray(0, readSync(fd, b, 0, b.length, 0)).toString();
}

test('a memory work dir: the files put there are /box, the program writes there, and nothing is left', async () => {
  const dir = sb.makeMemoryWorkDir(1 << 20);
  writeFileSync(`${dir}/in.txt`, 'from the host\n');
  const [inp, out, err] = [sb.memoryFile(), sb.memoryFile(), sb.memoryFile()];
  try {
    writeSync(inp, Buffer.from('from stdin\n'), 0, 11, 0);
    const r = await sb.run({
      argv: ['/bin/sh', '-c', 'cat in.txt; cat; echo made > new.txt; cat new.txt; pwd; echo oops >&2; stat -c %U .'],
      limits: L, workDir: dir, stdin: { kind: 'fd', fd: inp }, stdout: { kind: 'fd', fd: out }, stderr: { kind: 'fd', fd: err },
    });
    assert.equal(r.status, 'OK', JSON.stringify(r));
    assert.equal(text(out), 'from the host\nfrom stdin\nmade\n/box\nsandbox\n');
    assert.equal(text(err), 'oops\n');
    assert.equal(r.stdoutBytes, Buffer.byteLength(text(out)), 'a memoryFile output is measured');
    await assert.rejects(sb.run({ argv: ['/bin/true'], limits: L, workDir: dir }), /already used by a run/);
  } finally {
    for (const fd of [inp, out, err]) closeSync(fd);
    sb.removeWorkDir(dir);
  }
  assert.ok(!existsSync(`${dir}/in.txt`), 'the host holds nothing of the memory dir after its run');
});

test('a memory work dir is bounded by its size, and output past outputBytes to a memoryFile is OLE', async () => {
  const dir = sb.makeMemoryWorkDir(256 << 10);
  try {
    const r = await sb.run({ argv: ['/bin/sh', '-c', 'head -c 1048576 /dev/zero > big || echo full'], limits: L, workDir: dir, stdout: { kind: 'null' } });
    assert.equal(r.status, 'OK', JSON.stringify(r));
  } finally {
    sb.removeWorkDir(dir);
  }
  const out = sb.memoryFile();
  const d2 = sb.makeWorkDir();
  try {
    const r = await sb.run({ argv: ['/bin/sh', '-c', 'head -c 3000000 /dev/zero'], limits: L, workDir: d2, stdout: { kind: 'fd', fd: out } });
    assert.equal(r.status, 'OLE', JSON.stringify(r));
  } finally {
    closeSync(out);
    sb.removeWorkDir(d2);
  }
});

test('a reused work dir comes back empty, whatever the program left in it', async () => {
  const a = sb.makeWorkDir();
  const r = await sb.run({ argv: ['/bin/sh', '-c', 'mkdir -p x/y && echo 1 > x/y/f && chmod 777 .'], limits: L, workDir: a });
  assert.equal(r.status, 'OK', JSON.stringify(r));
  sb.removeWorkDir(a);
  const b = sb.makeWorkDir();
  try {
    assert.equal(b, a, 'the same dir, reused');
    assert.deepEqual(readdirSync(b), []);
    const out = sb.memoryFile();
    try {
      const s = await sb.run({ argv: ['/bin/sh', '-c', 'ls -A; stat -c %a .'], limits: L, workDir: b, stdout: { kind: 'fd', fd: out } });
      assert.equal(s.status, 'OK');
      assert.equal(text(out), '700\n');
    } finally {
      closeSync(out);
    }
  } finally {
    sb.removeWorkDir(b);
  }
});

test('a traced run reports every phase, in a plausible order of magnitude', async () => {
  const dir = sb.makeWorkDir();
  try {
    await sb.run({ argv: ['/bin/true'], limits: L, workDir: dir, trace: true });
    const r = await sb.run({ argv: ['/bin/true'], limits: L, workDir: dir, trace: true });
    assert.equal(r.status, 'OK');
    const t = r.trace!;
    for (const k of ['prepare', 'cgroupReset', 'messageToInit', 'parse', 'fork', 'privilegeDrop', 'seccomp', 'execAndRun', 'sweep', 'tmpCheck', 'report', 'finish', 'previousMountDetach', 'total'] as const) {
      assert.ok(typeof t[k] === 'number' && t[k]! >= 0, `${k}: ${t[k]}`);
    }
    const parts = t.prepare + t.cgroupReset + t.messageToInit! + t.parse! + t.fork! + t.privilegeDrop! + t.seccomp! + t.execAndRun! + t.sweep! + t.tmpCheck! + t.report! + t.finish;
    assert.ok(Math.abs(parts - t.total) < 1, `the phases add up to the total (${parts} vs ${t.total} µs)`);
    const untraced = await sb.run({ argv: ['/bin/true'], limits: L, workDir: dir });
    assert.equal(untraced.trace, undefined);
  } finally {
    sb.removeWorkDir(dir);
  }
});
