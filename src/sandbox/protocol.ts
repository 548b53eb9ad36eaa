// The TypeScript side of gavel's wire protocol: a mirror of native/protocol.h, the single
// C definition of every magic, op code, item type, step, size and cap that crosses
// between Node, the shim and gavel-init. native.ts compares all of it with the table the
// shim exports (checkProtocol) before the first sandbox is made.

/** Four ASCII bytes as the little-endian u32 that GV_FOURCC makes. */
const fourcc = (s: string): number => Buffer.from(s, 'latin1').readUInt32LE(0);

// ---- The plan: Node → clone child -------------------------------------------------------

export const PLAN_MAGIC = fourcc('gvpl');
export const PLAN_HEADER_SIZE = 56;
/** Where the child writes the index of a failed op (then its errno, then fds). */
export const PLAN_FAIL_OP_OFFSET = 32;
export const OP_SIZE = 48;
export const PLAN_MAX_ARGS = 1024;

export const Op = {
  WRITE_FD: 1, SETNS: 2, UNSHARE: 3, MOUNT: 4, PIVOT: 8, CHDIR: 9, DUP2: 12, CLOSE_FROM: 13, EXEC: 17, UMASK: 19, OPEN_NS: 20, EXIT: 21,
} as const;

/** The status pipe's and the control socket's fds, known only to the shim at spawn time. */
export const FD_STATUS = -2;
export const FD_CONTROL = -3;

// ---- Status records: clone child / gavel-init → Node, on the cell's status pipe --------------

export const STATUS_REC_SIZE = 32;
export const Rec = {
  SETUP_FAIL: fourcc('fail'),
  EXIT: fourcc('exit'),
  EXEC_FAIL: fourcc('exec'),
  GO_FAIL: fourcc('gofl'),
  TRACE: fourcc('trce'),
} as const;

/** What the three stamps of a TRACE record are (native/protocol.h, enum gv_trace). */
export const Trace = { INIT_START: 1, CHILD: 2, INIT_END: 3, DETACH: 4 } as const;

// ---- Notes: reaper → Node -------------------------------------------------------------------

export const Note = { DEATH: fourcc('dead') } as const;
export const NOTE_SIZE = 48;

// ---- The go message: Node → gavel-init ---------------------------------------------------

export const GO_MAGIC = fourcc('go!!');
export const GO_HEADER_SIZE = 8;
export const GO_ITEM_HEADER_SIZE = 8;

export const Item = { IDS: 1, RLIMIT: 2, MOUNT: 3, TMP: 4, FILTER: 5, ARG: 6, ENV: 7, CHDIR: 8, TRACE: 9 } as const;

/** What gavel-init accepts in one go message; more is refused (E2BIG), never cut. */
export const GO_MAX = { BYTES: 64 << 20, FDS: 16, ARGS: 4096, ENVS: 4096, RLIMITS: 16, MOUNTS: 16, FILTER: 4096 } as const;

/** Steps of gavel-init's handling of a go message, as GO_FAIL and EXEC_FAIL name them. */
export const Step = {
  READ: 1, MOUNT: 2, TMP: 3, STDIO: 4, CHDIR: 5, RLIMIT: 6, CAPS: 7, IDS: 8, PDEATH: 9, NNP: 10,
  SECCOMP: 11, FORK: 12, MESSAGE: 13, CLEANUP: 14,
} as const;

/** What each step did, for messages; keyed by step id. */
export const STEP_NAMES: Readonly<Record<number, string>> = {
  [Step.READ]: 'reading the go message',
  [Step.MOUNT]: 'attaching a mount',
  [Step.TMP]: 'resizing /tmp',
  [Step.STDIO]: 'setting up stdio',
  [Step.CHDIR]: 'entering the work dir',
  [Step.RLIMIT]: 'setting rlimits',
  [Step.CAPS]: 'dropping capabilities',
  [Step.IDS]: 'changing ids',
  [Step.PDEATH]: 'setting the parent-death signal',
  [Step.NNP]: 'setting no_new_privs',
  [Step.SECCOMP]: 'installing the seccomp filter',
  [Step.FORK]: 'forking the program',
  [Step.MESSAGE]: 'parsing the go message',
  [Step.CLEANUP]: 'cleaning up after the run',
};

export function stepName(step: number): string {
  return STEP_NAMES[step] ?? `step ${step}`;
}

// ---- gavel-init's fds and defaults ----------------------------------------------------------

export const INIT_STATUS_FD = 3;
export const INIT_CONTROL_FD = 4;
export const INIT_EXE_FD = 5;

/** Size of /tmp in a waiting sandbox; a run asking for another size remounts it. */
export const DEFAULT_TMP_BYTES = 64 << 20;

/** tmpfs options of a sandbox's /tmp of `bytes`. */
export function tmpOptions(bytes: number): string {
  return `size=${Math.max(4096, Math.floor(bytes))},nr_inodes=4096,mode=1777`;
}

// ---- Agreement with the C side ---------------------------------------------------------------

/** Every constant above under its name in native/protocol.h (and gv_protocol_entry). */
export const PROTOCOL: Readonly<Record<string, number | string>> = {
  GV_PLAN_MAGIC: PLAN_MAGIC,
  ...Object.fromEntries(Object.entries(Op).map(([k, v]) => [`GV_OP_${k}`, v])),
  GV_FD_STATUS: FD_STATUS,
  GV_FD_CONTROL: FD_CONTROL,
  GV_PLAN_MAX_ARGS: PLAN_MAX_ARGS,
  'sizeof(struct gv_op)': OP_SIZE,
  'sizeof(struct gv_plan)': PLAN_HEADER_SIZE,
  'offsetof(struct gv_plan, fail_op)': PLAN_FAIL_OP_OFFSET,
  GV_STATUS_REC_SIZE: STATUS_REC_SIZE,
  ...Object.fromEntries(Object.entries(Rec).map(([k, v]) => [`GV_REC_${k}`, v])),
  ...Object.fromEntries(Object.entries(Trace).map(([k, v]) => [`GV_TRACE_${k}`, v])),
  'sizeof(struct gv_status_rec)': STATUS_REC_SIZE,
  GV_NOTE_DEATH: Note.DEATH,
  'sizeof(struct gv_note)': NOTE_SIZE,
  GV_GO_MAGIC: GO_MAGIC,
  GV_GO_HEADER_SIZE: GO_HEADER_SIZE,
  GV_GO_ITEM_HEADER_SIZE: GO_ITEM_HEADER_SIZE,
  ...Object.fromEntries(Object.entries(Item).map(([k, v]) => [`GV_ITEM_${k}`, v])),
  ...Object.fromEntries(Object.entries(GO_MAX).map(([k, v]) => [`GV_GO_MAX_${k}`, v])),
  ...Object.fromEntries(Object.entries(Step).map(([k, v]) => [`GV_STEP_${k}`, v])),
  GV_INIT_STATUS_FD: INIT_STATUS_FD,
  GV_INIT_CONTROL_FD: INIT_CONTROL_FD,
  GV_INIT_EXE_FD: INIT_EXE_FD,
  GV_DEFAULT_TMP_BYTES: DEFAULT_TMP_BYTES,
  GV_DEFAULT_TMP_OPTIONS: tmpOptions(DEFAULT_TMP_BYTES),
};

export interface ProtocolEntry { name: string; value: number | string }

/**
 * Compares the C table with PROTOCOL both ways; returns one line per disagreement (a
 * different value, a name only one side has), empty when they agree.
 */
export function checkProtocol(c: ProtocolEntry[]): string[] {
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const { name, value } of c) {
    seen.add(name);
    if (!(name in PROTOCOL)) problems.push(`${name} = ${JSON.stringify(value)} in C, missing in protocol.ts`);
    else if (PROTOCOL[name] !== value) problems.push(`${name} = ${JSON.stringify(value)} in C, ${JSON.stringify(PROTOCOL[name])} in protocol.ts`);
  }
  for (const name of Object.keys(PROTOCOL)) if (!seen.has(name)) problems.push(`${name} missing in native/protocol.h's table`);
  return problems;
}
