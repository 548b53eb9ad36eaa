// Lays out the flat "plan" buffer that native/child.c interprets in the cloned child:
// struct gv_plan, then gv_op[], then a pool of strings and blobs (native/protocol.h).
// Which ops a slot's plans contain is plans.ts's business.
import { OP_SIZE, Op, PLAN_FAIL_OP_OFFSET, PLAN_HEADER_SIZE, PLAN_MAGIC } from './protocol.js';

export const OP_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(Op).map(([k, v]) => [v, k.toLowerCase()]),
);

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
    const opsOffset = PLAN_HEADER_SIZE;
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
    buf.writeInt32LE(-1, PLAN_FAIL_OP_OFFSET);
    this.ops.forEach((op, i) => {
      const base = opsOffset + i * OP_SIZE;
      buf.writeUInt32LE(op.code, base);
      resolved[i].forEach((v, k) => buf.writeBigInt64LE(BigInt.asIntN(64, v), base + 8 + k * 8));
    });
    Buffer.concat(blobs).copy(buf, poolStart);
    return buf;
  }
}
