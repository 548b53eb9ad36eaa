// The language registry: the built-in definitions (./languages/builtin.ts), optionally
// overridden or extended by a JSON file the operator points to (GAVEL_LANGUAGES), validated
// with TypeBox. Only languages whose toolchain answers its version command are offered.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { Type, type Static } from 'typebox';
import { Value } from 'typebox/value';
import { builtinLanguages } from './languages/builtin.js';
import { findEntryPoint, type EntryPoint } from './languages/entry-point.js';

export { builtinLanguages } from './languages/builtin.js';

const Argv = Type.Array(Type.String(), { minItems: 1 });

export const LanguageConfig = Type.Object({
  id: Type.String({ pattern: '^[a-z0-9_+-]{1,32}$', description: 'the value of "language" in requests' }),
  name: Type.String(),
  /** File name of the entry source; `{class}` becomes the stem the entry-point finder chose. */
  source: Type.String({ description: 'file name of the entry source in /box; {class} is the stem the entry point requires' }),
  extensions: Type.Optional(Type.Array(Type.String({ pattern: '^[A-Za-z0-9+_-]{1,16}$' }), { description: 'file extensions (no dot) of this language' })),
  /** argv of the compile step (run in /box); absent for languages with nothing to check. */
  compile: Type.Optional(Argv),
  /** argv of the run step; `{heapMb}` becomes the memory limit in MiB, `{main}` the entry class. */
  run: Argv,
  /** argv printing the version: the version string is its first output line (matching versionPattern, if set). */
  version: Argv,
  versionPattern: Type.Optional(Type.String({ description: 'regular expression the version line must match' })),
  /** How {class} and {main} are found in the entry source (JVM languages, Ada). */
  entryPoint: Type.Optional(Type.Union([Type.Literal('java'), Type.Literal('kotlin'), Type.Literal('scala'), Type.Literal('ada')])),
  /** Compile-step limits that differ from the server's (slow JVM compilers). */
  compileLimits: Type.Optional(Type.Object({
    timeMs: Type.Optional(Type.Integer({ minimum: 1 })),
    wallTimeMs: Type.Optional(Type.Integer({ minimum: 1 })),
    memoryBytes: Type.Optional(Type.Integer({ minimum: 1 })),
    processes: Type.Optional(Type.Integer({ minimum: 1 })),
  }, { additionalProperties: false })),
  /** Extra processes/threads the runtime needs on top of the submission's limit (JVM, Node). */
  extraProcesses: Type.Optional(Type.Integer({ minimum: 0 })),
  /** Memory the runtime needs beyond the program's own limit (JVM metaspace, V8 baseline). */
  extraMemoryBytes: Type.Optional(Type.Integer({ minimum: 0 })),
  /** stderr texts that mean the runtime ran out of its heap: an MLE, not an RE. */
  outOfMemory: Type.Optional(Type.Union([Type.String(), Type.Array(Type.String())])),
  /** Host paths outside /usr the sandbox needs to see, read-only (a toolchain, its /etc config). */
  readOnlyPaths: Type.Optional(Type.Array(Type.String())),
  env: Type.Optional(Type.Record(Type.String(), Type.String())),
}, { additionalProperties: false });
export type LanguageConfig = Static<typeof LanguageConfig>;

export interface Language extends LanguageConfig {
  versionString: string;
}

/** Reads an operator's override file: entries replace built-ins with the same id or add new ones. */
export function loadLanguageFile(path: string): LanguageConfig[] {
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new Error(`language file ${path}: ${(e as Error).message}`);
  }
  const schema = Type.Array(LanguageConfig);
  if (!Value.Check(schema, data)) {
    const first = [...Value.Errors(schema, data)][0];
    throw new Error(`language file ${path}: ${first ? `${first.instancePath || '/'} ${first.message}` : 'invalid'}`);
  }
  for (const [i, l] of (data as LanguageConfig[]).entries()) {
    if (l.versionPattern !== undefined) {
      try {
        new RegExp(l.versionPattern);
      } catch (e) {
        throw new Error(`language file ${path}: /${i}/versionPattern: ${(e as Error).message}`);
      }
    }
  }
  return data as LanguageConfig[];
}

/** The version line of a toolchain, or null when it is not installed or does not answer. */
function detectVersion(cmd: string[], pattern?: string): Promise<string | null> {
  if (cmd[0].startsWith('/') && !existsSync(cmd[0])) return Promise.resolve(null);
  return new Promise((resolve) => {
    execFile(cmd[0], cmd.slice(1), { encoding: 'utf8', timeout: 30_000 }, (err, stdout, stderr) => {
      if (err) return resolve(null);
      const re = pattern ? new RegExp(pattern) : null;
      const line = `${stdout}\n${stderr}`.split('\n').map((l) => l.trim()).find((l) => l && (!re || re.test(l)));
      resolve(line ?? null);
    });
  });
}

/** The languages this host can offer, in definition order, with their detected versions. */
export async function detectLanguages(overridePath?: string): Promise<Map<string, Language>> {
  const configs = new Map(builtinLanguages().map((l) => [l.id, l]));
  if (overridePath) for (const l of loadLanguageFile(overridePath)) configs.set(l.id, l);
  // Probes run at once, each distinct command once (gcc --version serves four C ids).
  const probes = new Map<string, Promise<string | null>>();
  const versions = await Promise.all([...configs.values()].map((l) => {
    const key = JSON.stringify([l.version, l.versionPattern]);
    if (!probes.has(key)) probes.set(key, detectVersion(l.version, l.versionPattern));
    return probes.get(key)!;
  }));
  const out = new Map<string, Language>();
  [...configs.values()].forEach((l, i) => {
    const v = versions[i];
    if (v) out.set(l.id, { ...l, versionString: v });
  });
  return out;
}

/**
 * The variables of a language's command templates for one entry source: {class} (the
 * stem the file must have) and {main} (what to run). A source whose entry point cannot
 * be found gives the compile error to report instead.
 */
export function entryVariables(lang: LanguageConfig, entrySource: string): { vars: Record<string, string>; problem?: string } {
  const kind = lang.entryPoint ?? (lang.source.includes('{class}') ? 'java' : undefined);
  if (!kind) return { vars: { class: 'main', main: 'main' } };
  const e: EntryPoint = findEntryPoint(kind, entrySource);
  if (!e.ok) return { vars: { class: 'main', main: 'main' }, problem: e.message };
  return { vars: { class: e.file, main: e.main } };
}

/** The stderr texts of a language that mean its runtime ran out of memory. */
export function outOfMemoryTexts(lang: LanguageConfig): string[] {
  return lang.outOfMemory === undefined ? [] : Array.isArray(lang.outOfMemory) ? lang.outOfMemory : [lang.outOfMemory];
}

export function expand(argv: string[], vars: Record<string, string>): string[] {
  return argv.map((a) => a.replace(/\{(\w+)\}/g, (m, k: string) => vars[k] ?? m));
}
