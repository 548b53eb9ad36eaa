// Reading the package's YAML and INI files with errors that name the file, the line and the
// key, since a problem setter has to find and fix them by hand.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { parseDocument } from 'yaml';
import { badEntry, ProblemError } from './errors.js';

const MAX_CONFIG_BYTES = 1 << 20;

export type YamlMap = Record<string, unknown>;

function readSmall(file: string, entry: string): string | undefined {
  if (!existsSync(file)) return undefined;
  const st = statSync(file);
  if (!st.isFile()) throw badEntry('bad_config', entry, 'is not a file');
  if (st.size > MAX_CONFIG_BYTES) throw badEntry('bad_config', entry, `is larger than ${MAX_CONFIG_BYTES} bytes`);
  return readFileSync(file, 'utf8');
}

/** A YAML mapping from `file` (shown as `entry`); undefined when the file is absent, {} when empty. */
export function readYaml(file: string, entry: string): YamlMap | undefined {
  const text = readSmall(file, entry);
  if (text === undefined) return undefined;
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  const err = doc.errors[0];
  if (err) {
    const line = err.linePos?.[0];
    throw new ProblemError(400, 'bad_yaml', `${entry}${line ? ` line ${line.line}, column ${line.col}` : ''}: ${err.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '')}`, entry);
  }
  const data = doc.toJS({ maxAliasCount: 100 }) as unknown;
  if (data === null || data === undefined) return {};
  if (typeof data !== 'object' || Array.isArray(data)) throw badEntry('bad_yaml', entry, 'must be a mapping of keys to values');
  return data as YamlMap;
}

/** `key = value` lines of domjudge-problem.ini (values may be quoted). */
export function readIni(file: string, entry: string): Record<string, string> | undefined {
  const text = readSmall(file, entry);
  if (text === undefined) return undefined;
  const out: Record<string, string> = {};
  text.split(/\r?\n/).forEach((line, i) => {
    const t = line.trim();
    if (!t || t.startsWith(';') || t.startsWith('#') || t.startsWith('[')) return;
    const m = /^([A-Za-z0-9_.-]+)\s*=\s*(.*)$/.exec(t);
    if (!m) throw new ProblemError(400, 'bad_config', `${entry} line ${i + 1}: expected "key = value"`, entry);
    out[m[1].toLowerCase()] = m[2].trim().replace(/^(['"])(.*)\1$/, '$2');
  });
  return out;
}

/** Typed access to one YAML mapping, with errors naming `entry` and the key path. */
export class Fields {
  constructor(private map: YamlMap, private entry: string, private prefix = '') {}

  private bad(key: string, want: string): ProblemError {
    return badEntry('bad_config', this.entry, `${this.prefix}${key} must be ${want}, got ${JSON.stringify(this.map[key])?.slice(0, 80)}`);
  }

  has(key: string): boolean {
    return this.map[key] !== undefined && this.map[key] !== null;
  }

  raw(key: string): unknown {
    return this.map[key];
  }

  string(key: string): string | undefined {
    const v = this.map[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v === 'number' || typeof v === 'boolean') return String(v);
    if (typeof v !== 'string') throw this.bad(key, 'a string');
    return v;
  }

  number(key: string, min = 0): number | undefined {
    const v = this.map[key];
    if (v === undefined || v === null) return undefined;
    const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isFinite(n) || n < min) throw this.bad(key, `a number >= ${min}`);
    return n;
  }

  bool(key: string): boolean | undefined {
    const v = this.map[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'boolean') throw this.bad(key, 'true or false');
    return v;
  }

  /** A list of strings, or one string split on whitespace (the legacy flag format). */
  words(key: string): string[] | undefined {
    const v = this.map[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v === 'string') return v.split(/\s+/).filter(Boolean);
    if (Array.isArray(v) && v.every((x) => typeof x === 'string' || typeof x === 'number')) return v.map(String);
    throw this.bad(key, 'a string or a list of strings');
  }

  sub(key: string): Fields {
    const v = this.map[key];
    if (v === undefined || v === null) return new Fields({}, this.entry, `${this.prefix}${key}.`);
    if (typeof v !== 'object' || Array.isArray(v)) throw this.bad(key, 'a mapping');
    return new Fields(v as YamlMap, this.entry, `${this.prefix}${key}.`);
  }
}
