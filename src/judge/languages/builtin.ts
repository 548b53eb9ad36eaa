// The built-in languages: Debian's packaged toolchains, all under /usr (the only system
// tree a sandbox sees). Commands run in /box; {class} is the source file's stem the
// compiler requires, {main} the entry class to run, {heapMb} the memory limit in MiB for
// runtimes that manage their own heap. A language is offered only if its version command
// succeeds on this host (see ../languages.ts).
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import type { LanguageConfig } from '../languages.js';

const MiB = 1 << 20;

/** The first -std value the compiler accepts, e.g. c23 on gcc 14 but c2x on gcc 12. */
function firstStd(compiler: string, lang: 'c' | 'c++', stds: string[]): string {
  for (const s of stds) {
    const r = spawnSync(compiler, [`-std=${s}`, '-fsyntax-only', '-x', lang, '/dev/null'], { timeout: 10_000 });
    if (r.status === 0) return s;
  }
  return stds[stds.length - 1];
}

/** The directory of Free Pascal's units: fpc runs with -n (no /etc/fpc.cfg, which the sandbox does not show). */
function fpcUnits(): string | null {
  const base = '/usr/lib/x86_64-linux-gnu/fpc';
  if (!existsSync(base)) return null;
  const version = readdirSync(base).filter((v) => /^\d/.test(v)).sort().pop();
  return version ? `${base}/${version}/units/x86_64-linux` : null;
}

const existing = (paths: string[]) => paths.filter((p) => existsSync(p));

function c(id: string, std: string, label: string): LanguageConfig {
  return {
    id, name: `C (GCC, ${label})`, source: 'main.c', extensions: ['c'],
    compile: ['/usr/bin/gcc', `-std=${std}`, '-O2', '-pipe', '-o', 'main', 'main.c', '-lm'],
    run: ['./main'], version: ['/usr/bin/gcc', '--version'],
  };
}

function cpp(id: string, std: string, label: string): LanguageConfig {
  return {
    id, name: `C++ (G++, ${label})`, source: 'main.cpp', extensions: ['cpp', 'cc', 'cxx', 'c++'],
    compile: ['/usr/bin/g++', `-std=${std}`, '-O2', '-pipe', '-o', 'main', 'main.cpp', '-lm'],
    // Threads of std::thread / OpenMP programs count against the process limit, which is
    // large enough by default (see DEFAULT_LIMITS.processes).
    run: ['./main'], version: ['/usr/bin/g++', '--version'],
  };
}

/** JVM flags of the run: heap = the memory limit, a deep stack for recursion, one GC thread. */
const jvm = ['-Xmx{heapMb}m', '-Xss64m', '-XX:+UseSerialGC', '-XX:ActiveProcessorCount=1'];
/** The JVM's own threads and its non-heap memory (metaspace, code cache, thread stacks). */
const jvmAllowance = { extraProcesses: 64, extraMemoryBytes: 128 * MiB, outOfMemory: ['java.lang.OutOfMemoryError'] };
/** JVM compilers start slowly and load large jars. */
const slowCompiler = { timeMs: 40_000, wallTimeMs: 90_000 };

export function builtinLanguages(): LanguageConfig[] {
  const c23 = firstStd('/usr/bin/gcc', 'c', ['c23', 'c2x']);
  const cpp23 = firstStd('/usr/bin/g++', 'c++', ['c++23', 'c++2b']);
  const units = fpcUnits();
  return [
    c('c', 'gnu17', 'GNU C17'),
    c('c11', 'c11', 'C11'),
    c('c17', 'c17', 'C17'),
    // gcc 12 knows C23 only as the draft -std=c2x; later gccs accept -std=c23.
    c('c23', c23, c23 === 'c23' ? 'C23' : 'C23 draft, -std=c2x'),
    cpp('cpp', 'gnu++20', 'GNU C++20'),
    cpp('cpp14', 'c++14', 'C++14'),
    cpp('cpp17', 'c++17', 'C++17'),
    cpp('cpp20', 'c++20', 'C++20'),
    cpp('cpp23', cpp23, cpp23 === 'c++23' ? 'C++23' : 'C++23 draft, -std=c++2b'),
    {
      id: 'python3', name: 'Python 3 (CPython)', source: 'main.py', extensions: ['py'],
      // Byte-compiling at compile time turns a syntax error into a CE.
      compile: ['/usr/bin/python3', '-c', 'import py_compile,sys; py_compile.compile(sys.argv[1], doraise=True)', 'main.py'],
      run: ['/usr/bin/python3', 'main.py'], version: ['/usr/bin/python3', '--version'],
      outOfMemory: ['MemoryError'],
    },
    {
      id: 'pypy3', name: 'Python 3 (PyPy)', source: 'main.py', extensions: ['py'],
      compile: ['/usr/bin/pypy3', '-c', 'import py_compile,sys; py_compile.compile(sys.argv[1], doraise=True)', 'main.py'],
      run: ['/usr/bin/pypy3', 'main.py'], version: ['/usr/bin/pypy3', '--version'],
      // The JIT's code and the interpreter image come on top of the program's objects.
      extraMemoryBytes: 64 * MiB, outOfMemory: ['MemoryError'],
    },
    {
      id: 'java', name: 'Java (OpenJDK)', source: '{class}.java', extensions: ['java'], entryPoint: 'java',
      compile: ['/usr/bin/javac', '-J-Xmx512m', '-J-XX:+UseSerialGC', '-J-XX:TieredStopAtLevel=1', '-encoding', 'UTF-8', '-d', '.', '{class}.java'],
      run: ['/usr/bin/java', ...jvm, '-cp', '.', '{main}'],
      version: ['/usr/bin/java', '-version'], ...jvmAllowance,
    },
    {
      id: 'kotlin', name: 'Kotlin (JVM)', source: 'main.kt', extensions: ['kt'], entryPoint: 'kotlin',
      compile: ['/usr/bin/kotlinc', '-nowarn', 'main.kt', '-include-runtime', '-d', 'main.jar'],
      run: ['/usr/bin/java', ...jvm, '-cp', 'main.jar', '{main}'],
      // Debian's kotlinc calls itself "1.3-SNAPSHOT"; the package knows the real release.
      version: ['/bin/sh', '-c', '/usr/bin/kotlinc -version >/dev/null 2>&1 && dpkg-query -W -f "kotlinc-jvm \\${Version}\\n" kotlin'],
      ...jvmAllowance, compileLimits: slowCompiler, env: { JAVA_OPTS: '-Xss64m -XX:+UseSerialGC -XX:TieredStopAtLevel=1' },
    },
    {
      id: 'scala', name: 'Scala', source: 'main.scala', extensions: ['scala'], entryPoint: 'scala',
      compile: ['/usr/bin/scalac', '-nowarn', '-d', '.', 'main.scala'],
      run: ['/usr/bin/java', ...jvm, '-cp', `${scalaLibrary()}:.`, '{main}'],
      version: ['/usr/bin/scala', '-version'], versionPattern: 'version',
      ...jvmAllowance, compileLimits: slowCompiler, env: { JAVA_OPTS: '-Xss64m -XX:+UseSerialGC -XX:TieredStopAtLevel=1' },
    },
    {
      id: 'javascript', name: 'JavaScript (Node.js)', source: 'main.js', extensions: ['js', 'mjs', 'cjs'],
      compile: ['/usr/bin/node', '--check', 'main.js'],
      run: ['/usr/bin/node', '--max-old-space-size={heapMb}', '--stack-size=65500', 'main.js'],
      version: ['/usr/bin/node', '--version'],
      // V8 starts worker threads and maps ~40 MB before running a line of the program.
      extraProcesses: 16, extraMemoryBytes: 64 * MiB, outOfMemory: ['JavaScript heap out of memory'],
    },
    {
      id: 'go', name: 'Go', source: 'main.go', extensions: ['go'],
      compile: ['/usr/bin/go', 'build', '-o', 'main', 'main.go'],
      run: ['./main'], version: ['/usr/bin/go', 'version'],
      // The runtime's threads (GC workers, sysmon) on top of the program's own.
      extraProcesses: 32,
      env: { GOCACHE: '/tmp/gocache', GOPATH: '/tmp/go', GO111MODULE: 'off', CGO_ENABLED: '0' },
    },
    {
      id: 'rust', name: 'Rust', source: 'main.rs', extensions: ['rs'],
      compile: ['/usr/bin/rustc', '-O', '--edition', '2021', '-o', 'main', 'main.rs'],
      run: ['./main'], version: ['/usr/bin/rustc', '--version'],
      outOfMemory: ['memory allocation of'],
    },
    {
      id: 'csharp', name: 'C# (Mono)', source: 'main.cs', extensions: ['cs'],
      compile: ['/usr/bin/mcs', '-optimize+', '-r:System.Numerics.dll', '-out:main.exe', 'main.cs'],
      run: ['/usr/bin/mono', 'main.exe'], version: ['/usr/bin/mono', '--version'],
      // Mono reads its assembly map from /etc/mono; its GC and finalizer run as threads.
      readOnlyPaths: existing(['/etc/mono']), extraProcesses: 16, extraMemoryBytes: 32 * MiB,
      outOfMemory: ['OutOfMemoryException'],
    },
    {
      id: 'haskell', name: 'Haskell (GHC)', source: 'main.hs', extensions: ['hs'],
      compile: ['/usr/bin/ghc', '-O2', '-rtsopts', '-o', 'main', 'main.hs'],
      // The RTS's own heap limit (-M) = the memory limit, like the JVM's -Xmx: it stops with
      // "Heap exhausted" instead of the program thrashing its own code pages at the cgroup
      // limit until the CPU limit ends it. The RTS itself and its GC get the allowance.
      run: ['./main', '+RTS', '-M{heapMb}m', '-RTS'], version: ['/usr/bin/ghc', '--version'],
      extraMemoryBytes: 32 * MiB,
      // Debian keeps GHC's package database in /var/lib/ghc (/usr/lib/ghc/package.conf.d links there).
      readOnlyPaths: existing(['/var/lib/ghc']), compileLimits: slowCompiler, outOfMemory: ['Heap exhausted'],
    },
    {
      id: 'ocaml', name: 'OCaml', source: 'main.ml', extensions: ['ml'],
      compile: ['/usr/bin/ocamlopt', '-o', 'main', 'main.ml'],
      run: ['./main'], version: ['/usr/bin/ocamlopt', '-version'], versionPattern: '\\d',
      outOfMemory: ['Out_of_memory'],
    },
    {
      id: 'pascal', name: 'Pascal (Free Pascal)', source: 'main.pas', extensions: ['pas', 'pp', 'dpr'],
      compile: ['/usr/bin/fpc', '-n', '-O2', '-XS', '-Sgic', '-viwn', ...(units ? [`-Fu${units}/*`] : []), '-omain', 'main.pas'],
      run: ['./main'], version: ['/usr/bin/fpc', '-iW'],
      outOfMemory: ['Runtime error 203'],
    },
    {
      id: 'fortran', name: 'Fortran (GFortran)', source: 'main.f90', extensions: ['f90', 'f95', 'f03', 'f08', 'f'],
      compile: ['/usr/bin/gfortran', '-O2', '-pipe', '-o', 'main', 'main.f90'],
      run: ['./main'], version: ['/usr/bin/gfortran', '--version'],
      outOfMemory: ['Allocation would exceed memory limit', 'Cannot allocate memory'],
    },
    {
      id: 'ada', name: 'Ada (GNAT)', source: '{class}.adb', extensions: ['adb'], entryPoint: 'ada',
      compile: ['/usr/bin/gnatmake', '-q', '-O2', '-gnata', '{class}.adb', '-o', 'main'],
      run: ['./main'], version: ['/usr/bin/gnatmake', '--version'],
      outOfMemory: ['STORAGE_ERROR'],
    },
    {
      id: 'ruby', name: 'Ruby', source: 'main.rb', extensions: ['rb'],
      compile: ['/usr/bin/ruby', '-c', 'main.rb'],
      run: ['/usr/bin/ruby', 'main.rb'], version: ['/usr/bin/ruby', '--version'],
      // Ruby keeps a timer thread besides the program's own.
      extraProcesses: 4, outOfMemory: ['NoMemoryError', 'failed to allocate memory'],
    },
    {
      id: 'php', name: 'PHP', source: 'main.php', extensions: ['php'],
      compile: ['/usr/bin/php', '-l', 'main.php'],
      run: ['/usr/bin/php', '-d', 'memory_limit={heapMb}M', 'main.php'], version: ['/usr/bin/php', '--version'],
      // The CLI's php.ini and the extensions it loads (conf.d).
      readOnlyPaths: existing(['/etc/php']), outOfMemory: ['Allowed memory size of'],
    },
    {
      id: 'perl', name: 'Perl', source: 'main.pl', extensions: ['pl'],
      compile: ['/usr/bin/perl', '-c', 'main.pl'],
      run: ['/usr/bin/perl', 'main.pl'], version: ['/usr/bin/perl', '-v'],
      outOfMemory: ['Out of memory'],
    },
    {
      id: 'lua', name: 'Lua', source: 'main.lua', extensions: ['lua'],
      compile: ['/usr/bin/luac5.4', '-p', 'main.lua'],
      run: ['/usr/bin/lua5.4', 'main.lua'], version: ['/usr/bin/lua5.4', '-v'],
      outOfMemory: ['not enough memory'],
    },
    {
      id: 'bash', name: 'Bash', source: 'main.sh', extensions: ['sh', 'bash'],
      compile: ['/usr/bin/bash', '-n', 'main.sh'],
      run: ['/usr/bin/bash', 'main.sh'], version: ['/usr/bin/bash', '--version'],
      outOfMemory: ['cannot allocate'],
    },
  ];
}

function scalaLibrary(): string {
  const dir = existsSync('/usr/share/scala/lib') ? '/usr/share/scala/lib' : '/usr/share/scala-2.11/lib';
  return `${dir}/scala-library.jar`;
}
