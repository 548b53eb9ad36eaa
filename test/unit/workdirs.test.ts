// Work dirs are reused only emptied and reset to what mkdtemp makes. Runs as any user (as
// root the owner reset is exercised too).
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { WorkDirs } from '../../src/sandbox/workdirs.js';

const parent = mkdtempSync(join(tmpdir(), 'gavel-workdirs-'));
mkdirSync(join(parent, 'work'));
after(() => rmSync(parent, { recursive: true, force: true }));

test('a returned dir comes back empty, mode 0700, and is the one handed out next', () => {
  const w = new WorkDirs(join(parent, 'work'), join(parent, 'stock'), 2);
  const a = w.take();
  mkdirSync(join(a, 'sub/deeper'), { recursive: true });
  writeFileSync(join(a, 'sub/deeper/f'), 'x');
  writeFileSync(join(a, '.hidden'), 'x');
  const outside = mkdtempSync(join(parent, 'outside-'));
  writeFileSync(join(outside, 'keep'), 'x');
  symlinkSync(outside, join(a, 'link'));
  chmodSync(a, 0o777);
  w.give(a);
  assert.deepEqual(readdirSync(join(parent, 'work')), [], 'the parent holds only dirs in use');
  const b = w.take();
  assert.equal(b, a, 'the same path again');
  assert.deepEqual(readdirSync(b), []);
  assert.equal(statSync(b).mode & 0o7777, 0o700);
  assert.ok(existsSync(join(outside, 'keep')), 'a symlink is removed, never followed');
  w.clear();
  assert.ok(!existsSync(b));
});

test('beyond the stock, and for paths it did not hand out, give removes', () => {
  const w = new WorkDirs(join(parent, 'work'), join(parent, 'stock'), 1);
  const [a, b] = [w.take(), w.take()];
  assert.notEqual(a, b);
  w.give(a);
  w.give(b);
  assert.deepEqual(readdirSync(join(parent, 'work')), []);
  assert.equal(readdirSync(join(parent, 'stock')).length, 1, 'one kept, one removed');
  const foreign = mkdtempSync(join(parent, 'work', 'x'));
  w.give(foreign);
  assert.ok(!existsSync(foreign));
  w.clear();
  assert.deepEqual(readdirSync(join(parent, 'work')), []);
  assert.ok(!existsSync(join(parent, 'stock')));
});

test('a dir replaced by a file is not reused', () => {
  const w = new WorkDirs(join(parent, 'work'), join(parent, 'stock'), 2);
  const a = w.take();
  rmSync(a, { recursive: true });
  writeFileSync(a, 'not a dir');
  w.give(a);
  assert.ok(!existsSync(a));
  const b = w.take();
  assert.notEqual(b, a);
  w.clear();
});
