// The go message's bytes, as gavel-init checks and parses them (native/protocol.h). No root.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GoMessage } from '../../src/sandbox/go.js';
import { RLIMIT } from '../../src/sandbox/linux.js';
import { GO_HEADER_SIZE, GO_MAGIC, Item } from '../../src/sandbox/protocol.js';

function items(buf: Buffer): { type: number; payload: Buffer }[] {
  const out: { type: number; payload: Buffer }[] = [];
  for (let off = GO_HEADER_SIZE; off < buf.length;) {
    const type = buf.readUInt32LE(off);
    const len = buf.readUInt32LE(off + 4);
    out.push({ type, payload: buf.subarray(off + 8, off + 8 + len) });
    off += 8 + ((len + 7) & ~7);
  }
  return out;
}

test('header, item order, exact payload lengths, 8-byte padding', () => {
  const m = new GoMessage([10, 11, 12]);
  m.mount(20, '/box').ids(60000, 60001).rlimit(RLIMIT.FSIZE, 1025, 2048).tmp('size=4096').filter(Buffer.alloc(16, 1))
    .argv(['/bin/echo', 'hi']).env(['A=b']).chdir('/box');
  const buf = m.build();
  assert.equal(buf.readUInt32LE(0), GO_MAGIC);
  assert.equal(buf.readUInt32LE(4), 0);
  assert.equal(buf.length % 8, 0);
  const it = items(buf);
  assert.deepEqual(it.map((i) => i.type), [Item.MOUNT, Item.IDS, Item.RLIMIT, Item.TMP, Item.FILTER, Item.ARG, Item.ARG, Item.ENV, Item.CHDIR]);
  assert.deepEqual(m.fds, [10, 11, 12, 20], 'stdio, then the mount tree');
  assert.equal(it[0].payload.readUInt32LE(0), 3, 'the mount names its fd by index');
  assert.equal(it[0].payload.subarray(4).toString(), '/box\0');
  assert.deepEqual([it[1].payload.readUInt32LE(0), it[1].payload.readUInt32LE(4)], [60000, 60001]);
  assert.equal(it[2].payload.length, 24);
  assert.equal(it[2].payload.readUInt32LE(0), RLIMIT.FSIZE);
  assert.equal(it[2].payload.readBigUInt64LE(8), 1025n);
  assert.equal(it[2].payload.readBigUInt64LE(16), 2048n);
  assert.equal(it[4].payload.length, 16);
  assert.equal(it[5].payload.toString(), '/bin/echo\0', 'strings carry their NUL in the payload length');
  assert.equal(it[8].payload.toString(), '/box\0');
});

test('NUL bytes inside a string are refused before anything is sent', () => {
  assert.throws(() => new GoMessage([0, 1, 2]).argv(['a\0b']), /NUL/);
  assert.throws(() => new GoMessage([0, 1, 2]).env(['A=\0']), /NUL/);
});

test('the trace item has no payload', () => {
  const it = items(new GoMessage([0, 1, 2]).argv(['/bin/true']).trace().build());
  assert.deepEqual(it.at(-1), { type: Item.TRACE, payload: Buffer.alloc(0) });
});
