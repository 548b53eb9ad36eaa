// The compile cache on plain directories: keys, hits that link the same files, LRU eviction
// past the size cap, and builds too big to keep.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { CompileCache } from '../../src/judge/compile-cache.js';
import type { Language } from '../../src/judge/languages.js';

const root = mkdtempSync(join(tmpdir(), `gavel-cc-${process.pid}-`));
after(() => rmSync(root, { recursive: true, force: true }));
const lang: Language = { id: 'cpp', name: 'C++', source: 'main.cpp', compile: ['g++', 'main.cpp'], run: ['./main'], version: ['g++'], versionString: 'g++ 12' };
let n = 0;

function box(files: Record<string, string>): string {
  const dir = join(root, `box${++n}`);
  mkdirSync(join(dir, 'sub'), { recursive: true });
  for (const [p, c] of Object.entries(files)) writeFileSync(join(dir, p), c);
  return dir;
}

describe('compile cache', () => {
  it('keys depend on sources, language version and vars, not on file order', () => {
    const c = new CompileCache(join(root, 'c1'), 1 << 20);
    const a = { path: 'a.cpp', content: 'x' };
    const b = { path: 'b.h', content: 'y' };
    assert.equal(c.key(lang, [a, b], {}), c.key(lang, [b, a], {}));
    assert.notEqual(c.key(lang, [a], {}), c.key(lang, [{ ...a, content: 'z' }], {}));
    assert.notEqual(c.key(lang, [a], {}), c.key({ ...lang, versionString: 'g++ 13' }, [a], {}));
    assert.notEqual(c.key(lang, [a], { class: 'Main' }), c.key(lang, [a], { class: 'Other' }));
  });

  it('a hit links the kept files into the new box and returns the compile result marked cached', () => {
    const c = new CompileCache(join(root, 'c2'), 1 << 20);
    const built = box({ main: 'binary', 'sub/data': 'd' });
    assert.equal(c.take('k', join(root, 'nope')), undefined);
    c.put('k', built, { ok: true, output: 'warning: x', timeMs: 120 });
    const fresh = box({ 'main.cpp': 'source' });
    assert.deepEqual(c.take('k', fresh), { ok: true, output: 'warning: x', timeMs: 120, cached: true });
    assert.equal(readFileSync(join(fresh, 'main'), 'utf8'), 'binary');
    assert.equal(readFileSync(join(fresh, 'sub', 'data'), 'utf8'), 'd');
    assert.equal(statSync(join(fresh, 'main')).ino, statSync(join(built, 'main')).ino, 'a link, not a copy');
    assert.deepEqual({ hits: c.hits, misses: c.misses }, { hits: 1, misses: 1 });
  });

  it('evicts the least recently used entries past the size cap, and keeps nothing larger than it', () => {
    const c = new CompileCache(join(root, 'c3'), 250);
    c.put('a', box({ main: 'a'.repeat(100) }), { ok: true, output: '', timeMs: 1 });
    c.put('b', box({ main: 'b'.repeat(100) }), { ok: true, output: '', timeMs: 1 });
    assert.ok(c.take('a', box({})), 'a is now the most recently used');
    c.put('c', box({ main: 'c'.repeat(100) }), { ok: true, output: '', timeMs: 1 });
    assert.equal(c.take('b', box({})), undefined, 'b was the least recently used');
    assert.ok(c.take('a', box({})));
    assert.ok(c.take('c', box({})));
    assert.deepEqual(c.size, { entries: 2, bytes: 200 });
    c.put('huge', box({ main: 'h'.repeat(300) }), { ok: true, output: '', timeMs: 1 });
    assert.equal(c.take('huge', box({})), undefined);
    assert.equal(c.size.entries, 2);
  });
});
