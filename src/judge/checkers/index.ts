// The built-in output checkers. All of them stream both files side by side in 64 KiB
// chunks, so a 100 MB output is compared without being held in memory.
import { chunks, lines, PieceTooLong, tokens } from './reader.js';
import { floatsMatch, parseNumber } from './float.js';

export interface CheckResult { ok: boolean; message?: string }
export type BuiltinChecker =
  | { kind: 'exact' }
  | { kind: 'lines' }
  | { kind: 'tokens' }
  | { kind: 'float'; absError?: number; relError?: number };

const show = (s: string) => JSON.stringify(s.length > 40 ? s.slice(0, 40) + '…' : s);

async function exact(out: string, exp: string): Promise<CheckResult> {
  const a = chunks(out)[Symbol.asyncIterator]();
  const b = chunks(exp)[Symbol.asyncIterator]();
  let ba: Buffer = Buffer.alloc(0);
  let bb: Buffer = Buffer.alloc(0);
  let offset = 0;
  let doneA = false;
  let doneB = false;
  try {
    return await compareChunks();
  } finally {
    await Promise.all([a.return?.(undefined), b.return?.(undefined)]);
  }
  async function compareChunks(): Promise<CheckResult> {
  for (;;) {
    if (ba.length === 0 && !doneA) {
      const r = await a.next();
      if (r.done) doneA = true;
      else ba = r.value;
    }
    if (bb.length === 0 && !doneB) {
      const r = await b.next();
      if (r.done) doneB = true;
      else bb = r.value;
    }
    if (ba.length === 0 && bb.length === 0 && doneA && doneB) return { ok: true };
    if (ba.length === 0 && doneA) return { ok: false, message: `output ends at byte ${offset}, the answer is longer` };
    if (bb.length === 0 && doneB) return { ok: false, message: `output is longer than the answer (${offset} bytes)` };
    const n = Math.min(ba.length, bb.length);
    for (let i = 0; i < n; i++) {
      if (ba[i] !== bb[i]) return { ok: false, message: `byte ${offset + i} differs` };
    }
    offset += n;
    ba = ba.subarray(n);
    bb = bb.subarray(n);
  }
  }
}

/** Lines with trailing spaces/tabs/\r dropped; blank lines at the end of either file ignored. */
async function linewise(out: string, exp: string): Promise<CheckResult> {
  const trim = (s: string) => s.replace(/[ \t\r]+$/, '');
  const a = lines(out)[Symbol.asyncIterator]();
  const b = lines(exp)[Symbol.asyncIterator]();
  let no = 0;
  // Blank lines seen but not yet matched: they only matter if something follows them.
  let blankA = 0;
  let blankB = 0;
  const next = async (it: AsyncIterator<string>, side: 'a' | 'b'): Promise<string | null> => {
    for (;;) {
      const r = await it.next();
      if (r.done) return null;
      const line = trim(r.value);
      if (line !== '') return line;
      if (side === 'a') blankA++;
      else blankB++;
    }
  };
  try {
    return await compareLines();
  } finally {
    // Closing the generators closes their files when we stop early.
    await Promise.all([a.return?.(undefined), b.return?.(undefined)]);
  }
  async function compareLines(): Promise<CheckResult> {
  for (;;) {
    const x = await next(a, 'a');
    const y = await next(b, 'b');
    if (x === null && y === null) return { ok: true };
    no += 1 + Math.min(blankA, blankB);
    if (blankA !== blankB) return { ok: false, message: `line ${no}: blank lines differ` };
    blankA = blankB = 0;
    if (x === null) return { ok: false, message: `line ${no}: output ended, expected ${show(y!)}` };
    if (y === null) return { ok: false, message: `line ${no}: extra output ${show(x)}` };
    if (x !== y) return { ok: false, message: `line ${no}: expected ${show(y)}, found ${show(x)}` };
  }
  }
}

async function tokenwise(out: string, exp: string, same: (x: string, y: string) => string | null): Promise<CheckResult> {
  const a = tokens(out)[Symbol.asyncIterator]();
  const b = tokens(exp)[Symbol.asyncIterator]();
  try {
    return await compareTokens();
  } finally {
    await Promise.all([a.return?.(undefined), b.return?.(undefined)]);
  }
  async function compareTokens(): Promise<CheckResult> {
  for (let i = 1; ; i++) {
    const [x, y] = await Promise.all([a.next(), b.next()]);
    if (x.done && y.done) return { ok: true };
    if (x.done) return { ok: false, message: `token ${i}: output ended, expected ${show(y.value as string)}` };
    if (y.done) return { ok: false, message: `token ${i}: extra output ${show(x.value)}` };
    const why = same(x.value, y.value);
    if (why !== null) return { ok: false, message: `token ${i}: ${why}` };
  }
  }
}

export async function checkFiles(checker: BuiltinChecker, outputPath: string, expectedPath: string): Promise<CheckResult> {
  try {
    switch (checker.kind) {
      case 'exact': return await exact(outputPath, expectedPath);
      case 'lines': return await linewise(outputPath, expectedPath);
      case 'tokens':
        return await tokenwise(outputPath, expectedPath, (x, y) => (x === y ? null : `expected ${show(y)}, found ${show(x)}`));
      case 'float': {
        const abs = checker.absError ?? 1e-6;
        const rel = checker.relError ?? 1e-6;
        return await tokenwise(outputPath, expectedPath, (x, y) => {
          const ey = parseNumber(y);
          if (ey === null) return x === y ? null : `expected ${show(y)}, found ${show(x)}`;
          const ex = parseNumber(x);
          if (ex === null) return `expected the number ${show(y)}, found ${show(x)}`;
          return floatsMatch(ex, ey, abs, rel) ? null : `expected ${y}, found ${x} (error ${Math.abs(ex - ey)})`;
        });
      }
    }
  } catch (e) {
    if (e instanceof PieceTooLong) return { ok: false, message: e.message };
    throw e;
  }
}
