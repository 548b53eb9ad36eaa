// Small flag parsing shared by the gavel subcommands; bad input is a UsageError (exit 2).

export class UsageError extends Error {}

const SIZE_UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

/** "67108864", "64m", "512K", "1g" → bytes. */
export function parseSize(flag: string, v: string): number {
  const m = /^(\d+)([bkmg]?)i?b?$/i.exec(v.trim());
  if (!m) throw new UsageError(`${flag}: expected a size like 65536, 64m or 1g, got "${v}"`);
  const n = Number(m[1]) * SIZE_UNITS[m[2].toLowerCase()];
  if (!Number.isSafeInteger(n) || n <= 0) throw new UsageError(`${flag}: size out of range: "${v}"`);
  return n;
}

export function parseCount(flag: string, v: string, max = 1e9): number {
  if (!/^\d+$/.test(v)) throw new UsageError(`${flag}: expected a positive whole number, got "${v}"`);
  const n = Number(v);
  if (n < 1 || n > max) throw new UsageError(`${flag}: must be between 1 and ${max}, got ${n}`);
  return n;
}

export function parseNumber(flag: string, v: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n < 0) throw new UsageError(`${flag}: expected a non-negative number, got "${v}"`);
  return n;
}

export interface FlagSpec { [flag: string]: 'value' | 'bool' }

/** Splits argv into known flags and positionals; everything after "--" is positional. */
export function parseFlags(argv: string[], spec: FlagSpec): { flags: Map<string, string>; positional: string[]; rest: string[] } {
  const flags = new Map<string, string>();
  const positional: string[] = [];
  let rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      rest = argv.slice(i + 1);
      break;
    }
    if (a.startsWith('--')) {
      const [name, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
      const kind = spec[name];
      if (!kind) throw new UsageError(`unknown flag ${name}`);
      if (kind === 'bool') {
        flags.set(name, 'true');
      } else {
        const v = inline ?? argv[++i];
        if (v === undefined) throw new UsageError(`${name} needs a value`);
        flags.set(name, v);
      }
    } else {
      positional.push(a);
    }
  }
  return { flags, positional, rest };
}
