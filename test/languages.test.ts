// Every built-in language on the real sandbox with its real toolchain. Each language gets
// one submission carrying all the behaviours (the fixture program picks one from its first
// input line), so a slow compiler (Kotlin, Scala, GHC) compiles once. A language whose
// toolchain is not installed is skipped with the reason.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { createJudge } from '../src/judge/index.js';
import { builtinLanguages } from '../src/judge/languages.js';
import type { Judge, JudgeEvent, JudgeResult, LanguageInfo, Submission } from '../src/judge/schema.js';
import { FIXTURES_DIR } from './helpers/sandbox.js';

const MiB = 1 << 20;
let judge: Judge;
let offered: Map<string, LanguageInfo>;
const ids = builtinLanguages().map((l) => l.id);


before(async () => {
  // With the README's GAVEL_LANGUAGES example: a language added without touching code.
  judge = await createJudge({
    poolSize: 2, name: `gavel-test-languages-${process.pid}`, uidBase: 64000,
    languagesFile: join(FIXTURES_DIR, 'gavel-languages.example.json'),
  });
  offered = new Map(judge.languages().map((l) => [l.id, l]));
});
after(async () => {
  await judge.close();
});

/** The fixture program of a language: test/fixtures/languages/<id>.<ext>; the C and C++
 *  standards share one, CPython and PyPy too. */
const fixtureDir = join(FIXTURES_DIR, 'languages');
const fixtures = new Map(readdirSync(fixtureDir).map((f) => [f.slice(0, f.indexOf('.')), readFileSync(join(fixtureDir, f), 'utf8')]));
const fixtureFor = (id: string) => fixtures.get(id) ?? fixtures.get(id === 'pypy3' ? 'python' : id.replace(/\d+$/, ''));

function installed(t: TestContext, id: string): boolean {
  if (offered.has(id)) return true;
  t.skip(`${id}: toolchain not installed on this host (scripts/deps.sh installs it)`);
  return false;
}

function judged(sub: Partial<Submission> & { language: string }, events?: JudgeEvent[]): Promise<JudgeResult> {
  return judge.judge({ tests: [{ input: '', expected: '' }], ...sub } as Submission, (e) => events?.push(e));
}

const detail = (r: JudgeResult) => JSON.stringify({ verdict: r.verdict, compile: r.compile, tests: r.tests }).slice(0, 3000);

// Big numbers (beyond 2^53, within 64 bits), tabs, blank lines and no final newline.
const AB_INPUT = 'ab\n  123456789012345678 \t\n\n\t-23456789012345678';
const AB_ANSWER = '100000000000000000\n';

/** A broken program per language: a type or syntax error its compile step (or syntax check) rejects. */
const BROKEN: Record<string, string> = {
  c: 'int main(void) { return undeclared; }\n',
  cpp: 'int main() { return undeclared; }\n',
  python3: 'def f(:\n    pass\n',
  pypy3: 'def f(:\n    pass\n',
  java: 'public class Main { public static void main(String[] a) { int x = ; } }\n',
  kotlin: 'fun main() { val x: Int = "text" }\n',
  scala: 'object Main { def main(a: Array[String]): Unit = { val x: Int = "text" } }\n',
  javascript: 'function (\n',
  go: 'package main\nfunc main() { x := 1 }\n',
  rust: 'fn main() { let x: i32 = "text"; }\n',
  csharp: 'class P { static void Main() { int x = "text"; } }\n',
  haskell: 'main = putStrLn 1\n',
  ocaml: 'let () = print_int "text"\n',
  pascal: 'begin writeln(undeclared) end.\n',
  fortran: 'program p\n  x = \nend program p\n',
  ada: 'procedure Main is begin Undeclared := 1; end Main;\n',
  ruby: 'def f(\n',
  php: '<?php function (\n',
  perl: 'sub {\n',
  lua: 'function (\n',
  bash: 'if then fi\n',
};
const brokenFor = (id: string) => BROKEN[id] ?? BROKEN[id.replace(/\d+$/, '')];

describe('every built-in language: A+B, WA, RE, TLE, MLE, version, CE', { concurrency: 3 }, () => {
  for (const id of ids) {
    test(id, async (t) => {
      if (!installed(t, id)) return;
      const source = fixtureFor(id);
      assert.ok(source, `no fixture program for ${id} in ${fixtureDir}`);
      const r = await judged({
        language: id, source,
        // A generous wall time: the CPU limit is the one under test, and the machine is shared.
        limits: { timeMs: 1000, wallTimeMs: 15_000, memoryBytes: 128 * MiB },
        tests: [
          { id: 'ab', input: AB_INPUT, expected: AB_ANSWER },
          { id: 'ab-small', input: 'ab\n1 2\n', expected: '3\n' },
          { id: 'wa', input: 'ab\n1 2\n', expected: '4\n' },
          { id: 're', input: 're\n', expected: '' },
          { id: 'tle', input: 'tle\n', expected: '' },
          { id: 'mle', input: 'mle\n', expected: '' },
          { id: 'ver', input: 'ver\n', expected: '' },
        ],
      });
      const by = Object.fromEntries(r.tests.map((x) => [x.id, x]));
      assert.equal(r.compile?.ok, true, detail(r));
      assert.equal(by.ab.verdict, 'AC', detail(r));
      assert.equal(by['ab-small'].verdict, 'AC', detail(r));
      assert.equal(by.wa.verdict, 'WA', detail(r));
      assert.equal(by.re.verdict, 'RE', detail(r));
      assert.equal(by.re.exitCode, 3, detail(r));
      assert.equal(by.tle.verdict, 'TLE', detail(r));
      assert.equal(by.mle.verdict, 'MLE', detail(r));
      const printed = (by.ver.stdout ?? '').trim();
      const version = offered.get(id)!.version;
      if (id === 'rust') {
        // A Rust program cannot ask for its compiler's version: compare with rustc itself.
        assert.equal(version, spawnSync('/usr/bin/rustc', ['--version'], { encoding: 'utf8' }).stdout.trim());
      } else {
        assert.ok(printed.length > 0 && version.includes(printed), `${id}: program says ${JSON.stringify(printed)}, /v1/languages says ${JSON.stringify(version)}`);
      }

      const broken = brokenFor(id);
      if (broken && offered.get(id)!.compile) {
        const ce = await judged({ language: id, source: broken });
        assert.equal(ce.verdict, 'CE', detail(ce));
        assert.ok(ce.compile && ce.compile.output.trim().length > 0, `${id}: a CE says why`);
      }
    });
  }
});

describe('a language added by the GAVEL_LANGUAGES file', () => {
  test('awk (the README example) judges A+B', async (t) => {
    if (!installed(t, 'awk')) return;
    const r = await judged({ language: 'awk', source: '{ for (i = 1; i <= NF; i++) s += $i } END { print s }\n', tests: [{ input: '40\n 2\n', expected: '42\n' }] });
    assert.equal(r.verdict, 'AC', detail(r));
  });
});

describe('GET /v1/languages data', () => {
  test('each offered language lists its extensions and commands', () => {
    for (const l of offered.values()) {
      assert.ok(l.extensions && l.extensions.length > 0, `${l.id} has extensions`);
      assert.ok(l.run && l.run.length > 0, `${l.id} has a run command`);
      assert.ok(l.version.length > 0);
    }
    if (offered.has('python3')) assert.equal(offered.get('python3')!.run![0], '/usr/bin/python3', 'CPython from Debian, not a shim on PATH');
    if (offered.has('rust')) assert.equal(offered.get('rust')!.compile![0], '/usr/bin/rustc', "Debian's rustc, not ~/.cargo");
    if (offered.has('c')) assert.ok(offered.get('c')!.compile!.includes('-std=gnu17'));
    if (offered.has('cpp')) assert.ok(offered.get('cpp')!.compile!.includes('-std=gnu++20'));
  });
});

/** Programs only one standard accepts: each checks the dialect it was compiled in. */
const STANDARDS: Record<string, string> = {
  c: '#include <stdio.h>\n#include <sys/stat.h>\n#if __STDC_VERSION__ != 201710L || defined(__STRICT_ANSI__)\n#error not GNU C17\n#endif\nint main(void) { typeof(S_IFCHR) m = S_IFCHR; printf("%d\\n", m != 0); return 0; }\n',
  c11: '#include <stdio.h>\n#if __STDC_VERSION__ != 201112L || !defined(__STRICT_ANSI__)\n#error not ISO C11\n#endif\nint main(void) { printf("%d\\n", _Generic(1, int: 1, default: 0)); return 0; }\n',
  c17: '#include <stdio.h>\n#if __STDC_VERSION__ != 201710L || !defined(__STRICT_ANSI__)\n#error not ISO C17\n#endif\nint main(void) { printf("%d\\n", 1); return 0; }\n',
  c23: '#include <stdio.h>\n#if __STDC_VERSION__ <= 201710L || !defined(__STRICT_ANSI__)\n#error not ISO C23\n#endif\n[[nodiscard]] static int one(void) { return 1; }\nint main(void) { printf("%d\\n", one()); return 0; }\n',
  cpp: '#include <iostream>\n#include <compare>\n#if __cplusplus != 202002L || defined(__STRICT_ANSI__)\n#error not GNU C++20\n#endif\nint main() { auto c = 1 <=> 2; std::cout << (c < 0) << "\\n"; }\n',
  cpp14: '#include <iostream>\n#if __cplusplus != 201402L || !defined(__STRICT_ANSI__)\n#error not ISO C++14\n#endif\nint main() { register int x = 1; std::cout << x << "\\n"; }\n',
  cpp17: '#include <iostream>\n#include <optional>\n#if __cplusplus != 201703L || !defined(__STRICT_ANSI__)\n#error not ISO C++17\n#endif\nint main() { std::optional<int> o = 1; if constexpr (true) std::cout << *o << "\\n"; }\n',
  cpp20: '#include <iostream>\n#include <span>\n#if __cplusplus != 202002L || !defined(__STRICT_ANSI__)\n#error not ISO C++20\n#endif\nint main() { int a[] = {1}; std::span<int> s(a); std::cout << s.size() << "\\n"; }\n',
  cpp23: '#include <iostream>\n#if __cplusplus <= 202002L || !defined(__STRICT_ANSI__)\n#error not ISO C++23\n#endif\nconsteval int one() { return 1; }\nconstexpr int f() { if consteval { return one(); } else { return 2; } }\nint main() { constexpr int v = f(); std::cout << v << "\\n"; }\n',
};

describe('C and C++: each selectable standard accepts a program the others reject', { concurrency: 3 }, () => {
  for (const family of [['c', 'c11', 'c17', 'c23'], ['cpp', 'cpp14', 'cpp17', 'cpp20', 'cpp23']]) {
    for (const id of family) {
      test(id, async (t) => {
        if (!installed(t, id)) return;
        const own = await judged({ language: id, source: STANDARDS[id], tests: [{ input: '', expected: '1\n' }] });
        assert.equal(own.verdict, 'AC', detail(own));
        for (const other of family.filter((o) => o !== id && offered.has(o))) {
          const r = await judged({ language: other, source: STANDARDS[id] });
          assert.equal(r.verdict, 'CE', `${id}'s program under ${other}: ${detail(r)}`);
        }
      });
    }
  }
});

const POSIX: Record<string, string> = {
  c: `#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
int main(void) {
  char *s = strdup("posix");
  int made = mknod("/tmp/fifo", S_IFIFO | 0600, 0) == 0;
  int chr = S_ISCHR(S_IFCHR | 0600);
  pid_t p = fork();
  if (p == 0) _exit(7);
  int st; struct rusage ru;
  if (wait4(p, &st, 0, &ru) != p) return 1;
  printf("%s %d %d %d\\n", s, made, chr, WEXITSTATUS(st));
  free(s);
  return 0;
}
`,
};

describe('C and C++ in GNU dialects by default', { concurrency: 2 }, () => {
  for (const id of ['c', 'cpp']) {
    test(`${id}: a program using POSIX calls (mknod, wait4, S_IFCHR, strdup, fork)`, async (t) => {
      if (!installed(t, id)) return;
      const r = await judged({ language: id, source: POSIX.c, tests: [{ input: '', expected: 'posix 1 1 7\n' }] });
      assert.equal(r.verdict, 'AC', detail(r));
    });
  }
  test('cpp: std::thread with the default thread allowance', async (t) => {
    if (!installed(t, 'cpp')) return;
    const src = '#include <thread>\n#include <vector>\n#include <atomic>\n#include <iostream>\nint main(){std::atomic<int> n{0};std::vector<std::thread> v;for(int i=0;i<32;i++)v.emplace_back([&]{n++;});for(auto&t:v)t.join();std::cout<<n<<"\\n";}\n';
    const r = await judged({ language: 'cpp', source: src, tests: [{ input: '', expected: '32\n' }] });
    assert.equal(r.verdict, 'AC', detail(r));
  });
  test('c: a fork bomb under the default allowance is contained by pids.max', async (t) => {
    if (!installed(t, 'c')) return;
    const events: JudgeEvent[] = [];
    const r = await judged({ language: 'c', source: '#include <unistd.h>\nint main(void){for(;;)fork();}\n', limits: { timeMs: 1000, wallTimeMs: 3000 } }, events);
    assert.ok(['TLE', 'RE'].includes(r.verdict), detail(r));
    const most = Math.max(0, ...events.filter((e) => e.type === 'telemetry').map((e) => (e as { processes: number }).processes));
    assert.ok(most <= 64 + 1, `at most the default allowance at once, saw ${most}`);
    assert.equal(spawnSync('/bin/true').status, 0, 'the host can still start processes');
  });
});

/** JVM entry points: the class with main, wherever it is, with its package. */
const JAVA = {
  comment: `// public class Wrong { } is what a judge matching text would pick
/* public class AlsoWrong { public static void main(String[] a) {} } */
import java.util.*;
class Helper { static long add(long a, long b) { return a + b; } }
public class Main {
  public static void main(String[] args) {
    String decoy = "public class Nope { public static void main(String[] a) {} }";
    Scanner in = new Scanner(System.in);
    System.out.println(Helper.add(in.nextLong(), in.nextLong()));
  }
}
`,
  package: `package contest.solution;
import java.util.Scanner;
public class Sum {
  public static void main(String... args) {
    Scanner in = new Scanner(System.in);
    System.out.println(in.nextLong() + in.nextLong());
  }
}
`,
  nonPublic: `import java.util.Scanner;
public class Util { static long add(long a, long b) { return a + b; } }
class Runner {
  public static void main(String[] args) {
    Scanner in = new Scanner(System.in);
    System.out.println(Util.add(in.nextLong(), in.nextLong()));
  }
}
`,
  twoMains: `class A { public static void main(String[] a) { System.out.println(1); } }
class B { public static void main(String[] a) { System.out.println(2); } }
`,
};

const KOTLIN = {
  comment: `// object Wrong { @JvmStatic fun main(args: Array<String>) {} }
/* fun main() { println("a comment") } /* nested */ still a comment */
fun main() {
    val decoy = "object Nope { @JvmStatic fun main(args: Array<String>) {} }"
    val (a, b) = readLine()!!.trim().split(Regex("\\\\s+")).map { it.toLong() }
    println(a + b)
}
`,
  package: `package contest.solution

object Solver {
    @JvmStatic
    fun main(args: Array<String>) {
        val (a, b) = readLine()!!.trim().split(" ").map { it.toLong() }
        println(a + b)
    }
}
`,
  companion: `class App {
    companion object {
        @JvmStatic fun main(args: Array<String>) {
            val (a, b) = readLine()!!.trim().split(" ").map { it.toLong() }
            println(a + b)
        }
    }
}
`,
  twoMains: `fun main() { println(1) }
object Other { @JvmStatic fun main(args: Array<String>) { println(2) } }
`,
};

describe('Java and Kotlin entry points', { concurrency: 3 }, () => {
  const sum = [{ input: '40 2\n', expected: '42\n' }];
  for (const [lang, cases] of [['java', JAVA], ['kotlin', KOTLIN]] as const) {
    for (const [name, source] of Object.entries(cases)) {
      test(`${lang}: ${name}`, async (t) => {
        if (!installed(t, lang)) return;
        const r = await judged({ language: lang, source, tests: sum, limits: { timeMs: 5000, wallTimeMs: 15_000 } });
        if (name === 'twoMains') {
          assert.equal(r.verdict, 'CE', detail(r));
          assert.match(r.compile!.output, /several classes/);
          assert.match(r.compile!.output, lang === 'java' ? /A, B/ : /MainKt, Other/);
        } else {
          assert.equal(r.verdict, 'AC', detail(r));
        }
      });
    }
  }
  test('java: no main at all is a CE that says so', async (t) => {
    if (!installed(t, 'java')) return;
    const r = await judged({ language: 'java', source: 'public class Main { static void main(String[] a) {} }\n' });
    assert.equal(r.verdict, 'CE');
    assert.match(r.compile!.output, /public static void main/);
  });
});
