// Parsing the reaper's notes (struct gv_note with init's status records). No root.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseNote } from '../../src/sandbox/notes.js';
import { NOTE_DATA_OFFSET, NOTE_SIZE, Note, Rec, Step, Trace } from '../../src/sandbox/protocol.js';

function note(magic: number, token: number, records: [number, number, bigint, bigint, bigint][], code = 0, status = 0): Buffer {
  const b = Buffer.alloc(NOTE_SIZE);
  b.writeUInt32LE(magic, 0);
  b.writeUInt32LE(records.length * 32, 4);
  b.writeBigUInt64LE(BigInt(token), 8);
  b.writeInt32LE(code, 16);
  b.writeInt32LE(status, 20);
  b.writeBigInt64LE(11n, 24);
  b.writeBigInt64LE(22n, 32);
  b.writeBigInt64LE(33n, 40);
  records.forEach(([m, a, x, y, z], i) => {
    const off = NOTE_DATA_OFFSET + i * 32;
    b.writeUInt32LE(m, off);
    b.writeInt32LE(a, off + 4);
    b.writeBigInt64LE(x, off + 8);
    b.writeBigInt64LE(y, off + 16);
    b.writeBigInt64LE(z, off + 24);
  });
  return b;
}

test('a run note with the program\'s end', () => {
  const r = parseNote(note(Note.RUN, 7, [[Rec.EXIT, 3 << 8, 1500n, 2500n, 900n]]));
  assert.equal(r.kind, 'run');
  assert.equal(r.token, 7);
  assert.deepEqual(r.program, { wstatus: 3 << 8, cpuUs: 1500, wallUs: 2500, maxrssKb: 900 });
  assert.deepEqual(r.initRusage, { utimeUs: 11, stimeUs: 22, maxrssKb: 33 });
  assert.equal(r.execErrno, undefined);
});

test('exec failures: by errno, or by the step before exec that failed', () => {
  const byErrno = parseNote(note(Note.RUN, 1, [[Rec.EXEC_FAIL, 2, 0n, 0n, 0n], [Rec.EXIT, 127 << 8, 0n, 0n, 0n]]));
  assert.equal(byErrno.execErrno, 2);
  assert.equal(byErrno.execStep, undefined);
  const byStep = parseNote(note(Note.RUN, 1, [[Rec.EXEC_FAIL, -Step.SECCOMP, 22n, 0n, 0n], [Rec.EXIT, 127 << 8, 0n, 0n, 0n]]));
  assert.equal(byStep.execErrno, 22);
  assert.equal(byStep.execStep, 'installing the seccomp filter');
});

test('a death note after a refused go message', () => {
  const r = parseNote(note(Note.DEATH, 9, [[Rec.GO_FAIL, Step.MESSAGE, 7n, 0n, 0n]], 1, 127));
  assert.equal(r.kind, 'death');
  assert.deepEqual(r.goFailure, { step: 'parsing the go message', errno: 7 });
  assert.equal(r.code, 1);
  assert.equal(r.status, 127);
});

test('records past nbytes are ignored; unknown magics and short notes are refused', () => {
  const b = note(Note.RUN, 1, [[Rec.EXIT, 0, 0n, 0n, 0n]]);
  b.writeUInt32LE(0, 4);
  assert.equal(parseNote(b).program, undefined);
  const bad = Buffer.from(b);
  bad.writeUInt32LE(Rec.EXIT, 0); // an init record is not a note
  assert.throws(() => parseNote(bad), /unknown reaper note/);
  assert.throws(() => parseNote(b.subarray(0, 64)), /short/);
});

test('a traced run: the stamps of init and of the child, and the previous run\'s detach', () => {
  const r = parseNote(note(Note.RUN, 3, [
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
