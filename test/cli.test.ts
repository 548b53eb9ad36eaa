// The gavel command against the real sandbox: an error from below the CLI is printed once.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

const BIN = fileURLToPath(new URL('../../bin/gavel.js', import.meta.url));

test('a refused limit is one "gavel: …" line, no "Error:" and no stack, exit 1', () => {
  const r = spawnSync(process.execPath, [BIN, 'run', '--memory', '1k', '--', '/bin/true'], {
    encoding: 'utf8', timeout: 60_000, env: { ...process.env, GAVEL_DEBUG: '' },
  });
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /^gavel: [^\n]*memoryBytes[^\n]*\n$/);
  assert.doesNotMatch(r.stderr, /Error:|gavel: gavel:|\n\s+at /);
});
