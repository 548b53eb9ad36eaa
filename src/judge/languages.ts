// The language registry: built-in definitions, optionally overridden by a JSON file the
// operator points to (GAVEL_LANGUAGES), validated with TypeBox. Only languages whose
// toolchain answers its version command at start are offered.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { Type, type Static } from 'typebox';
import { Value } from 'typebox/value';

export const LanguageConfig = Type.Object({
  id: Type.String({ pattern: '^[a-z0-9_+-]{1,32}$' }),
  name: Type.String(),
  /** File name of the entry source; `{class}` is replaced by the detected public class (Java). */
  source: Type.String(),
  /** argv of the compile step (run in /box); absent for interpreted languages without a check. */
  compile: Type.Optional(Type.Array(Type.String(), { minItems: 1 })),
  /** argv of the run step; `{heapMb}` becomes the heap size for runtimes that need a flag. */
  run: Type.Array(Type.String(), { minItems: 1 }),
  /** argv printing the version; its first non-empty output line is the version string. */
  version: Type.Array(Type.String(), { minItems: 1 }),
  /** Extra processes/threads the runtime needs on top of the submission's limit (JVM, Node). */
  extraProcesses: Type.Optional(Type.Integer({ minimum: 0 })),
  /** Memory the runtime needs beyond the program's own limit (JVM metaspace, V8 baseline). */
  extraMemoryBytes: Type.Optional(Type.Integer({ minimum: 0 })),
  /** stderr text that means the runtime ran out of its heap: an MLE, not an RE. */
  outOfMemory: Type.Optional(Type.String()),
  /** Host paths (toolchains outside /usr) the sandbox needs to see, read-only. */
  readOnlyPaths: Type.Optional(Type.Array(Type.String())),
  env: Type.Optional(Type.Record(Type.String(), Type.String())),
}, { additionalProperties: false });
export type LanguageConfig = Static<typeof LanguageConfig>;

export interface Language extends LanguageConfig {
  versionString: string;
}

function rustSysroot(): string | null {
  const r = spawnSync('rustc', ['--print', 'sysroot'], { encoding: 'utf8', timeout: 10_000 });
  return r.status === 0 ? r.stdout.trim() : null;
}

/** Built-in definitions; toolchains outside /usr are resolved on this host. */
export function builtinLanguages(): LanguageConfig[] {
  const langs: LanguageConfig[] = [
    {
      id: 'c', name: 'C (GCC, C17)', source: 'main.c',
      compile: ['/usr/bin/gcc', '-std=c17', '-O2', '-pipe', '-o', 'main', 'main.c', '-lm'],
      run: ['./main'], version: ['/usr/bin/gcc', '--version'],
    },
    {
      id: 'cpp', name: 'C++ (G++, C++17)', source: 'main.cpp',
      compile: ['/usr/bin/g++', '-std=c++17', '-O2', '-pipe', '-o', 'main', 'main.cpp'],
      run: ['./main'], version: ['/usr/bin/g++', '--version'],
    },
    {
      id: 'python3', name: 'Python 3', source: 'main.py',
      // Compiling to bytecode at compile time turns a syntax error into a CE.
      compile: ['/usr/bin/python3', '-c', 'import py_compile,sys; py_compile.compile(sys.argv[1], doraise=True)', 'main.py'],
      run: ['/usr/bin/python3', 'main.py'], version: ['/usr/bin/python3', '--version'],
      outOfMemory: 'MemoryError', extraMemoryBytes: 0,
    },
    {
      id: 'javascript', name: 'JavaScript (Node.js)', source: 'main.js',
      compile: ['/usr/bin/node', '--check', 'main.js'],
      run: ['/usr/bin/node', '--max-old-space-size={heapMb}', '--stack-size=65500', 'main.js'],
      version: ['/usr/bin/node', '--version'],
      // V8 starts worker threads and maps ~40 MB before running a line of the program.
      extraProcesses: 16, extraMemoryBytes: 64 << 20, outOfMemory: 'JavaScript heap out of memory',
    },
    {
      id: 'java', name: 'Java (OpenJDK)', source: '{class}.java',
      compile: ['/usr/bin/javac', '-J-Xmx512m', '-J-XX:+UseSerialGC', '-J-XX:TieredStopAtLevel=1', '-encoding', 'UTF-8', '-d', '.', '{class}.java'],
      run: ['/usr/bin/java', '-Xmx{heapMb}m', '-Xss64m', '-XX:+UseSerialGC', '-XX:ActiveProcessorCount=1', '-XX:TieredStopAtLevel=1', '{class}'],
      version: ['/usr/bin/java', '-version'],
      // The JVM's own threads and its non-heap memory (metaspace, code cache, stacks).
      extraProcesses: 64, extraMemoryBytes: 128 << 20, outOfMemory: 'java.lang.OutOfMemoryError',
    },
    {
      id: 'go', name: 'Go', source: 'main.go',
      compile: ['/usr/bin/go', 'build', '-o', 'main', 'main.go'],
      run: ['./main'], version: ['/usr/bin/go', 'version'], extraProcesses: 32,
      env: { GOCACHE: '/tmp/gocache', GOPATH: '/tmp/go', GO111MODULE: 'off' },
    },
    {
      id: 'kotlin', name: 'Kotlin', source: 'main.kt',
      compile: ['/usr/bin/kotlinc', 'main.kt', '-include-runtime', '-d', 'main.jar'],
      run: ['/usr/bin/java', '-Xmx{heapMb}m', '-Xss64m', '-XX:+UseSerialGC', '-jar', 'main.jar'],
      version: ['/usr/bin/kotlinc', '-version'], extraProcesses: 64, extraMemoryBytes: 128 << 20,
      outOfMemory: 'java.lang.OutOfMemoryError',
    },
  ];
  const sysroot = rustSysroot();
  if (sysroot) {
    langs.push({
      id: 'rust', name: 'Rust', source: 'main.rs',
      compile: [`${sysroot}/bin/rustc`, '-O', '--edition', '2021', '-o', 'main', 'main.rs'],
      run: ['./main'], version: [`${sysroot}/bin/rustc`, '--version'],
      readOnlyPaths: [sysroot], extraProcesses: 16,
    });
  }
  return langs;
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
  return data as LanguageConfig[];
}

function detectVersion(cmd: string[]): string | null {
  if (!existsSync(cmd[0]) && cmd[0].startsWith('/')) return null;
  const r = spawnSync(cmd[0], cmd.slice(1), { encoding: 'utf8', timeout: 20_000 });
  if (r.status !== 0) return null;
  const line = `${r.stdout}\n${r.stderr}`.split('\n').map((l) => l.trim()).find(Boolean);
  return line ?? null;
}

/** The languages this host can offer, in definition order, with their detected versions. */
export function detectLanguages(overridePath?: string): Map<string, Language> {
  const configs = new Map(builtinLanguages().map((l) => [l.id, l]));
  if (overridePath) for (const l of loadLanguageFile(overridePath)) configs.set(l.id, l);
  const out = new Map<string, Language>();
  for (const l of configs.values()) {
    const v = detectVersion(l.version);
    if (v) out.set(l.id, { ...l, versionString: v });
  }
  return out;
}

/** Java wants the file named after its public class; find it, defaulting to Main. */
export function javaClassName(source: string): string {
  const m = /public\s+(?:final\s+|abstract\s+)*class\s+([A-Za-z_$][A-Za-z0-9_$]*)/.exec(source);
  return m ? m[1] : 'Main';
}

export function expand(argv: string[], vars: Record<string, string>): string[] {
  return argv.map((a) => a.replace(/\{(\w+)\}/g, (m, k: string) => vars[k] ?? m));
}
