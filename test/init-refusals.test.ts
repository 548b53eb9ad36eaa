// gavel-init refuses a go message it cannot take whole — too many arguments, environment
// entries, rlimits or mounts, an unknown item, a payload of the wrong length — instead of
// cutting it short, and the refusal reaches the caller as the run's result. Each message
// is built by hand here and sent to a real cell (real namespaces, cgroup, gavel-init).
// Needs root.
import assert from 'node:assert/strict';
import { closeSync, openSync, rmSync, constants as fsc } from 'node:fs';
import { after, before, test } from 'node:test';
import { Cell } from '../src/sandbox/cell.js';
import { GoMessage } from '../src/sandbox/go.js';
import { errnoName, RLIMIT } from '../src/sandbox/linux.js';
import { INIT_PATH } from '../src/sandbox/native.js';
import type { ExitRecord } from '../src/sandbox/notes.js';
import { cellPlan } from '../src/sandbox/plans.js';
import { Pool, type Slot } from '../src/sandbox/pool.js';
import { GO_MAGIC, GO_MAX, Item } from '../src/sandbox/protocol.js';
import { Sandbox } from '../src/sandbox/sandbox.js';

const NAME = `gavel-test-refusals-${process.pid}`;
const UID_BASE = 64700;

let pool: Pool;
let slot: Slot;
let devNull: number;
let initFd: number;

before(() => {
  pool = new Pool({ size: 1, name: NAME, uidBase: UID_BASE });
  slot = pool.slots[0];
  devNull = openSync('/dev/null', fsc.O_RDWR);
  initFd = openSync(INIT_PATH, fsc.O_RDONLY);
});

after(() => {
  pool?.close();
  if (devNull !== undefined) closeSync(devNull);
  if (initFd !== undefined) closeSync(initFd);
});

type RawItem = [type: number, payload: Buffer];

/** A go message from raw items, laid out by the protocol's rules (which `tweak` may break). */
function raw(items: RawItem[], tweak?: (b: Buffer) => Buffer): Buffer {
  const parts: Buffer[] = [Buffer.alloc(8)];
  parts[0].writeUInt32LE(GO_MAGIC, 0);
  for (const [type, payload] of items) {
    const h = Buffer.alloc(8);
    h.writeUInt32LE(type, 0);
    h.writeUInt32LE(payload.length, 4);
    parts.push(h, payload, Buffer.alloc((8 - (payload.length % 8)) % 8));
  }
  const b = Buffer.concat(parts);
  return tweak ? tweak(b) : b;
}

const cstr = (s: string) => Buffer.from(s + '\0');
const arg = (s: string): RawItem => [Item.ARG, cstr(s)];
const ids: RawItem = [Item.IDS, Buffer.from(Uint32Array.of(UID_BASE, UID_BASE).buffer)];
function rlimit(resource: number, value: number): RawItem {
  const b = Buffer.alloc(24);
  b.writeUInt32LE(resource, 0);
  b.writeBigUInt64LE(BigInt(value), 8);
  b.writeBigUInt64LE(BigInt(value), 16);
  return [Item.RLIMIT, b];
}

/** Sends `msg` to a fresh cell of the slot and returns the reaper's record of the run. */
async function send(msg: Buffer, fds = [devNull, devNull, devNull]): Promise<ExitRecord> {
  const cell = await Cell.start(cellPlan(slot, { devNull, init: initFd }));
  try {
    cell.go(msg, fds);
    return await cell.next();
  } finally {
    await cell.dispose();
  }
}

async function assertRefused(msg: Buffer, errno: string, fds?: number[]): Promise<void> {
  const rec = await send(msg, fds);
  assert.equal(rec.program, undefined, 'nothing may run');
  assert.ok(rec.goFailure, `expected a refusal, got ${JSON.stringify(rec)}`);
  assert.equal(rec.goFailure.step, 'parsing the go message');
  assert.equal(errnoName(rec.goFailure.errno), errno);
}

test('a well-formed message at every cap runs (the harness itself works)', async () => {
  const limits = Array.from({ length: GO_MAX.RLIMITS }, () => rlimit(RLIMIT.NOFILE, 64));
  const env = Array.from({ length: GO_MAX.ENVS }, (_, i): RawItem => [Item.ENV, cstr(`V${i}=x`)]);
  const args = ['/bin/true', ...Array.from({ length: GO_MAX.ARGS - 1 }, () => 'x')].map(arg);
  const rec = await send(raw([ids, ...limits, ...env, ...args]));
  assert.equal(rec.goFailure, undefined, JSON.stringify(rec));
  assert.equal(rec.execErrno, undefined, JSON.stringify(rec));
  assert.equal(rec.program?.wstatus, 0);
});

test('arguments past the cap: E2BIG', async () => {
  await assertRefused(raw([ids, ...Array.from({ length: GO_MAX.ARGS + 1 }, () => arg('/bin/true'))]), 'E2BIG');
});

test('environment entries past the cap: E2BIG', async () => {
  const env = Array.from({ length: GO_MAX.ENVS + 1 }, (_, i): RawItem => [Item.ENV, cstr(`V${i}=x`)]);
  await assertRefused(raw([ids, arg('/bin/true'), ...env]), 'E2BIG');
});

test('rlimits past 16: E2BIG', async () => {
  const limits = Array.from({ length: GO_MAX.RLIMITS + 1 }, () => rlimit(RLIMIT.NOFILE, 64));
  await assertRefused(raw([ids, arg('/bin/true'), ...limits]), 'E2BIG');
});

test('a filter past BPF_MAXINSNS: E2BIG', async () => {
  await assertRefused(raw([ids, arg('/bin/true'), [Item.FILTER, Buffer.alloc(8 * (GO_MAX.FILTER + 1))]]), 'E2BIG');
});

test('an unknown item, or a header init does not know: EPROTO', async () => {
  await assertRefused(raw([ids, arg('/bin/true'), [99, Buffer.alloc(8)]]), 'EPROTO');
  await assertRefused(raw([ids, arg('/bin/true')], (b) => {
    b.writeUInt32LE(1, 4);
    return b;
  }), 'EPROTO');
});

test('payload lengths that do not match the item, or the message: EBADMSG', async () => {
  const cases: [string, Buffer][] = [
    ['ids of 4 bytes', raw([[Item.IDS, Buffer.alloc(4)], arg('/bin/true')])],
    ['an rlimit of 16 bytes', raw([[Item.RLIMIT, Buffer.alloc(16)], arg('/bin/true')])],
    ['a filter of 12 bytes', raw([[Item.FILTER, Buffer.alloc(12)], arg('/bin/true')])],
    ['an argument without its NUL', raw([[Item.ARG, Buffer.from('/bin/true')]])],
    ['an argument with a NUL inside', raw([[Item.ARG, Buffer.from('/bin\0/true\0')]])],
    ['a mount without a target', raw([arg('/bin/true'), [Item.MOUNT, Buffer.alloc(4)]])],
    ['a trace item with a payload', raw([arg('/bin/true'), [Item.TRACE, Buffer.alloc(8)]])],
    ['a payload running past the message', raw([arg('/bin/true')], (b) => {
      b.writeUInt32LE(4096, 12);
      return b;
    })],
    ['bytes left over after the last item', raw([arg('/bin/true')], (b) => Buffer.concat([b, Buffer.alloc(4)]))],
  ];
  for (const [what, msg] of cases) {
    await test(what, () => assertRefused(msg, 'EBADMSG'));
  }
});

test('a mount naming an fd that was not sent: EBADF', async () => {
  const idx = Buffer.alloc(4);
  idx.writeUInt32LE(7, 0);
  await assertRefused(raw([arg('/bin/true'), [Item.MOUNT, Buffer.concat([idx, cstr('/box')])]]), 'EBADF');
});

test('through Sandbox.run: too many arguments are an SE naming E2BIG, and the slot recovers', async () => {
  const name = `${NAME}-run`;
  const sb = Sandbox.open({ size: 1, name, uidBase: UID_BASE + 10 });
  const dir = sb.makeWorkDir();
  try {
    const limits = { timeMs: 1000, wallTimeMs: 5000, memoryBytes: 64 << 20, outputBytes: 1 << 20, processes: 4 };
    const many = await sb.run({ argv: ['/bin/true', ...Array.from({ length: GO_MAX.ARGS }, () => 'x')], limits, workDir: dir });
    assert.equal(many.status, 'SE');
    assert.match(many.error ?? '', /parsing the go message: E2BIG/);
    const ok = await sb.run({ argv: ['/bin/true'], limits, workDir: dir });
    assert.equal(ok.status, 'OK', JSON.stringify(ok));
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await sb.close();
  }
});

test('GoMessage itself lays out what init accepts (a cross-check of go.ts against init)', async () => {
  const m = new GoMessage([devNull, devNull, devNull]).ids(UID_BASE, UID_BASE).rlimit(RLIMIT.CORE, 0)
    .filter(Buffer.alloc(8 * 4)).argv(['/bin/sh', '-c', 'exit 5']).env(['A=1']).chdir('/');
  // A BPF program of four zero instructions (ld [0]) is not valid: seccomp says EINVAL,
  // which shows the filter item reached the kernel.
  const rec = await send(m.build(), m.fds);
  assert.equal(rec.goFailure, undefined, JSON.stringify(rec));
  assert.equal(rec.execStep, 'installing the seccomp filter');
  assert.equal(errnoName(rec.execErrno ?? 0), 'EINVAL');
});
