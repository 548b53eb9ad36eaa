// `gavel verify DIR` and `gavel judge --problem DIR SOURCE...` as a problem setter runs them:
// the real CLI process, the real sandbox, the fixture packages.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { PROBLEMS_DIR } from './helpers/packages.js';

const GAVEL = fileURLToPath(new URL('../../bin/gavel.js', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), `gavel-pcli-${process.pid}-`));
after(() => rmSync(tmp, { recursive: true, force: true }));

function gavel(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [GAVEL, ...args], { timeout: 300_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

describe('gavel verify and judge --problem', () => {
  it('verify: every submission agrees with its category → exit 0, a table of them', async () => {
    const r = await gavel(['verify', join(PROBLEMS_DIR, 'aplusb')]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    for (const row of ['accepted/ab.cpp', 'accepted/ab.py', 'other/maybe.py', 'run_time_error/abort.c', 'time_limit_exceeded/spin.cpp', 'wrong_answer/int32.c']) {
      assert.match(r.stdout, new RegExp(`^${row.replace('.', '\\.')}\\s.*\\sok$`, 'm'), row);
    }
    assert.match(r.stdout, /all 6 submissions agree/);
    assert.match(r.stderr, /A plus B: legacy, pass-fail, default validation, 4 tests, time limit 1000 ms \(\.timelimit\), 6 submissions/);
  });

  it('verify: a misfiled submission → exit 1 and a FAIL row naming the test', async () => {
    const dir = join(tmp, 'misfiled');
    cpSync(join(PROBLEMS_DIR, 'aplusb'), dir, { recursive: true });
    for (const c of ['time_limit_exceeded', 'run_time_error', 'other']) rmSync(join(dir, 'submissions', c), { recursive: true });
    rmSync(join(dir, 'submissions/accepted/ab.cpp'));
    renameSync(join(dir, 'submissions/wrong_answer/int32.c'), join(dir, 'submissions/accepted/int32.c'));
    writeFileSync(join(dir, 'submissions/wrong_answer/right.py'), 'a, b = map(int, input().split())\nprint(a + b)\n');
    const r = await gavel(['verify', dir, '--json']);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.ok, false);
    const rows = Object.fromEntries(out.submissions.map((s: { submission: string }) => [s.submission, s]));
    assert.equal(rows['accepted/ab.py'].ok, true);
    assert.equal(rows['accepted/int32.c'].ok, false);
    assert.equal(rows['accepted/int32.c'].verdict, 'WA');
    assert.equal(rows['accepted/int32.c'].note, 'secret/03-big');
    assert.equal(rows['wrong_answer/right.py'].ok, false);
    assert.equal(rows['wrong_answer/right.py'].verdict, 'AC');
  });

  it('judge --problem: the API JSON on stdout, the language from the extension', async () => {
    const src = join(tmp, 'split.py');
    writeFileSync(src, 'n = int(input())\nprint(n - 2, 2)\n');
    const r = await gavel(['judge', '--problem', join(PROBLEMS_DIR, 'cppcheck'), src]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const result = JSON.parse(r.stdout);
    assert.equal(result.verdict, 'AC');
    assert.deepEqual(result.tests.map((t: { id: string }) => t.id), ['sample/1', 'secret/1', 'secret/2']);
    assert.equal(result.problem.version, 1);
    const wrong = join(tmp, 'wrong.py');
    writeFileSync(wrong, 'print(1, 1)\n');
    const w = await gavel(['judge', '--problem', join(PROBLEMS_DIR, 'cppcheck'), wrong]);
    assert.equal(w.code, 1);
    assert.equal(JSON.parse(w.stdout).verdict, 'WA');
  });

  it('judge --problem: a broken package is a one-line error, exit 2', async () => {
    const dir = join(tmp, 'broken');
    cpSync(join(PROBLEMS_DIR, 'flags'), dir, { recursive: true });
    writeFileSync(join(dir, 'problem.yaml'), 'name: [broken\n');
    const src = join(tmp, 'x.py');
    writeFileSync(src, 'print(1)\n');
    const r = await gavel(['judge', '--problem', dir, src]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /problem\.yaml line \d+/);
  });
});
