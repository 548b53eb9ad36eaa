// The plan's bytes, as native/child.c reads them (struct gv_plan, gv_op, the string pool),
// and the op sequences of the two plans a slot uses. No root needed.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CLONE, MS } from '../../src/sandbox/linux.js';
import { PlanBuilder } from '../../src/sandbox/plan.js';
import { cellPlan, templatePlan } from '../../src/sandbox/plans.js';
import type { Slot } from '../../src/sandbox/pool.js';
import { FD_CONTROL, FD_STATUS, OP_SIZE, Op, PLAN_HEADER_SIZE, PLAN_MAGIC } from '../../src/sandbox/protocol.js';

interface DecodedOp { code: number; args: bigint[] }

function decode(buf: Buffer): { magic: number; flags: bigint; cgroupFd: bigint; failOp: number; ops: DecodedOp[] } {
  const n = buf.readUInt32LE(4);
  const opsOffset = Number(buf.readBigInt64LE(24));
  const ops: DecodedOp[] = [];
  for (let i = 0; i < n; i++) {
    const base = opsOffset + i * OP_SIZE;
    ops.push({ code: buf.readUInt32LE(base), args: [0, 1, 2, 3, 4].map((k) => buf.readBigInt64LE(base + 8 + k * 8)) });
  }
  return { magic: buf.readUInt32LE(0), flags: buf.readBigUInt64LE(8), cgroupFd: buf.readBigInt64LE(16), failOp: buf.readInt32LE(32), ops };
}

/** The NUL-ended string at byte offset `off` of the plan. */
function str(buf: Buffer, off: bigint): string {
  const start = Number(off);
  return buf.subarray(start, buf.indexOf(0, start)).toString();
}

test('header, ops and string pool are laid out as struct gv_plan / gv_op', () => {
  const p = new PlanBuilder();
  p.cloneFlags = CLONE.NEWPID;
  p.cgroupFd = 7;
  p.add(Op.MOUNT, 'proc', '/proc', 'proc', MS.NOSUID, null).add(Op.CHDIR, '/proc').add(Op.UMASK, 0o22);
  const buf = p.build();
  const d = decode(buf);
  assert.equal(d.magic, PLAN_MAGIC);
  assert.equal(d.flags, BigInt(CLONE.NEWPID));
  assert.equal(d.cgroupFd, 7n);
  assert.equal(d.failOp, -1);
  assert.deepEqual(d.ops.map((o) => o.code), [Op.MOUNT, Op.CHDIR, Op.UMASK]);
  const [mount, chdir, umask] = d.ops;
  const poolStart = PLAN_HEADER_SIZE + 3 * OP_SIZE;
  assert.equal(mount.args[0], BigInt(poolStart), 'the first string starts the pool');
  assert.equal(str(buf, mount.args[0]), 'proc');
  assert.equal(str(buf, mount.args[1]), '/proc');
  assert.equal(mount.args[2], mount.args[0], 'equal strings are pooled once');
  assert.equal(mount.args[3], BigInt(MS.NOSUID));
  assert.equal(mount.args[4], 0n, 'null is offset 0 (NULL in C)');
  assert.equal(chdir.args[0], mount.args[1]);
  assert.equal(umask.args[0], 0o22n);
  for (const o of [mount.args[0], mount.args[1]]) assert.equal(Number(o) % 8, 0, 'pool entries are 8-aligned');
  assert.equal(buf.length % 8, 0);
});

test('negative fd placeholders and blobs survive the trip', () => {
  const p = new PlanBuilder().add(Op.DUP2, FD_STATUS, 13).add(Op.EXEC, 5, 1, Buffer.from('x\0'), 0, Buffer.alloc(8));
  const d = decode(p.build());
  assert.equal(d.ops[0].args[0], BigInt(FD_STATUS));
  assert.equal(d.ops[1].args[1], 1n);
  assert.ok(d.ops[1].args[2] > 0n && d.ops[1].args[4] > d.ops[1].args[2]);
  assert.throws(() => new PlanBuilder().add(Op.MOUNT, 1, 2, 3, 4, 5, 6), /at most 5/);
});

test('describe names a failed op with its strings', () => {
  const p = new PlanBuilder().add(Op.MOUNT, '/usr', '/r/usr', null, MS.BIND, null);
  assert.equal(p.describe(0), 'mount /usr /r/usr');
  assert.equal(p.describe(5), 'step 5');
});

const slot = {
  index: 0, uid: 60000, gid: 60000, procsFds: [21, 22], cgroupFd: -1, ns: { net: 30, ipc: 31, uts: 32, mnt: 33 },
  rootDir: '/run/x/slot-0/root', parallelism: 1,
} as unknown as Slot;

test('the cell plan joins the slot, builds the view, places fds 0-5 and execs init', () => {
  const d = decode(cellPlan(slot, { devNull: 40, init: 41 }).build());
  assert.equal(d.flags, BigInt(CLONE.NEWPID));
  const codes = d.ops.map((o) => o.code);
  assert.deepEqual(codes.slice(0, 2), [Op.WRITE_FD, Op.WRITE_FD]);
  assert.deepEqual(d.ops.slice(2, 6).map((o) => [o.args[0], o.args[1]]),
    [[30n, BigInt(CLONE.NEWNET)], [31n, BigInt(CLONE.NEWIPC)], [32n, BigInt(CLONE.NEWUTS)], [33n, BigInt(CLONE.NEWNS)]]);
  assert.equal(d.ops[6].code, Op.UNSHARE);
  assert.equal(d.ops[6].args[0], BigInt(CLONE.NEWNS | CLONE.NEWCGROUP));
  // dup2s: every source first goes above all sources, then down to its place.
  const dups = d.ops.filter((o) => o.code === Op.DUP2).map((o) => [Number(o.args[0]), Number(o.args[1])]);
  assert.equal(dups.length, 12);
  const high = Math.max(40, 41, 10) + 1;
  assert.deepEqual(dups.slice(0, 2), [[FD_STATUS, high + 3], [FD_CONTROL, high + 4]], 'the spawn-time fds go first');
  assert.deepEqual(dups.slice(6).map(([, to]) => to).sort(), [0, 1, 2, 3, 4, 5]);
  for (const [from] of dups.slice(6)) assert.ok(from >= high);
  assert.equal(codes.at(-1), Op.EXEC);
  assert.equal(d.ops.at(-1)!.args[0], 5n);
});

test('the template plan pivots into the skeleton and ends in EXIT', () => {
  const d = decode(templatePlan('/run/x/root').build());
  assert.equal(d.flags, BigInt(CLONE.NEWNS));
  const codes = d.ops.map((o) => o.code);
  assert.equal(codes[0], Op.OPEN_NS);
  assert.ok(codes.includes(Op.PIVOT));
  assert.equal(codes.at(-1), Op.EXIT);
});
