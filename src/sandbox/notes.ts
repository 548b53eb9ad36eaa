// What Node learns when a run ends or a sandbox dies: the status records gavel-init (and
// the program's child) write on the cell's status pipe, and the reaper's death notes
// (struct gv_status_rec and struct gv_note, native/protocol.h).
import { NOTE_SIZE, Note, Rec, STATUS_REC_SIZE, stepName, Trace } from './protocol.js';

/**
 * The end of one run ('run': the cell lives on and is clean again), or the end of a
 * cell ('death': its init is gone, killed or failed).
 */
export interface ExitRecord {
  token: number;
  kind: 'run' | 'death';
  /** For 'death': si_code of the init (CLD.EXITED, KILLED or DUMPED) and its status. */
  code: number;
  status: number;
  initRusage: { utimeUs: number; stimeUs: number; maxrssKb: number };
  /** The program's end, as gavel-init saw it. */
  program?: { wstatus: number; cpuUs: number; wallUs: number; maxrssKb: number };
  /** errno when the program could not be started (exec, or a step before it). */
  execErrno?: number;
  execStep?: string;
  /** gavel-init could not carry out the go message: which step, and errno. */
  goFailure?: { step: string; errno: number };
  /** CLOCK_MONOTONIC stamps (ns) of init's and the child's phases: all for a traced run; `reaped`, `swept` and `tmpChecked` for every run. */
  stamps?: Partial<InitStamps>;
  /** The previous traced run's mount detach, done after its report: start and end (ns). */
  previousDetach?: { reported: bigint; detached: bigint };
}

/** The phases of one run inside the cell, in order. */
export interface InitStamps {
  received: bigint; parsed: bigint; forked: bigint;
  childStarted: bigint; privilegesDropped: bigint; filterInstalled: bigint;
  reaped: bigint; swept: bigint; tmpChecked: bigint;
}

/** One death note of NOTE_SIZE bytes; throws on a magic that is not a note's. */
export function parseNote(b: Buffer): ExitRecord {
  if (b.length < NOTE_SIZE) throw new Error(`gavel: short reaper note (${b.length} bytes)`);
  const magic = b.readUInt32LE(0);
  if (magic !== Note.DEATH) throw new Error(`gavel: unknown reaper note 0x${magic.toString(16)}`);
  return {
    token: Number(b.readBigUInt64LE(8)),
    kind: 'death',
    code: b.readInt32LE(16),
    status: b.readInt32LE(20),
    initRusage: {
      utimeUs: Number(b.readBigInt64LE(24)),
      stimeUs: Number(b.readBigInt64LE(32)),
      maxrssKb: Number(b.readBigInt64LE(40)),
    },
  };
}

/** Fills `rec` from one status record at `off`; true if it ends a run (EXIT or GO_FAIL). */
function applyRecord(rec: ExitRecord, b: Buffer, off: number): boolean {
  const kind = b.readUInt32LE(off);
  if (kind === Rec.EXIT) {
    rec.program = {
      wstatus: b.readInt32LE(off + 4),
      cpuUs: Number(b.readBigInt64LE(off + 8)),
      wallUs: Number(b.readBigInt64LE(off + 16)),
      maxrssKb: Number(b.readBigInt64LE(off + 24)),
    };
    return true;
  }
  if (kind === Rec.EXEC_FAIL) {
    const a = b.readInt32LE(off + 4);
    // a > 0: exec's errno; a < 0: the step before exec that failed, errno in b
    rec.execErrno = a > 0 ? a : Number(b.readBigInt64LE(off + 8));
    if (a < 0) rec.execStep = stepName(-a);
  } else if (kind === Rec.GO_FAIL) {
    rec.goFailure = { step: stepName(b.readInt32LE(off + 4)), errno: Number(b.readBigInt64LE(off + 8)) };
    return true;
  } else if (kind === Rec.TRACE) {
    const [x, y, z] = [b.readBigInt64LE(off + 8), b.readBigInt64LE(off + 16), b.readBigInt64LE(off + 24)];
    const s = (rec.stamps ??= {});
    switch (b.readInt32LE(off + 4)) {
      case Trace.INIT_START: Object.assign(s, { received: x, parsed: y, forked: z }); break;
      case Trace.CHILD: Object.assign(s, { childStarted: x, privilegesDropped: y, filterInstalled: z }); break;
      case Trace.INIT_END: Object.assign(s, { reaped: x, swept: y, tmpChecked: z }); break;
      case Trace.DETACH: rec.previousDetach = { reported: x, detached: y }; break;
    }
  }
  return false;
}

const NO_RUSAGE = { utimeUs: 0, stimeUs: 0, maxrssKb: 0 };
const EMPTY = Buffer.alloc(0);

/**
 * One cell's status pipe, as it streams in: whole records are filed into the current
 * run's record, and each EXIT or GO_FAIL closes it. Records split across reads wait for
 * their rest.
 */
export class StatusRecords {
  private partial: Buffer = EMPTY;
  private current: ExitRecord | undefined;

  constructor(readonly token: number) {}

  /** The runs this chunk ended, in order. */
  feed(chunk: Buffer): ExitRecord[] {
    const b = this.partial.length ? Buffer.concat([this.partial, chunk]) : chunk;
    const ended: ExitRecord[] = [];
    let off = 0;
    for (; off + STATUS_REC_SIZE <= b.length; off += STATUS_REC_SIZE) {
      const rec = (this.current ??= { token: this.token, kind: 'run', code: 0, status: 0, initRusage: NO_RUSAGE });
      if (applyRecord(rec, b, off)) {
        ended.push(rec);
        this.current = undefined;
      }
    }
    this.partial = off < b.length ? Buffer.from(b.subarray(off)) : EMPTY;
    return ended;
  }

  /** The cell died: its death, with whatever the unfinished run had recorded. */
  death(note: ExitRecord): ExitRecord {
    const rec = { ...this.current, ...note };
    this.current = undefined;
    return rec;
  }
}
