// Lockstep comparison of two byte streams, reporting where they first differ in terms a person
// can act on (line / token number and an excerpt of both sides). The exact, lines and tokens
// checkers are all this comparison applied to differently normalized streams.
import { CONTEXT_BYTES, printable } from './bytes.js';
import type { ByteSource } from './source.js';
import type { CheckResult } from './types.js';

/** What follows the first difference on one side, up to the end of its line/token. */
interface Tail {
  bytes: Buffer;
  /** Why the excerpt stopped: at a separator, at the end of the stream, or because it was cut. */
  end: 'sep' | 'eof' | 'more';
}

export interface CompareStyle {
  /** The byte that ends a unit: '\n' for lines, ' ' for normalized tokens. */
  sep: number;
  /** "line" or "token". */
  unit: string;
  /** Byte-exact reporting: the separator shows up in excerpts and the byte offset is given. */
  exact?: boolean;
}

class Cursor {
  chunk: Buffer | null = null;
  pos = 0;
  private ended = false;

  constructor(private readonly src: ByteSource) {}

  /** True when chunk[pos] is the next byte; false at end of stream. */
  async ready(): Promise<boolean> {
    while (this.chunk === null || this.pos >= this.chunk.length) {
      if (this.ended) return false;
      this.chunk = await this.src.next();
      this.pos = 0;
      if (this.chunk === null) {
        this.ended = true;
        return false;
      }
    }
    return true;
  }

  async tail(sep: number, includeSep: boolean): Promise<Tail> {
    const out = Buffer.alloc(CONTEXT_BYTES);
    let n = 0;
    while (n < CONTEXT_BYTES) {
      if (!(await this.ready())) return { bytes: out.subarray(0, n), end: 'eof' };
      const c = this.chunk![this.pos];
      if (c === sep) {
        if (includeSep) {
          out[n++] = c;
          this.pos++;
        }
        return { bytes: out.subarray(0, n), end: 'sep' };
      }
      out[n++] = c;
      this.pos++;
    }
    if (!(await this.ready())) return { bytes: out, end: 'eof' };
    return { bytes: out, end: this.chunk![this.pos] === sep ? 'sep' : 'more' };
  }
}

/**
 * Compares `output` with `expected`. Memory is one chunk per side plus a fixed excerpt buffer,
 * however long the streams or their lines are.
 */
export async function compareStreams(output: ByteSource, expected: ByteSource, style: CompareStyle): Promise<CheckResult> {
  const { sep } = style;
  const o = new Cursor(output);
  const e = new Cursor(expected);
  let unit = 1;
  let column = 1;
  let offset = 0;
  // The current unit's last CONTEXT_BYTES bytes before the cursors: identical on both sides.
  const ctx = Buffer.alloc(CONTEXT_BYTES);
  let ctxLen = 0;
  let ctxCut = false;

  const account = (buf: Buffer, from: number, to: number) => {
    let last = -1;
    let seps = 0;
    for (let i = from; i < to; i++) {
      if (buf[i] === sep) {
        seps++;
        last = i;
      }
    }
    if (seps > 0) {
      unit += seps;
      column = to - last;
      from = last + 1;
      ctxLen = 0;
      ctxCut = false;
    } else {
      column += to - from;
    }
    const len = to - from;
    if (len >= CONTEXT_BYTES) {
      buf.copy(ctx, 0, to - CONTEXT_BYTES, to);
      ctxCut ||= len > CONTEXT_BYTES || ctxLen > 0;
      ctxLen = CONTEXT_BYTES;
    } else if (len > 0) {
      const drop = Math.max(0, ctxLen + len - CONTEXT_BYTES);
      if (drop > 0) {
        ctx.copy(ctx, 0, drop, ctxLen);
        ctxLen -= drop;
        ctxCut = true;
      }
      buf.copy(ctx, ctxLen, from, to);
      ctxLen += len;
    }
  };

  for (;;) {
    const haveO = await o.ready();
    const haveE = await e.ready();
    if (!haveO || !haveE) {
      if (!haveO && !haveE) return { ok: true };
      break;
    }
    const oc = o.chunk!;
    const ec = e.chunk!;
    const n = Math.min(oc.length - o.pos, ec.length - e.pos);
    let k = n;
    if (oc.compare(ec, e.pos, e.pos + n, o.pos, o.pos + n) !== 0) {
      k = 0;
      while (oc[o.pos + k] === ec[e.pos + k]) k++;
    }
    account(oc, o.pos, o.pos + k);
    o.pos += k;
    e.pos += k;
    offset += k;
    if (k < n) break;
  }

  const before = Buffer.from(ctx.subarray(0, ctxLen));
  const tailO = await o.tail(sep, style.exact === true);
  const tailE = await e.tail(sep, style.exact === true);

  if (style.exact) {
    const show = (t: Tail) => {
      const text = `'${ctxCut ? '…' : ''}${printable(before)}${printable(t.bytes)}${t.end === 'more' ? '…' : ''}'`;
      return t.end === 'eof' && t.bytes.length === 0 ? `${before.length ? `${text} then ` : ''}end of file` : text;
    };
    return { ok: false, message: `byte ${offset + 1} (line ${unit}, column ${column}): expected ${show(tailE)}, found ${show(tailO)}` };
  }

  // One side ended exactly where the other has a separator: after an identical last unit, the
  // other has a whole extra unit, so name that one. (At offset 0 there is no identical unit
  // before: the shorter side is empty and the longer one's first unit is itself the extra one.)
  const atEof = (t: Tail) => t.end === 'eof' && t.bytes.length === 0;
  const atSep = (t: Tail) => t.end === 'sep' && t.bytes.length === 0;
  if (offset > 0 && ((atEof(tailO) && atSep(tailE)) || (atEof(tailE) && atSep(tailO)))) {
    const longer = atEof(tailO) ? e : o;
    longer.pos++; // past the separator, which tail() peeked but did not take
    const next = await longer.tail(sep, false);
    const text = `'${printable(next.bytes)}${next.end === 'more' ? '…' : ''}'`;
    const where = `${style.unit} ${unit + 1}`;
    return longer === e
      ? { ok: false, message: `${where}: expected ${text}, found end of output` }
      : { ok: false, message: `${where}: expected end of output, found ${text}` };
  }

  const show = (t: Tail) => {
    if (atEof(t) && before.length === 0) return 'end of output';
    return `'${ctxCut ? '…' : ''}${printable(before)}${printable(t.bytes)}${t.end === 'more' ? '…' : ''}'`;
  };
  const long = ctxCut || tailO.end === 'more' || tailE.end === 'more';
  const where = long ? `${style.unit} ${unit}, column ${column}` : `${style.unit} ${unit}`;
  return { ok: false, message: `${where}: expected ${show(tailE)}, found ${show(tailO)}` };
}
