// The built-in checkers on real files: their rules, their messages, chunk boundaries (both
// with tiny read sizes against in-memory reference implementations and at the real 64 KiB
// boundary), and bounded memory on a 100 MB+ output.
import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, readdirSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { checkFiles, type BuiltinChecker, type CheckOptions, type CheckResult } from '../src/judge/checkers/index.js';

const dir = mkdtempSync(join(tmpdir(), 'gavel-checkers-'));
after(() => rmSync(dir, { recursive: true, force: true }));

let seq = 0;
function files(output: string | Buffer, expected: string | Buffer): { out: string; exp: string } {
  const n = seq++;
  const out = join(dir, `${n}.out`);
  const exp = join(dir, `${n}.ans`);
  writeFileSync(out, output);
  writeFileSync(exp, expected);
  return { out, exp };
}

async function check(checker: BuiltinChecker | BuiltinChecker['kind'], output: string | Buffer, expected: string | Buffer, opts?: CheckOptions): Promise<CheckResult> {
  const f = files(output, expected);
  try {
    return await checkFiles(typeof checker === 'string' ? { kind: checker } as BuiltinChecker : checker, f.out, f.exp, opts);
  } finally {
    rmSync(f.out);
    rmSync(f.exp);
  }
}

async function accepts(checker: BuiltinChecker | BuiltinChecker['kind'], output: string | Buffer, expected: string | Buffer) {
  const r = await check(checker, output, expected);
  assert.deepEqual(r, { ok: true }, `expected AC for output ${JSON.stringify(String(output))} vs answer ${JSON.stringify(String(expected))}`);
}

async function rejects(checker: BuiltinChecker | BuiltinChecker['kind'], output: string | Buffer, expected: string | Buffer, message?: string | RegExp) {
  const r = await check(checker, output, expected);
  assert.equal(r.ok, false, `expected WA for output ${JSON.stringify(String(output))} vs answer ${JSON.stringify(String(expected))}`);
  assert.ok(r.message, 'a rejection carries a message');
  if (typeof message === 'string') assert.equal(r.message, message);
  else if (message) assert.match(r.message!, message);
}

describe('exact', () => {
  test('accepts identical bytes, including binary and empty files', async () => {
    await accepts('exact', '1 2\n3 4\n', '1 2\n3 4\n');
    await accepts('exact', '', '');
    await accepts('exact', Buffer.from([0, 255, 13, 10, 0]), Buffer.from([0, 255, 13, 10, 0]));
  });

  test('rejects any difference and says where', async () => {
    await rejects('exact', '1 2\n3 4\n', '1 2\n3 5\n', "byte 7 (line 2, column 3): expected '3 5\\n', found '3 4\\n'");
    await rejects('exact', '5', '5\n', "byte 2 (line 1, column 2): expected '5\\n', found '5' then end of file");
    await rejects('exact', '5\n\n', '5\n', "byte 3 (line 2, column 1): expected end of file, found '\\n'");
    await rejects('exact', '', 'x', "byte 1 (line 1, column 1): expected 'x', found end of file");
    await rejects('exact', '5 \n', '5\n', /^byte 2 /);
  });

  test('CRLF is not LF', async () => {
    await rejects('exact', '1\r\n2\r\n', '1\n2\n', "byte 2 (line 1, column 2): expected '1\\n', found '1\\r\\n'");
  });
});

describe('lines', () => {
  test('ignores spaces, tabs and \\r at line ends, and blank lines at the end', async () => {
    await accepts('lines', '1 2 \t\r\n3 4\r\n', '1 2\n3 4\n');
    await accepts('lines', '1 2\n3 4', '1 2\n3 4\n\n\n');
    await accepts('lines', '1 2\n3 4\n\n  \t\n\r\n', '1 2\n3 4');
    await accepts('lines', '', '');
    await accepts('lines', '\n \n\t\r\n', '');
    await accepts('lines', '', '\n\n');
  });

  test('CRLF matches LF either way', async () => {
    await accepts('lines', '1\r\n2\r\n', '1\n2\n');
    await accepts('lines', '1\n2\n', '1\r\n2\r\n');
  });

  test('leading and inner whitespace, inner blank lines and a \\r inside a line count', async () => {
    await rejects('lines', ' 1', '1', "line 1: expected '1', found ' 1'");
    await rejects('lines', 'a b', 'a  b', "line 1: expected 'a  b', found 'a b'");
    await rejects('lines', 'a\tb', 'a b', "line 1: expected 'a b', found 'a\\tb'");
    await rejects('lines', 'a\n\nb', 'a\nb', "line 2: expected 'b', found ''");
    await rejects('lines', '\na', 'a', "line 1: expected 'a', found ''");
    await rejects('lines', 'a\rb', 'a b', "line 1: expected 'a b', found 'a\\rb'");
  });

  test('a wrong, missing or extra line', async () => {
    await rejects('lines', '1 2\n3 4\n', '1 2\n3 5\n', "line 2: expected '3 5', found '3 4'");
    await rejects('lines', '1\n2\n', '1\n2\n3\n', "line 3: expected '3', found end of output");
    await rejects('lines', '1\n2\n3\n', '1\n2\n', "line 3: expected end of output, found '3'");
    await rejects('lines', '', '42\n', "line 1: expected '42', found end of output");
    await rejects('lines', '42\n', '', "line 1: expected end of output, found '42'");
    await rejects('lines', '12\n', '123\n', "line 1: expected '123', found '12'");
  });

  test('a difference deep in a long line is shown with its column and a cut excerpt', async () => {
    const head = 'x'.repeat(1000);
    await rejects('lines', `${head}A${'y'.repeat(1000)}`, `${head}B${'y'.repeat(1000)}`,
      `line 1, column 1001: expected '…${'x'.repeat(32)}B${'y'.repeat(31)}…', found '…${'x'.repeat(32)}A${'y'.repeat(31)}…'`);
  });
});

describe('tokens', () => {
  test('any whitespace separates; amounts and kinds of it do not matter', async () => {
    await accepts('tokens', ' 1  2\r\n3\t\v\f4 \n\n', '1 2 3 4');
    await accepts('tokens', '1\n2\n3\n', '1 2 3');
    await accepts('tokens', '', '');
    await accepts('tokens', '', ' \n\r\n');
    await accepts('tokens', '\n\n', '');
  });

  test('case-sensitive, whole tokens, equal count', async () => {
    await rejects('tokens', 'yes', 'YES', "token 1: expected 'YES', found 'yes'");
    await rejects('tokens', '1 2 34', '1 2 3 4', "token 3: expected '3', found '34'");
    await rejects('tokens', '1 2 3 4', '1 2 3', "token 4: expected end of output, found '4'");
    await rejects('tokens', '1 2', '1 2 3', "token 3: expected '3', found end of output");
    await rejects('tokens', '', '7', "token 1: expected '7', found end of output");
    await rejects('tokens', '7', '', "token 1: expected end of output, found '7'");
    await rejects('tokens', '1\x002', '1 2', /^token 1: expected '1', found '1\\x002'$/);
  });
});

describe('float', () => {
  const f = (absError?: number, relError?: number): BuiltinChecker => ({ kind: 'float', absError, relError });

  test('equal numbers in other spellings', async () => {
    await accepts('float', '3.140000 2', '3.14 2.0');
    await accepts('float', '+1 1. .5 5e-1 1E0', '1 1 0.5 0.5 1');
    await accepts('float', '1\r\n2\r\n', '1 2');
    await accepts('float', '', '');
  });

  test('absolute tolerance: exactly at 1e-6 is accepted, beyond it is not', async () => {
    // relError 0 isolates the absolute rule.
    await accepts(f(1e-6, 0), '1.000001', '1');
    await accepts(f(1e-6, 0), '0.999999', '1');
    await accepts(f(1e-6, 0), '0.000001', '0');
    await accepts(f(1e-6, 0), '-1e-6', '0');
    await accepts(f(1e-6, 0), '123.456789', '123.456790');
    await rejects(f(1e-6, 0), '1.0000011', '1', "token 1: expected '1', found '1.0000011' (abs error 1.1e-6 > 1e-6, rel error 1.1e-6 > 0)");
    await rejects(f(1e-6, 0), '1.000001001', '1', /^token 1: /);
    await rejects(f(1e-6, 0), '0.000001001', '0', "token 1: expected '0', found '0.000001001' (abs error 1.001e-6 > 1e-6)");
    await rejects(f(1e-6, 0), '1.000002', '1');
  });

  test('relative tolerance scales with the expected value', async () => {
    await accepts(f(0, 1e-6), '1000001', '1e6');
    await accepts(f(0, 1e-6), '999999', '1000000');
    await accepts(f(0, 1e-6), '1.000001e-20', '1e-20');
    await rejects(f(0, 1e-6), '1000001.001', '1e6', /rel error 1\.001e-6 > 1e-6/);
    await rejects(f(0, 1e-6), '1.0000011e-20', '1e-20');
    // Either rule suffices: a small absolute error on a large number, a small relative one on a tiny number.
    await accepts('float', '1000000.9', '1000000');
    await accepts('float', '0.0000015', '0.000001');
    await rejects('float', '3.2', '3.14159', "token 1: expected '3.14159', found '3.2' (abs error 0.05841 > 1e-6, rel error 0.01859 > 1e-6)");
  });

  test('custom tolerances', async () => {
    await accepts(f(0.01), '3.15', '3.14159');
    await rejects(f(0.001, 0), '3.15', '3.14159');
    await accepts(f(0, 0), '2.50', '2.5');
    await rejects(f(0, 0), '2.5000000001', '2.5');
  });

  test('negative numbers and signed zero', async () => {
    await accepts('float', '-1.000001', '-1');
    await accepts('float', '-2.5', '-2.50');
    await rejects('float', '1', '-1', /abs error 2 > /);
    await rejects('float', '-5.1', '-5');
    await accepts('float', '-0', '0');
    await accepts('float', '0', '-0.0');
    await accepts('float', '-0.0000001', '0');
  });

  test('inf matches inf of the same sign only; nan matches nan only', async () => {
    await accepts('float', 'inf Infinity +INF -inf -Infinity', 'INF inf inf -INFINITY -inf');
    await rejects('float', '-inf', 'inf', "token 1: expected 'inf', found '-inf'");
    await rejects('float', 'inf', '-inf');
    await rejects('float', '1e308', 'inf');
    await rejects('float', 'inf', '1e308');
    await accepts('float', 'nan NaN -nan +NAN', 'nan nan nan NaN');
    await rejects('float', '0', 'nan', "token 1: expected 'nan', found '0'");
    await rejects('float', 'nan', '0');
    await rejects('float', 'inf', 'nan');
    await rejects('float', 'infinite', 'inf', /not a number/);
  });

  test('literals beyond the double range compare by relative error, never as inf', async () => {
    await accepts('float', '1e500', '1e500');
    await accepts('float', '1.0e500', '1e500');
    await accepts('float', '10e499', '1e500');
    await accepts('float', '1.0000001e500', '1e500');
    await rejects('float', '2e500', '1e500', "token 1: expected '1e500', found '2e500' (rel error 1 > 1e-6)");
    await rejects('float', '1.00001e500', '1e500');
    await rejects('float', 'inf', '1e500');
    await rejects('float', '1e500', 'inf');
    await rejects('float', '1e308', '1e500');
    await rejects('float', '1e500', '1e308');
    await accepts('float', '-1e500', '-1.0000000e+500');
    await rejects('float', '1e500', '-1e500');
    // Too small for a double is 0, within the absolute tolerance of 0.
    await accepts('float', '1e-500', '0');
  });

  test('non-numbers must match exactly; hex is not a number', async () => {
    await accepts('float', 'YES 0x10 1e', 'YES 0x10 1e');
    await rejects('float', 'yes', 'YES', "token 1: expected 'YES', found 'yes'");
    await rejects('float', '16', '0x10', "token 1: expected '0x10', found '16'");
    await rejects('float', '0x10', '16', "token 1: expected '16', found '0x10' (not a number)");
    await rejects('float', '0x1p4', '16', /not a number/);
    await rejects('float', '1,5', '1.5', /not a number/);
    await rejects('float', '1e', '1', /not a number/);
  });

  test('token counts must match', async () => {
    await rejects('float', '1 2 3', '1 2', "token 3: expected end of output, found '3'");
    await rejects('float', '1', '1 2', "token 2: expected '2', found end of output");
    await rejects('float', '', '1.5', "token 1: expected '1.5', found end of output");
  });

  test('bad tolerances are refused', async () => {
    await assert.rejects(check(f(-1), '1', '1'), /absError must be a finite number >= 0/);
    await assert.rejects(check(f(1e-6, Number.NaN), '1', '1'), /relError must be a finite number >= 0/);
  });
});

describe('files', () => {
  const fdCount = () => readdirSync('/proc/self/fd').length;

  test('a missing file is an error naming which one, not a verdict', async () => {
    const f = files('1', '1');
    await assert.rejects(checkFiles({ kind: 'tokens' }, join(dir, 'nope.out'), f.exp), /program output .*nope\.out/);
    await assert.rejects(checkFiles({ kind: 'tokens' }, f.out, join(dir, 'nope.ans')), /expected answer .*nope\.ans/);
  });

  test('file handles are closed on every path', async () => {
    const f = files('1 2 3\n', '1 2 4\n');
    const before = fdCount();
    for (const kind of ['exact', 'lines', 'tokens', 'float'] as const) {
      for (let i = 0; i < 20; i++) {
        assert.equal((await checkFiles({ kind }, f.out, f.exp)).ok, false);
        assert.equal((await checkFiles({ kind }, f.out, f.out)).ok, true);
        await assert.rejects(checkFiles({ kind }, f.out, join(dir, 'missing')));
      }
    }
    assert.equal(fdCount(), before);
  });
});

// Reference semantics, in memory, for checking the streaming code.
const refLines = (s: Buffer) => {
  const ls = s.toString('latin1').split('\n').map((l) => l.replace(/[ \t\r]+$/, ''));
  while (ls.length > 0 && ls[ls.length - 1] === '') ls.pop();
  return ls;
};
const refTokens = (s: Buffer) => s.toString('latin1').split(/[ \t\n\v\f\r]+/).filter((t) => t !== '');
/** Index of the first differing element, -1 if none. */
function firstDiff(a: string[], b: string[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) if (a[i] !== b[i]) return i;
  return -1;
}

function mulberry32(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('chunk boundaries', () => {
  const CHUNKS = [1, 2, 3, 5, 8, 13, 64, 65536];

  test('every read size gives the reference verdict and the same message', async () => {
    const rnd = mulberry32(20261125);
    const pieces = ['a', 'b', '1', '2', 'é', ' ', ' ', '  ', '\t', '\r', '\n', '\n', '\r\n', '\n\n', ' \t \n', '        '];
    const gen = (n: number) => Array.from({ length: n }, () => pieces[Math.floor(rnd() * pieces.length)]).join('');
    const mutate = (s: string) => {
      const at = Math.floor(rnd() * (s.length + 1));
      switch (Math.floor(rnd() * 7)) {
        case 0: return s;
        case 1: return s + gen(1 + Math.floor(rnd() * 3));
        case 2: return s.slice(0, at) + gen(1) + s.slice(at);
        case 3: return s.slice(0, at) + s.slice(at + 1);
        case 4: return s.slice(0, at) + gen(1) + s.slice(at + 1);
        case 5: return s.replace(/\n/g, '\r\n');
        default: return s.replace(/[ \t]+\n/g, '\n');
      }
    };
    let mismatches = 0;
    for (let round = 0; round < 250; round++) {
      const exp = Buffer.from(gen(Math.floor(rnd() * 60)));
      const out = Buffer.from(mutate(exp.toString()));
      const f = files(out, exp);
      const refs = {
        exact: { ok: out.equals(exp), at: -1 },
        lines: { ok: refLines(out).join('\n') === refLines(exp).join('\n'), at: firstDiff(refLines(out), refLines(exp)) },
        tokens: { ok: refTokens(out).join(' ') === refTokens(exp).join(' '), at: firstDiff(refTokens(out), refTokens(exp)) },
      };
      for (const kind of ['exact', 'lines', 'tokens'] as const) {
        const ctx = `${kind}, round ${round}: output ${JSON.stringify(out.toString())} answer ${JSON.stringify(exp.toString())}`;
        const results = [];
        for (const chunkBytes of CHUNKS) results.push(await checkFiles({ kind }, f.out, f.exp, { chunkBytes }));
        for (const r of results) assert.deepEqual(r, results[results.length - 1], `${ctx}: differs by read size`);
        const r = results[0];
        assert.equal(r.ok, refs[kind].ok, ctx);
        if (!r.ok && kind !== 'exact') {
          mismatches++;
          const unit = kind === 'lines' ? 'line' : 'token';
          assert.match(r.message!, new RegExp(`^${unit} ${refs[kind].at + 1}[:,]`), ctx);
        }
      }
      rmSync(f.out);
      rmSync(f.exp);
    }
    assert.ok(mismatches > 50, `the generator produced too few rejections (${mismatches}) to mean anything`);
  });

  test('float gives the same verdict and message at every read size', async () => {
    const rnd = mulberry32(7);
    const nums = ['1', '1.0000005', '1.000002', '-0', '0', 'inf', '-inf', 'nan', '1e500', '2e500', 'x', '0x1', '3.14159', '3.1416'];
    const ws = [' ', '\n', '\r\n', '\t  '];
    const pick = <T>(a: T[]) => a[Math.floor(rnd() * a.length)];
    const gen = (n: number) => Array.from({ length: n }, () => pick(nums) + pick(ws)).join('');
    let seen = { ok: 0, wa: 0 };
    for (let round = 0; round < 150; round++) {
      const exp = gen(Math.floor(rnd() * 8));
      const out = rnd() < 0.4 ? exp.replace(/\n/g, ' ') : gen(Math.floor(rnd() * 8));
      const f = files(out, exp);
      const results = [];
      for (const chunkBytes of CHUNKS) results.push(await checkFiles({ kind: 'float' }, f.out, f.exp, { chunkBytes }));
      for (const r of results) assert.deepEqual(r, results[0], `round ${round}: output ${JSON.stringify(out)} answer ${JSON.stringify(exp)}`);
      if (results[0].ok) seen.ok++;
      else seen.wa++;
      rmSync(f.out);
      rmSync(f.exp);
    }
    assert.ok(seen.ok > 20 && seen.wa > 20, `need both verdicts to mean anything: ${JSON.stringify(seen)}`);
  });

  // At the real 64 KiB read size: a token / line / whitespace run straddling byte 65536.
  const K64 = 64 << 10;
  const pad = (n: number) => '1 '.repeat(n / 2); // n even: n bytes, n/2 tokens, one line

  test('a token split across the 64 KiB boundary', async () => {
    const before = pad(K64 - 4); // the next token starts 4 bytes before the boundary
    const tok = before.length / 2 + 1;
    await accepts('tokens', `${before}abcdefgh 9`, `${before}abcdefgh 9`);
    await rejects('tokens', `${before}abcdefgX 9`, `${before}abcdefgh 9`, `token ${tok}: expected 'abcdefgh', found 'abcdefgX'`);
    await rejects('tokens', `${before}abcd efgh 9`, `${before}abcdefgh 9`, `token ${tok}: expected 'abcdefgh', found 'abcd'`);
    await rejects('exact', `${before}abcdefgX`, `${before}abcdefgh`, /^byte 65540 \(line 1, column 65540\): /);
    await accepts('float', `${before}3.14159265 9`, `${before}3.1415927 9`);
    await rejects('float', `${before}3.14259265 9`, `${before}3.1415927 9`, new RegExp(`^token ${tok}: expected '3.1415927', found '3.14259265' \\(abs error`));
    await accepts('float', `${before}3.14159265\r\n`, `${before}3.14159265`);
  });

  test('a line end and a run of trailing blanks across the 64 KiB boundary', async () => {
    const before = pad(K64 - 2);
    await accepts('lines', `${before}x \t \r\ny\n`, `${before}x\ny`);
    const seen = `${before}x`.slice(-32);
    await rejects('lines', `${before}x \t z\ny\n`, `${before}x\ny`, `line 1, column ${K64}: expected '…${seen}', found '…${seen} \\t z'`);
    // Blank runs longer than a read are re-read from the file when they turn out not to end their line.
    const spaces = ' '.repeat(3 * K64 + 17);
    await accepts('lines', `a${spaces}b\n`, `a${spaces}b`);
    await accepts('lines', `a${spaces}\n${spaces}\n\n`, 'a');
    await rejects('lines', `a${spaces}b`, `a${spaces} b`, new RegExp(`^line 1, column ${spaces.length + 2}: `));
    await rejects('lines', `a${spaces}\tb`, `a${spaces} b`, `line 1, column ${spaces.length + 2}: expected '…${' '.repeat(33)}b', found '…${' '.repeat(32)}\\tb'`);
    await accepts('tokens', `a${spaces}b${spaces}`, 'a b');
    await accepts('lines', `a\n${'\n'.repeat(3 * K64)}b`, `a\n${'\n'.repeat(3 * K64)}b\n\n`);
    await rejects('lines', `a\n${'\n'.repeat(3 * K64)}b`, `a\n${'\n'.repeat(3 * K64 - 1)}b`, `line ${3 * K64 + 1}: expected 'b', found ''`);
  });

  test('float caps a token at maxTokenBytes: WA for the output, an error for the answer', async () => {
    const { checkFloat } = await import('../src/judge/checkers/float.js');
    const long = 'x'.repeat(200);
    const f1 = files(`1 ${long}`, '1 2');
    assert.deepEqual(await checkFloat(f1.out, f1.exp, { maxTokenBytes: 100, chunkBytes: 16 }),
      { ok: false, message: "token 2: output token is longer than 100 bytes (expected '2')" });
    const f2 = files('1 2', `1 ${long}`);
    await assert.rejects(checkFloat(f2.out, f2.exp, { maxTokenBytes: 100, chunkBytes: 16 }), /token 2 of the expected answer is longer than 100 bytes/);
    // Within one read as well as across reads.
    await assert.rejects(checkFloat(f2.out, f2.exp, { maxTokenBytes: 100 }), /token 2 of the expected answer/);
    assert.deepEqual(await checkFloat(f1.out, f1.out, { maxTokenBytes: 200, chunkBytes: 16 }), { ok: true });
  });
});

describe('large output, bounded memory', () => {
  const MiB = 1 << 20;
  const BLOCKS = 105;
  // One MiB of realistic output: lines of ten numbers with six decimals.
  const block = (() => {
    const parts: string[] = [];
    let len = 0;
    for (let i = 0; len < MiB - 100; i++) {
      const s = (i * 0.371).toFixed(6) + (i % 10 === 9 ? '\n' : ' ');
      parts.push(s);
      len += s.length;
    }
    return Buffer.from(parts.join('').padEnd(MiB - 1, ' ') + '\n');
  })();
  const linesPerBlock = block.toString('latin1').split('\n').length - 1;

  function writeBig(path: string, lastBlock: Buffer) {
    const fd = openSync(path, 'w');
    try {
      for (let i = 0; i < BLOCKS - 1; i++) writeSync(fd, block);
      writeSync(fd, lastBlock);
    } finally {
      closeSync(fd);
    }
  }

  test(`${BLOCKS} MiB files are compared in bounded memory by every checker`, async (t) => {
    const out = join(dir, 'big.out');
    const exp = join(dir, 'big.ans');
    const changed = Buffer.from(block);
    // Change a digit on the 3rd line of the last block.
    const at = block.indexOf('\n', block.indexOf('\n') + 1) + 3;
    changed[at] = changed[at] === 0x35 ? 0x36 : 0x35;
    writeBig(out, block);
    writeBig(exp, block);
    const wrong = join(dir, 'big-wrong.out');
    writeBig(wrong, changed);
    try {
      const size = BLOCKS * MiB;
      const startRss = process.memoryUsage().rss;
      let peak = startRss;
      const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5);
      try {
        for (const kind of ['exact', 'lines', 'tokens', 'float'] as const) {
          assert.deepEqual(await checkFiles({ kind }, out, exp), { ok: true }, kind);
        }
        const wrongLine = (BLOCKS - 1) * linesPerBlock + 3;
        assert.match((await checkFiles({ kind: 'lines' }, wrong, exp)).message!, new RegExp(`^line ${wrongLine}[:,] `));
        assert.match((await checkFiles({ kind: 'exact' }, wrong, exp)).message!, new RegExp(`^byte ${(BLOCKS - 1) * MiB + at + 1} \\(line ${wrongLine}, `));
        assert.match((await checkFiles({ kind: 'float' }, wrong, exp)).message!, /^token \d+: expected '[\d.]+', found '[\d.]+' \(abs error/);
        assert.equal((await checkFiles({ kind: 'tokens' }, wrong, exp)).ok, false);
      } finally {
        clearInterval(sampler);
      }
      // maxRSS is the kernel's own high-water mark, so a peak between samples is not missed.
      peak = Math.max(peak, process.resourceUsage().maxRSS * 1024);
      const growth = peak - startRss;
      t.diagnostic(`peak RSS growth ${(growth / MiB).toFixed(1)} MiB over ${(startRss / MiB).toFixed(1)} MiB at start`);
      assert.ok(growth < 48 * MiB, `RSS grew by ${(growth / MiB).toFixed(1)} MiB comparing ${size / MiB} MiB files`);
    } finally {
      rmSync(out, { force: true });
      rmSync(exp, { force: true });
      rmSync(wrong, { force: true });
    }
  });
});
