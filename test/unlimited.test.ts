// A host where cgroups cannot be managed: refused with the reason, unless the operator
// asks for the unlimited development mode, which still isolates and still times runs.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Sandbox } from '../src/sandbox/sandbox.js';

const limits = { timeMs: 1000, wallTimeMs: 3000, memoryBytes: 64 << 20, outputBytes: 1 << 20, processes: 16 };

test('no usable cgroups: refused with a clear message', () => {
  const empty = mkdtempSync(join(tmpdir(), 'gavel-nocg-'));
  try {
    assert.throws(() => Sandbox.open({ size: 1, name: `gavel-test-nocg-${process.pid}`, cgroupMountRoot: empty }),
      /cannot enforce limits[\s\S]*GAVEL_ALLOW_UNLIMITED/);
  } finally {
    rmSync(empty, { recursive: true, force: true });
  }
});

test('unlimited development mode runs programs, still isolated and timed', async () => {
  const empty = mkdtempSync(join(tmpdir(), 'gavel-nocg-'));
  const sb = Sandbox.open({ size: 1, name: `gavel-test-nocg-${process.pid}`, cgroupMountRoot: empty, allowUnlimited: true, uidBase: 62000 });
  try {
    assert.equal(sb.pool.cgroups.version, 0);
    assert.match(sb.pool.cgroups.describe(), /unlimited/);
    const w = sb.makeWorkDir();
    const out = join(w, '..', 'out');
    const ok = await sb.run({ argv: ['/bin/sh', '-c', 'id -u; ls /proc | grep -c "^[0-9]"'], limits, workDir: w, stdout: { kind: 'file', path: out } });
    assert.equal(ok.status, 'OK');
    const tle = await sb.run({ argv: ['/bin/sleep', '5'], limits: { ...limits, wallTimeMs: 300 }, workDir: w });
    assert.equal(tle.status, 'TLE');
    assert.equal(tle.limit, 'wall');
    sb.removeWorkDir(w);
    rmSync(out, { force: true });
  } finally {
    await sb.close();
    rmSync(empty, { recursive: true, force: true });
  }
  assert.deepEqual(readdirSync('/run').filter((d) => d.includes(`nocg-${process.pid}`)), []);
});
