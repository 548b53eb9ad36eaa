// Byte classes and how bytes are shown in checker messages.

/** Token separators: space, \t, \n, \v, \f, \r (what C's isspace() accepts in the "C" locale). */
export const IS_SPACE = new Uint8Array(256);
for (const c of [0x20, 0x09, 0x0a, 0x0b, 0x0c, 0x0d]) IS_SPACE[c] = 1;

export const LF = 0x0a;
export const SPACE = 0x20;

/** How much of a line or token a message shows on each side of the first difference. */
export const CONTEXT_BYTES = 32;

/** Bytes as readable text: invalid UTF-8 becomes U+FFFD, control characters are escaped. */
export function printable(bytes: Buffer): string {
  return bytes.toString('utf8').replace(/[\x00-\x1f\x7f]/g, (ch) => {
    switch (ch) {
      case '\n': return '\\n';
      case '\r': return '\\r';
      case '\t': return '\\t';
      default: return `\\x${ch.charCodeAt(0).toString(16).padStart(2, '0')}`;
    }
  });
}

/** A token or line for a message, quoted, cut to a readable length. */
export function quote(bytes: Buffer, max = CONTEXT_BYTES * 2): string {
  return bytes.length > max ? `'${printable(bytes.subarray(0, max))}…'` : `'${printable(bytes)}'`;
}
