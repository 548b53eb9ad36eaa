// Builds the flat "plan" buffer that native/shim.c interprets in the cloned child.
// The layout (header, 48-byte ops, string pool) must match struct gv_plan / gv_op there.

export const PLAN_MAGIC = 0x6776706c;
const HEADER_SIZE = 56;
const OP_SIZE = 48;

export const Op = {
  WRITE_FD: 1, SETNS: 2, UNSHARE: 3, MOUNT: 4, PIVOT: 8, CHDIR: 9, DUP2: 12, CLOSE_FROM: 13, EXEC: 17, UMASK: 19, OPEN_NS: 20, EXIT: 21,
} as const;
export const OP_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(Op).map(([k, v]) => [v, k.toLowerCase()]),
);

/** The status pipe's and the control socket's fds, known only to the shim at spawn time. */
export const FD_STATUS = -2;
export const FD_CONTROL = -3;

// Linux constants the plan uses.
export const CLONE = {
  NEWNS: 0x00020000, NEWCGROUP: 0x02000000, NEWUTS: 0x04000000, NEWIPC: 0x08000000,
  NEWUSER: 0x10000000, NEWPID: 0x20000000, NEWNET: 0x40000000,
} as const;
export const MS = {
  RDONLY: 1, NOSUID: 2, NODEV: 4, NOEXEC: 8, REMOUNT: 32, BIND: 4096, REC: 16384, PRIVATE: 1 << 18,
  SLAVE: 1 << 19,
} as const;

type Arg = number | bigint | string | null | Buffer;

interface PendingOp { code: number; args: Arg[] }

/**
 * Accumulates operations, then lays them out in one Buffer: strings and blobs go to a
 * pool after the op array and are referenced by byte offset from the start of the plan.
 */
export class PlanBuilder {
  private ops: PendingOp[] = [];
  cloneFlags = 0;
  cgroupFd = -1;

  add(code: number, ...args: Arg[]): this {
    if (args.length > 5) throw new Error('a plan op takes at most 5 arguments');
    this.ops.push({ code, args });
    return this;
  }

  /** The op at `index`, for turning a failure report into a readable message. */
  describe(index: number): string {
    const op = this.ops[index];
    if (!op) return `step ${index}`;
    const name = OP_NAMES[op.code] ?? `op${op.code}`;
    const strs = op.args.filter((a): a is string => typeof a === 'string');
    return strs.length ? `${name} ${strs.join(' ')}` : name;
  }

  build(): Buffer {
    const opsOffset = HEADER_SIZE;
    let poolSize = 0;
    const pooled = new Map<Arg, number>();
    const blobs: Buffer[] = [];
    // First pass: place strings/blobs (8-byte aligned) after the ops.
    const poolStart = opsOffset + this.ops.length * OP_SIZE;
    const place = (a: Arg): number => {
      if (typeof a !== 'string' && !Buffer.isBuffer(a)) return 0;
      const hit = pooled.get(a);
      if (hit !== undefined) return hit;
      const bytes = typeof a === 'string' ? Buffer.from(a + '\0') : a;
      const off = poolStart + poolSize;
      blobs.push(bytes);
      const padded = (bytes.length + 7) & ~7;
      if (padded > bytes.length) blobs.push(Buffer.alloc(padded - bytes.length));
      poolSize += padded;
      pooled.set(a, off);
      return off;
    };
    const resolved = this.ops.map((op) => op.args.map((a) => {
      if (a === null) return 0n;
      if (typeof a === 'string' || Buffer.isBuffer(a)) return BigInt(place(a));
      return BigInt(a);
    }));
    const buf = Buffer.alloc(poolStart + poolSize);
    buf.writeUInt32LE(PLAN_MAGIC, 0);
    buf.writeUInt32LE(this.ops.length, 4);
    buf.writeBigUInt64LE(BigInt(this.cloneFlags), 8);
    buf.writeBigInt64LE(BigInt(this.cgroupFd), 16);
    buf.writeBigInt64LE(BigInt(opsOffset), 24);
    buf.writeInt32LE(-1, 32); // fail_op
    this.ops.forEach((op, i) => {
      const base = opsOffset + i * OP_SIZE;
      buf.writeUInt32LE(op.code, base);
      resolved[i].forEach((v, k) => buf.writeBigInt64LE(BigInt.asIntN(64, v), base + 8 + k * 8));
    });
    Buffer.concat(blobs).copy(buf, poolStart);
    return buf;
  }
}
