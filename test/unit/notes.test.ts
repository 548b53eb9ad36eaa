// Parsing a cell's status records (struct gv_status_rec, as they stream in) and the
// reaper's death notes (struct gv_note). No root.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseNote, StatusRecords } from '../../src/sandbox/notes.js';
import { NOTE_SIZE, Note, Rec, Step, Trace } from '../../src/sandbox/protocol.js';

type R = [number, number, bigint, bigint, bigint];

function records(rs: R[]): Buffer {
  const b = Buffer.alloc(rs.length * 32);
  rs.forEach(([m, a, x, y, z], i) => {
    const off = i * 32;
    b.writeUInt32LE(m, off);
    b.writeInt32LE(a, off + 4);
    b.writeBigInt64LE(x, off + 8);
    b.writeBigInt64LE(y, off + 16);
    b.writeBigInt64LE(z, off + 24);
  });
  return b;
}

function deathNote(token: number, code: number, status: number): Buffer {
  const b = Buffer.alloc(NOTE_SIZE);
  b.writeUInt32LE(Note.DEATH, 0);
  b.writeBigUInt64LE(BigInt(token), 8);
  b.writeInt32LE(code, 16);
  b.writeInt32LE(status, 20);
  b.writeBigInt64LE(11n, 24);
  b.writeBigInt64LE(22n, 32);
  b.writeBigInt64LE(33n, 40);
  return b;
}

test('a run ends with its EXIT record', () => {
  const [r, ...more] = new StatusRecords(7).feed(records([[Rec.EXIT, 3 << 8, 1500n, 2500n, 900n]]));
  assert.equal(more.length, 0);
  assert.equal(r.kind, 'run');
  assert.equal(r.token, 7);
  assert.deepEqual(r.program, { wstatus: 3 << 8, cpuUs: 1500, wallUs: 2500, maxrssKb: 900 });
  assert.equal(r.execErrno, undefined);
});

test('exec failures: by errno, or by the step before exec that failed', () => {
  const s = new StatusRecords(1);
  const [byErrno, byStep] = s.feed(records([
    [Rec.EXEC_FAIL, 2, 0n, 0n, 0n], [Rec.EXIT, 127 << 8, 0n, 0n, 0n],
    [Rec.EXEC_FAIL, -Step.SECCOMP, 22n, 0n, 0n], [Rec.EXIT, 127 << 8, 0n, 0n, 0n],
  ]));
  assert.equal(byErrno.execErrno, 2);
  assert.equal(byErrno.execStep, undefined);
  assert.equal(byStep.execErrno, 22);
  assert.equal(byStep.execStep, 'installing the seccomp filter');
});

test('records split across reads wait for their rest; nothing ends before the final record', () => {
  const s = new StatusRecords(4);
  const all = records([[Rec.TRACE, Trace.CHILD, 1n, 2n, 3n], [Rec.EXIT, 0, 5n, 6n, 7n]]);
  assert.deepEqual(s.feed(all.subarray(0, 20)), []);
  assert.deepEqual(s.feed(all.subarray(20, 40)), []);
  const [r] = s.feed(all.subarray(40));
  assert.equal(r.program?.cpuUs, 5);
  assert.equal(r.stamps?.childStarted, 1n);
});

test('a refused go message ends the run; the death that follows carries the init\'s end', () => {
  const s = new StatusRecords(9);
  const [run] = s.feed(records([[Rec.GO_FAIL, Step.MESSAGE, 7n, 0n, 0n]]));
  assert.deepEqual(run.goFailure, { step: 'parsing the go message', errno: 7 });
  const d = s.death(parseNote(deathNote(9, 1, 127)));
  assert.equal(d.kind, 'death');
  assert.equal(d.token, 9);
  assert.equal(d.code, 1);
  assert.equal(d.status, 127);
  assert.deepEqual(d.initRusage, { utimeUs: 11, stimeUs: 22, maxrssKb: 33 });
  assert.equal(d.goFailure, undefined);
});

test('a death mid-run keeps what the unfinished run recorded', () => {
  const s = new StatusRecords(2);
  assert.deepEqual(s.feed(records([[Rec.EXEC_FAIL, 13, 0n, 0n, 0n]])), []);
  const d = s.death(parseNote(deathNote(2, 2, 9)));
  assert.equal(d.kind, 'death');
  assert.equal(d.execErrno, 13);
});

test('unknown magics and short notes are refused', () => {
  const bad = deathNote(1, 0, 0);
  bad.writeUInt32LE(Rec.EXIT, 0); // an init record is not a note
  assert.throws(() => parseNote(bad), /unknown reaper note/);
  assert.throws(() => parseNote(deathNote(1, 0, 0).subarray(0, 40)), /short/);
});

test('a traced run: the stamps of init and of the child, and the previous run\'s detach', () => {
  const [r] = new StatusRecords(3).feed(records([
    [Rec.TRACE, Trace.DETACH, 90n, 95n, 0n],
    [Rec.TRACE, Trace.CHILD, 130n, 140n, 150n],
    [Rec.TRACE, Trace.INIT_START, 100n, 110n, 120n],
    [Rec.TRACE, Trace.INIT_END, 200n, 210n, 220n],
    [Rec.EXIT, 0, 5n, 6n, 7n],
  ]));
  assert.deepEqual(r.stamps, {
    received: 100n, parsed: 110n, forked: 120n, childStarted: 130n, privilegesDropped: 140n, filterInstalled: 150n,
    reaped: 200n, swept: 210n, tmpChecked: 220n,
  });
  assert.deepEqual(r.previousDetach, { reported: 90n, detached: 95n });
  assert.equal(r.program?.wstatus, 0);
});
