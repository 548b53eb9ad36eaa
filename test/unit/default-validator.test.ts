// Golden cases for the Kattis default output validator (pure: files in a temp dir, no sandbox).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { AnswerTooLongError, defaultValidate } from '../../src/problems/default-validator.js';
import { defaultValidatorFlags } from '../../src/problems/package.js';

const dir = mkdtempSync(join(tmpdir(), `gavel-dv-${process.pid}-`));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

async function judge(output: string | Buffer, answer: string | Buffer, flags: string[] = [], opts: { chunkBytes?: number; maxTokenBytes?: number } = {}) {
  const o = join(dir, `${++n}.out`);
  const a = join(dir, `${n}.ans`);
  writeFileSync(o, output);
  writeFileSync(a, answer);
  return defaultValidate(o, a, defaultValidatorFlags(flags), opts);
}

const cases: Array<[string, string | Buffer, string | Buffer, string[], boolean]> = [
  // [what, output, answer, flags, accepted]
  ['identical', '1 2 3\n', '1 2 3\n', [], true],
  ['different whitespace is fine by default', '  1\t2\r\n\n3', '1 2 3\n', [], true],
  ['case-insensitive by default', 'YES\n', 'yes\n', [], true],
  ['case_sensitive', 'YES\n', 'yes\n', ['case_sensitive'], false],
  ['case_sensitive, same case', 'Yes\n', 'Yes\n', ['case_sensitive'], true],
  ['non-ASCII letters are not folded', 'É\n', 'é\n', [], false],
  ['space_change_sensitive, identical', '1 2\n3\n', '1 2\n3\n', ['space_change_sensitive'], true],
  ['space_change_sensitive, extra space', '1  2\n3\n', '1 2\n3\n', ['space_change_sensitive'], false],
  ['space_change_sensitive, missing trailing newline', '1 2\n3', '1 2\n3\n', ['space_change_sensitive'], false],
  ['space_change_sensitive, leading space', ' 1 2\n3\n', '1 2\n3\n', ['space_change_sensitive'], false],
  ['space_change_sensitive, tab for space', '1\t2\n3\n', '1 2\n3\n', ['space_change_sensitive'], false],
  ['space_change_sensitive still folds case', 'A b\n', 'a B\n', ['space_change_sensitive'], true],
  ['numbers are strings without a tolerance', '1.0\n', '1\n', [], false],
  ['absolute tolerance, inside', '1.0000005\n', '1\n', ['float_absolute_tolerance', '1e-6'], true],
  ['absolute tolerance, outside', '1.00001\n', '1\n', ['float_absolute_tolerance', '1e-6'], false],
  ['relative tolerance, inside', '1000000.5\n', '1000000\n', ['float_relative_tolerance', '1e-6'], true],
  ['relative tolerance, outside', '1000002\n', '1000000\n', ['float_relative_tolerance', '1e-6'], false],
  ['relative tolerance alone rejects near zero', '0.0000001\n', '0\n', ['float_relative_tolerance', '1e-6'], false],
  ['absolute or relative: absolute passes', '0.0000001\n', '0\n', ['float_absolute_tolerance', '1e-6', 'float_relative_tolerance', '1e-9'], true],
  ['absolute or relative: relative passes', '1000000.5\n', '1000000\n', ['float_absolute_tolerance', '1e-9', 'float_relative_tolerance', '1e-6'], true],
  ['absolute or relative: neither passes', '1000010\n', '1000000\n', ['float_absolute_tolerance', '1e-9', 'float_relative_tolerance', '1e-6'], false],
  ['float_tolerance sets both', '1000000.5 0.0000005\n', '1000000 0\n', ['float_tolerance', '1e-6'], true],
  ['zero answer, exact zero', '0\n', '0.0\n', ['float_tolerance', '1e-9'], true],
  ['zero answer, negative zero', '-0.0\n', '0\n', ['float_tolerance', '1e-9'], true],
  ['exponent notation is a number', '1e3\n', '1000\n', ['float_tolerance', '1e-9'], true],
  ['team token not a number', 'abc\n', '1.5\n', ['float_tolerance', '1e-6'], false],
  ['judge token not a number compares as string', 'Impossible\n', 'impossible\n', ['float_tolerance', '1e-6'], true],
  ['inf answer, inf output', 'inf\n', 'inf\n', ['float_tolerance', '1e-6'], true],
  ['inf answer, Infinity output', 'Infinity\n', 'inf\n', ['float_tolerance', '1e-6'], true],
  ['inf answer, -inf output', '-inf\n', 'inf\n', ['float_tolerance', '1e-6'], false],
  ['inf answer, huge finite output', '1e308\n', 'inf\n', ['float_tolerance', '1e-6'], false],
  ['nan answer, nan output', 'NaN\n', 'nan\n', ['float_tolerance', '1e-6'], true],
  ['nan answer, number output', '0\n', 'nan\n', ['float_tolerance', '1e-6'], false],
  ['finite answer, nan output', 'nan\n', '1\n', ['float_tolerance', '1e-6'], false],
  ['finite answer, inf output', 'inf\n', '1e300\n', ['float_relative_tolerance', '1'], false],
  ['early difference', '1 9 3 4 5\n', '1 2 3 4 5\n', [], false],
  ['trailing output', '1 2 3 4\n', '1 2 3\n', [], false],
  ['trailing whitespace only is fine', '1 2 3\n\n\n   ', '1 2 3', [], true],
  ['output ends early', '1 2\n', '1 2 3\n', [], false],
  ['empty output, empty answer', '', '', [], true],
  ['empty output, non-empty answer', '', '42\n', [], false],
  ['binary junk', Buffer.from([0xff, 0x00, 0xfe, 0x0a]), '42\n', [], false],
  ['binary junk equal on both sides', Buffer.from([0xff, 0x01, 0x20, 0x80]), Buffer.from([0xff, 0x01, 0x0a, 0x80]), [], true],
  ['NUL is not whitespace', 'a\0b\n', 'a b\n', [], false],
];

describe('default output validator: golden cases', () => {
  for (const [what, out, ans, flags, ok] of cases) {
    it(`${what} → ${ok ? 'AC' : 'WA'}`, async () => {
      const r = await judge(out, ans, flags);
      assert.equal(r.ok, ok, r.message);
      if (!ok) assert.ok(r.message && r.message.length > 0, 'a rejection says why');
    });
    it(`${what} (2-byte chunks) → ${ok ? 'AC' : 'WA'}`, async () => {
      assert.equal((await judge(out, ans, flags, { chunkBytes: 2 })).ok, ok);
    });
  }
});

describe('default output validator: streaming and limits', () => {
  it('long lines: a 5 MB line of tokens, difference at the end', async () => {
    const line = Array.from({ length: 600_000 }, (_, i) => String(i % 1000)).join(' ');
    assert.equal((await judge(line + '\n', line + '\n')).ok, true);
    const r = await judge(line + ' 1\n', line + ' 2\n');
    assert.equal(r.ok, false);
    assert.match(r.message!, /token 600001/);
  });

  it('a single token longer than a chunk compares whole', async () => {
    const tok = 'x'.repeat(200_000);
    assert.equal((await judge(tok, tok.toUpperCase(), [], { chunkBytes: 4096 })).ok, true);
    assert.equal((await judge(tok + 'y', tok + 'z', [], { chunkBytes: 4096 })).ok, false);
  });

  it('an output token over the cap is WA, an answer token over it a judge error', async () => {
    const r = await judge('a'.repeat(100), 'b\n', [], { maxTokenBytes: 50, chunkBytes: 16 });
    assert.equal(r.ok, false);
    assert.match(r.message!, /longer than 50 bytes/);
    await assert.rejects(judge('b\n', 'a'.repeat(100), [], { maxTokenBytes: 50, chunkBytes: 16 }), AnswerTooLongError);
  });

  it('names the token and both lines of the first difference', async () => {
    const r = await judge('1\n2\nthree\n', '1\n2\n3\n');
    assert.match(r.message!, /token 3 \(line 3 of the output, 3 of the answer\): expected '3', found 'three'/);
  });

  it('whitespace runs longer than a chunk are compared whole', async () => {
    const ws = ' '.repeat(10_000);
    assert.equal((await judge(`a${ws}b`, `a${ws}b`, ['space_change_sensitive'], { chunkBytes: 7 })).ok, true);
    assert.equal((await judge(`a${ws} b`, `a${ws}b`, ['space_change_sensitive'], { chunkBytes: 7 })).ok, false);
  });

  it('flags: a tolerance without a value is a package error', () => {
    assert.throws(() => defaultValidatorFlags(['float_tolerance']), /needs a non-negative number/);
  });
});
