// Every verdict rule of classify(), from hand-made run ends. No root.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { classify, MLE_MARGIN, MLE_OWN_SHARE, notStarted, type Measures, type RunEnd } from '../../src/sandbox/classify.js';
import { CLD, SIG } from '../../src/sandbox/linux.js';
import type { ExitRecord } from '../../src/sandbox/notes.js';
import type { RunLimits } from '../../src/sandbox/types.js';

const L: RunLimits = { timeMs: 1000, wallTimeMs: 3000, memoryBytes: 100 << 20, outputBytes: 1 << 20, processes: 8 };
const calm: Measures = { cpuTimeMs: 10, wallTimeMs: 12, memoryBytes: 1 << 20, stdoutBytes: 5, stderrBytes: 0 };

function ended(wstatus: number, more: Partial<ExitRecord> = {}): ExitRecord {
  return {
    token: 1, kind: 'run', code: CLD.EXITED, status: 0, initRusage: { utimeUs: 0, stimeUs: 0, maxrssKb: 0 },
    program: { wstatus, cpuUs: 0, wallUs: 0, maxrssKb: 0 }, ...more,
  };
}
const end = (rec: ExitRecord, more: Partial<RunEnd> = {}): RunEnd => ({ rec, monitorReason: null, oomKills: 0, cancelled: false, argv0: '/p', ...more });
const exit = (code: number) => code << 8;

test('exit 0 is OK, another exit code or a signal is RE', () => {
  assert.deepEqual(classify(end(ended(exit(0))), calm, L), { status: 'OK', exitCode: 0, signal: null });
  assert.deepEqual(classify(end(ended(exit(3))), calm, L), { status: 'RE', exitCode: 3, signal: null });
  assert.deepEqual(classify(end(ended(11)), calm, L), { status: 'RE', exitCode: null, signal: 11 });
});

test('time: the monitor\'s reason, SIGXCPU, or CPU time at the limit', () => {
  assert.deepEqual(classify(end(ended(9), { monitorReason: 'wall' }), calm, L), { status: 'TLE', limit: 'wall', exitCode: null, signal: 9 });
  assert.equal(classify(end(ended(SIG.XCPU)), calm, L).limit, 'cpu');
  assert.equal(classify(end(ended(exit(0))), { ...calm, cpuTimeMs: L.timeMs }, L).status, 'TLE');
});

test('memory: an OOM kill, or a failure at the MLE margin by the program itself (but not a clean exit there)', () => {
  assert.equal(classify(end(ended(9), { oomKills: 1 }), calm, L).status, 'MLE');
  const near = { ...calm, memoryBytes: Math.ceil(L.memoryBytes * MLE_MARGIN) };
  const big = (wstatus: number) => ended(wstatus, { program: { wstatus, cpuUs: 0, wallUs: 0, maxrssKb: Math.ceil((L.memoryBytes * MLE_OWN_SHARE) / 1024) } });
  assert.equal(classify(end(big(6)), near, L).status, 'MLE');
  assert.equal(classify(end(big(exit(0))), near, L).status, 'OK');
  assert.equal(classify(end(big(6)), { ...near, memoryBytes: near.memoryBytes - 4096 }, L).status, 'RE');
  // the cgroup at its limit with page cache of an earlier run, the program itself small: RE
  assert.equal(classify(end(ended(6)), near, L).status, 'RE');
});

test('output: SIGXFSZ, or a stream past the limit', () => {
  assert.equal(classify(end(ended(SIG.XFSZ)), calm, L).status, 'OLE');
  assert.equal(classify(end(ended(exit(0))), { ...calm, stderrBytes: L.outputBytes + 1 }, L).status, 'OLE');
});

test('a command that cannot be executed is an RE with the shell\'s exit code; a step before exec failing is an SE', () => {
  assert.deepEqual(classify(end(ended(exit(127), { execErrno: 2 })), calm, L), { status: 'RE', exitCode: 127, signal: null, error: 'cannot execute /p: ENOENT' });
  assert.deepEqual(classify(end(ended(exit(127), { execErrno: 13 })), calm, L), { status: 'RE', exitCode: 126, signal: null, error: 'cannot execute /p: EACCES' });
  assert.equal(classify(end(ended(exit(127), { execErrno: 20 })), calm, L).exitCode, 127); // ENOTDIR
  assert.equal(classify(end(ended(exit(127), { execErrno: 8 })), calm, L).exitCode, 126); // ENOEXEC
  assert.ok(notStarted(classify(end(ended(exit(127), { execErrno: 2 })), calm, L)));
  assert.ok(!notStarted(classify(end(ended(exit(127))), calm, L)), 'a program that itself exits 127 did start');
  // execve failing for another reason (E2BIG, ENOMEM) is the sandbox's
  const big = classify(end(ended(exit(127), { execErrno: 7 })), calm, L);
  assert.deepEqual(big, { status: 'SE', exitCode: null, signal: null, error: 'cannot execute /p: E2BIG' });
  // ENOENT from a step before exec (chdir) is not the command missing
  assert.equal(classify(end(ended(exit(127), { execErrno: 2, execStep: 'chdir' })), calm, L).status, 'SE');
});

test('SE: cancelled, a refused go message, a failed step before exec, init gone without a report', () => {
  assert.equal(classify(end(ended(9), { cancelled: true, monitorReason: 'cpu' }), calm, L).error, 'cancelled');
  const go = classify(end(ended(0, { program: undefined, goFailure: { step: 'parsing the go message', errno: 7 } })), calm, L);
  assert.deepEqual(go, { status: 'SE', exitCode: null, signal: null, error: 'sandbox setup failed parsing the go message: E2BIG' });
  assert.equal(classify(end(ended(exit(127), { execErrno: 1, execStep: 'changing ids' })), calm, L).error, 'changing ids for /p: EPERM');
  const gone = classify(end({ ...ended(0), program: undefined, kind: 'death', code: CLD.EXITED, status: 1 }), calm, L);
  assert.equal(gone.status, 'SE');
  assert.match(gone.error!, /without a report/);
  // init killed from outside (the monitor's SIGKILL): the signal is the init's
  const killed = classify(end({ ...ended(0), program: undefined, kind: 'death', code: CLD.KILLED, status: 9 }, { monitorReason: 'cpu' }), calm, L);
  assert.deepEqual(killed, { status: 'TLE', limit: 'cpu', exitCode: null, signal: 9 });
});
