// Plain data shared by the sandbox layer and its callers (judge, CLI, HTTP /v1/run).

/** Limits of one sandboxed run. Absent fields take the pool's defaults. */
export interface RunLimits {
  /** CPU time (user+system, all processes of the run), milliseconds. */
  timeMs: number;
  /** Wall-clock time, milliseconds; catches programs that sleep or block. */
  wallTimeMs: number;
  /** Memory (RSS + page cache + tmpfs, no swap), bytes. */
  memoryBytes: number;
  /** Largest size of each of stdout and stderr, bytes (and of any file the program writes). */
  outputBytes: number;
  /** Processes and threads alive at once. */
  processes: number;
  /** Open file descriptors. */
  openFiles?: number;
  /** Stack size, bytes (default: the memory limit). */
  stackBytes?: number;
  /** Size of the private /tmp, bytes (charged to the memory limit too). */
  tmpBytes?: number;
  /** CPU quota as a fraction of one CPU (1 = one full CPU); absent = unlimited. */
  cpuQuota?: number;
}

/** Where a standard stream goes: a host file path, an inherited fd, or nothing. */
export type StreamSpec =
  | { kind: 'null' }
  | { kind: 'file'; path: string }
  | { kind: 'fd'; fd: number };

export interface RunSpec {
  /** argv; argv[0] is looked up in PATH inside the sandbox if it has no slash. */
  argv: string[];
  env?: Record<string, string>;
  limits: RunLimits;
  stdin?: StreamSpec;
  stdout?: StreamSpec;
  stderr?: StreamSpec;
  /** Host directory that becomes the writable /box (the working directory). */
  workDir: string;
  /** The work dir is root-owned and read-only for the program (judging: one test must not
   *  leave anything for the next); by default it is handed to the sandbox uid. */
  sealedWorkDir?: boolean;
  /** Host directory shown read-only at /data (a checker's input, output and answer). */
  dataDir?: string;
  /** Extra host paths made visible read-only at the same path (e.g. a toolchain outside /usr). */
  readOnlyPaths?: string[];
  /** Telemetry sample interval in ms; 0 or absent = no samples. */
  telemetryMs?: number;
  onTelemetry?: (s: TelemetrySample) => void;
  /** Aborting kills the run; its result then has status SE with error 'cancelled'. */
  signal?: AbortSignal;
  /** Report where the run's time went (RunResult.trace); for benchmarks. */
  trace?: boolean;
}

/** Where one traced run's time went, µs per phase, in order (bench:sandbox prints these). */
export interface RunTrace {
  /** Node: work dir handed over, streams opened, mount trees cloned, go message built. */
  prepare: number;
  /** Node: the slot's cgroup limits and counters reset. */
  cgroupReset: number;
  /** Node's send → init has the whole go message. */
  messageToInit?: number;
  /** init: the message checked, the run's mounts attached. */
  parse?: number;
  /** init's fork → the program's child runs. */
  fork?: number;
  /** The child: stdio, fds closed, chdir, rlimits, ids, capabilities, no_new_privs. */
  privilegeDrop?: number;
  /** The child: the seccomp filter installed. */
  seccomp?: number;
  /** execve → the program's end, reaped by init. */
  execAndRun?: number;
  /** init: the pid namespace emptied. */
  sweep?: number;
  /** init: /tmp checked (remade if the run used it). */
  tmpCheck?: number;
  /** init's report → Node has it (the cell's status pipe, the event loop). */
  report?: number;
  /** Node: cgroup stats, output sizes, the verdict. */
  finish: number;
  /** init, after reporting the previous traced run of the cell: its mounts detached. */
  previousMountDetach?: number;
  total: number;
}

export interface TelemetrySample {
  elapsedMs: number;
  cpuTimeMs: number;
  memoryBytes: number;
  processes: number;
}

export type RunStatus = 'OK' | 'TLE' | 'MLE' | 'OLE' | 'RE' | 'SE';

export interface RunResult {
  status: RunStatus;
  /** Which time limit ended a TLE run. */
  limit?: 'cpu' | 'wall';
  exitCode: number | null;
  signal: number | null;
  cpuTimeMs: number;
  wallTimeMs: number;
  memoryBytes: number;
  stdoutBytes: number;
  stderrBytes: number;
  /** When init reaped the program (CLOCK_MONOTONIC ms, as process.hrtime): orders the ends of the runs of one group. */
  endedAt?: number;
  /** For SE: what failed, e.g. "mount /usr: ENOENT"; for an RE whose command could not be executed (exit code 127/126): why. */
  error?: string;
  /** With RunSpec.trace: where the time went. */
  trace?: RunTrace;
}
