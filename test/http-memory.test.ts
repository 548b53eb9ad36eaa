// Large bodies do not leave their peak behind: a service process takes a burst of 30–62 MiB
// bodies (accepted ones and refused ones) and its RSS comes back within 1.5× of idle.
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { sleep, killService, spawnService, stopService, tempDir, until, type Child } from './helpers/server.js';

const FAKE_SERVER = fileURLToPath(new URL('./helpers/fake-server.js', import.meta.url));
const rssMiB = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;

test('RSS returns within 1.5× of idle after a burst of large bodies', async () => {
  const dataDir = tempDir();
  let child: Child | undefined;
  try {
    child = await spawnService(FAKE_SERVER, { GAVEL_FAKE_SERVER: '1', GAVEL_DATA_DIR: dataDir, GAVEL_SQLITE_SYNC: 'NORMAL' });
    const pid = child.proc.pid!;
    await sleep(1500);
    const idle = rssMiB(pid);
    let peak = idle;
    const statuses: number[] = [];
    for (const mib of [30, 60, 30, 62, 31, 50]) {
      const half = 'x'.repeat(mib << 19);
      const body = JSON.stringify({ language: 'fake', source: 'echo', tests: [{ input: half, expected: half }] });
      const r = await fetch(`${child.url}/v1/submissions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      statuses.push(r.status);
      await r.text();
      peak = Math.max(peak, rssMiB(pid));
    }
    assert.deepEqual(statuses, [202, 413, 202, 413, 202, 413], 'within GAVEL_MAX_TESTS_BYTES accepted, beyond refused');
    assert.ok(peak > idle * 2, `the burst did grow memory (idle ${idle.toFixed(0)} MiB, peak ${peak.toFixed(0)} MiB)`);
    await until(() => rssMiB(pid) <= idle * 1.5, 30_000, `RSS back within 1.5× of idle (${idle.toFixed(0)} MiB; now ${rssMiB(pid).toFixed(0)} MiB)`);
    await stopService(child);
    child = undefined;
  } finally {
    await killService(child);
    rmSync(dataDir, { recursive: true, force: true });
  }
});
