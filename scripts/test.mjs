// `npm test`: every suite, in order — the unit tier (pure logic: no root, no sandbox, seconds),
// the host suite (real namespaces, cgroup v1, real compilers), the cgroup-v2 suite inside a v2
// guest, and the Docker image end to end.
// Set GAVEL_TEST_ONLY=unit (or host, or host,cgroup2) to run a subset while developing.
import { spawnSync } from 'node:child_process';

const suites = [
  ['unit', 'node', ['--test', 'dist/test/unit/']],
  ['host', 'node', ['--test', '--test-concurrency=1', '--test-timeout=600000', 'dist/test/']],
  ['cgroup2', 'bash', ['scripts/test-cgroup2.sh']],
  ['docker', 'bash', ['scripts/test-docker.sh']],
];
const only = process.env.GAVEL_TEST_ONLY?.split(',');
let passed = 0;
let failed = 0;
for (const [name, cmd, args] of suites) {
  if (only && !only.includes(name)) continue;
  console.log(`\n=== ${name} suite ===`);
  const r = spawnSync(cmd, args, { stdio: 'inherit' });
  if (r.status === 0) passed++;
  else {
    failed++;
    console.log(`=== ${name} suite FAILED (exit ${r.status ?? r.signal}) ===`);
  }
}
console.log(`\nsuites: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
