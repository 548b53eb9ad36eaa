// Decides a run's status from how it ended: pure, so every verdict rule is unit-tested
// without a sandbox. The inputs are how the run ended (its status records, or the cell's
// death), what the monitor and the cgroup saw, and the measurements already made.
import { CLD, errnoName, SIG } from './linux.js';
import type { ExitRecord } from './notes.js';
import type { RunLimits, RunResult } from './types.js';

/** A crash or non-zero exit with the cgroup this close to its limit is an MLE, not an RE... */
export const MLE_MARGIN = 0.97;
/** ...and the program's own resident peak at least this share of the limit. */
export const MLE_OWN_SHARE = 0.5;

/** execve's errors that mean "no such command" (127) or "not an executable" (126), as in sh. */
export const EXEC_EXIT_CODES: Readonly<Record<string, number>> = {
  ENOENT: 127, ENOTDIR: 127, ELOOP: 127, ENAMETOOLONG: 127,
  EACCES: 126, ENOEXEC: 126, EISDIR: 126,
};

/** An RE whose program never started (its command could not be executed): `error` says why. */
export function notStarted(r: Pick<RunResult, 'status' | 'error'>): boolean {
  return r.status === 'RE' && r.error !== undefined;
}

export interface RunEnd {
  rec: ExitRecord;
  /** Which limit the monitor killed the run for, if it did. */
  monitorReason: 'cpu' | 'wall' | null;
  /** OOM kills in the cell's cgroup during the run. */
  oomKills: number;
  cancelled: boolean;
  /** The program, for messages. */
  argv0: string;
}

export type Measures = Pick<RunResult, 'cpuTimeMs' | 'wallTimeMs' | 'memoryBytes' | 'stdoutBytes' | 'stderrBytes'>;
export type Verdict = Pick<RunResult, 'status' | 'limit' | 'exitCode' | 'signal' | 'error'>;

export function classify(end: RunEnd, m: Measures, L: RunLimits): Verdict {
  const { rec } = end;
  if (end.cancelled) return { status: 'SE', exitCode: null, signal: null, error: 'cancelled' };
  if (rec.goFailure) {
    return { status: 'SE', exitCode: null, signal: null, error: `sandbox setup failed ${rec.goFailure.step}: ${errnoName(rec.goFailure.errno)}` };
  }
  if (rec.execErrno !== undefined) {
    const exitCode = rec.execStep ? undefined : EXEC_EXIT_CODES[errnoName(rec.execErrno)];
    // A command missing from the sandbox or not executable is the caller's mistake: the
    // program "ran" and failed, with the code a shell gives. A step before exec failing,
    // or execve failing for any other reason, is the sandbox's own failure.
    if (exitCode !== undefined) return { status: 'RE', exitCode, signal: null, error: `cannot execute ${end.argv0}: ${errnoName(rec.execErrno)}` };
    const what = rec.execStep ? `${rec.execStep} for ${end.argv0}` : `cannot execute ${end.argv0}`;
    return { status: 'SE', exitCode: null, signal: null, error: `${what}: ${errnoName(rec.execErrno)}` };
  }
  const prog = rec.program;
  let exitCode: number | null = null;
  let signal: number | null = null;
  if (prog) {
    const st = prog.wstatus;
    if ((st & 0x7f) === 0) exitCode = (st >> 8) & 0xff;
    else signal = st & 0x7f;
  } else if (rec.code === CLD.KILLED || rec.code === CLD.DUMPED) {
    signal = rec.status; // init itself was killed (by the monitor or the OOM killer)
  }
  if (end.monitorReason) return { status: 'TLE', limit: end.monitorReason, exitCode, signal };
  if (end.oomKills > 0) return { status: 'MLE', exitCode, signal };
  if (signal === SIG.XCPU) return { status: 'TLE', limit: 'cpu', exitCode, signal };
  if (m.cpuTimeMs >= L.timeMs) return { status: 'TLE', limit: 'cpu', exitCode, signal };
  if (signal === SIG.XFSZ || m.stdoutBytes > L.outputBytes || m.stderrBytes > L.outputBytes) {
    return { status: 'OLE', exitCode, signal };
  }
  if (!prog && signal === null) return { status: 'SE', exitCode, signal, error: `sandbox init ended without a report (code ${rec.code}, status ${rec.status})` };
  const failed = signal !== null || exitCode !== 0;
  // The cgroup's peak also counts page cache an earlier run (a compiler reading its
  // libraries) left charged to the slot, so it can sit at the limit for any program; the
  // program's own peak RSS tells whether it was the one near the limit.
  const ownBytes = prog ? prog.maxrssKb * 1024 : Infinity;
  if (failed && m.memoryBytes >= L.memoryBytes * MLE_MARGIN && ownBytes >= L.memoryBytes * MLE_OWN_SHARE) return { status: 'MLE', exitCode, signal };
  if (failed) return { status: 'RE', exitCode, signal };
  return { status: 'OK', exitCode, signal };
}
