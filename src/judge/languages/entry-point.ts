// Finding the class a JVM (or Ada) program starts from, the way Kattis does: not by the
// first "public class" in the text, but by where `main` really is, with comments and
// string literals blanked out first so that neither can mislead the search. The result
// names the file the compiler insists on and the class the runtime must be given.

export type EntryPointKind = 'java' | 'kotlin' | 'scala' | 'ada';

export type EntryPoint =
  /** `file`: the stem the source file must have; `main`: what to run (package-qualified). */
  | { ok: true; file: string; main: string }
  | { ok: false; message: string };

interface Token { text: string; at: number }

/**
 * Replaces comments and the contents of string and character literals by spaces (keeping
 * newlines), so that only code is left to search. `nested`: block comments nest (Kotlin,
 * Scala); `tripleQuotes`: """raw strings""" (Java text blocks, Kotlin, Scala).
 */
export function blankCommentsAndStrings(src: string, o: { nested?: boolean; tripleQuotes?: boolean; lineComment?: string } = {}): string {
  const out = src.split('');
  const blank = (from: number, to: number) => {
    for (let k = from; k < to && k < out.length; k++) if (out[k] !== '\n') out[k] = ' ';
  };
  const line = o.lineComment ?? '//';
  let i = 0;
  while (i < src.length) {
    if (src.startsWith(line, i)) {
      const end = src.indexOf('\n', i);
      const stop = end < 0 ? src.length : end;
      blank(i, stop);
      i = stop;
    } else if (line === '//' && src.startsWith('/*', i)) {
      let depth = 1;
      let j = i + 2;
      while (j < src.length && depth > 0) {
        if (o.nested && src.startsWith('/*', j)) { depth++; j += 2; }
        else if (src.startsWith('*/', j)) { depth--; j += 2; }
        else j++;
      }
      blank(i, j);
      i = j;
    } else if (o.tripleQuotes && src.startsWith('"""', i)) {
      const end = src.indexOf('"""', i + 3);
      const stop = end < 0 ? src.length : end + 3;
      blank(i + 3, stop - 3);
      i = stop;
    } else if (src[i] === '"' || (src[i] === "'" && line === '//')) {
      // Ada has no character-literal escapes and uses ' for attributes too; only its "" strings are blanked.
      const q = src[i];
      let j = i + 1;
      while (j < src.length && src[j] !== q && src[j] !== '\n') j += src[j] === '\\' && line === '//' ? 2 : 1;
      blank(i + 1, j);
      i = j + 1;
    } else i++;
  }
  return out.join('');
}

function tokenize(code: string): Token[] {
  const out: Token[] = [];
  for (const m of code.matchAll(/[A-Za-z_$][\w$]*|\.\.\.|\S/g)) out.push({ text: m[0], at: m.index! });
  return out;
}

/** The dotted name starting at token i (`a . b . c`), and the index after it. */
function dottedName(t: Token[], i: number): [string, number] {
  const parts: string[] = [];
  while (i < t.length && /^[A-Za-z_$]/.test(t[i].text)) {
    parts.push(t[i].text);
    if (t[i + 1]?.text !== '.') return [parts.join('.'), i + 1];
    i += 2;
  }
  return [parts.join('.'), i];
}

/** Modifiers and annotations written just before token i (walking back over words, `@` and annotation arguments). */
function modifiersBefore(t: Token[], i: number): Set<string> {
  const mods = new Set<string>();
  let j = i - 1;
  while (j >= 0) {
    const x = t[j].text;
    if (x === ')') {
      // An annotation's arguments, e.g. @Throws(IOException::class).
      let depth = 0;
      for (; j >= 0; j--) {
        if (t[j].text === ')') depth++;
        else if (t[j].text === '(' && --depth === 0) break;
      }
      if (j <= 0 || t[j - 1].text.match(/^[A-Za-z_$]/) === null) break;
      j--;
      continue;
    }
    if (/^[A-Za-z_$]/.test(x)) mods.add(t[j - 1]?.text === '@' ? `@${x}` : x);
    else if (x !== '@' && x !== '.') break;
    j--;
  }
  return mods;
}

interface TypeScope { name: string; kind: string; depth: number; public: boolean }

/**
 * Walks the code once, keeping the stack of type declarations the current token is inside,
 * and calls `onToken` for every token that is not a brace or `;`. Returns the package.
 */
function scan(code: string, onToken: (t: Token[], i: number, stack: TypeScope[], depth: number) => void, typeKeywords: Set<string>): { pkg: string; topLevel: TypeScope[] } {
  const topLevel: TypeScope[] = [];
  const t = tokenize(code);
  const stack: TypeScope[] = [];
  let depth = 0;
  let pending: Omit<TypeScope, 'depth'> | null = null;
  let pkg = '';
  for (let i = 0; i < t.length; i++) {
    const x = t[i].text;
    if (x === 'package' && depth === 0 && !pkg && t[i - 1]?.text !== '.') {
      [pkg] = dottedName(t, i + 1);
      continue;
    }
    if (x === '{') {
      depth++;
      if (pending) {
        if (stack.length === 0) topLevel.push({ ...pending, depth });
        stack.push({ ...pending, depth });
      }
      pending = null;
      continue;
    }
    if (x === '}') {
      if (stack.length && stack[stack.length - 1].depth === depth) stack.pop();
      depth--;
      continue;
    }
    // A declaration without a body (`data class P(val x: Int)`) ends at `;` or at the next function.
    if (x === ';' || x === 'fun' || x === 'def') pending = null;
    if (x === ';') continue;
    // Not `Foo.class` (Java) nor `Foo::class` (Kotlin): those are expressions.
    if (typeKeywords.has(x) && t[i - 1]?.text !== '.' && t[i - 1]?.text !== ':') {
      const next = t[i + 1]?.text ?? '';
      const mods = modifiersBefore(t, i);
      if (x === 'object' && mods.has('companion')) {
        // A companion's @JvmStatic members become static members of the enclosing class.
        const outer = stack[stack.length - 1];
        pending = { name: outer?.name ?? '', kind: 'companion', public: false };
      } else if (/^[A-Za-z_$]/.test(next) && !typeKeywords.has(next)) {
        pending = { name: next, kind: x, public: mods.has('public') };
      }
    }
    onToken(t, i, stack, depth);
  }
  return { pkg, topLevel };
}

const qualify = (pkg: string, name: string) => (pkg ? `${pkg}.${name}` : name);

function several(what: string, classes: string[]): EntryPoint {
  return { ok: false, message: `${what} is defined in several classes (${classes.join(', ')}); keep exactly one entry point` };
}

/** Java: the class with `public static void main(String[] …)`; the file is named after the public top-level class. */
export function javaEntryPoint(src: string): EntryPoint {
  const code = blankCommentsAndStrings(src, { tripleQuotes: true });
  const mains: string[] = [];
  const { pkg, topLevel } = scan(code, (t, i, stack, depth) => {
    if (stack.length === 0) return;
    if (t[i].text !== 'main' || t[i - 1]?.text !== 'void' || t[i + 1]?.text !== '(') return;
    if (stack[stack.length - 1].depth !== depth) return;
    const mods = modifiersBefore(t, i - 1);
    if (!mods.has('static') || !(mods.has('public') || stack[stack.length - 1].kind === 'interface')) return;
    if (!/^\(\s*(final\s+)?(java\s*\.\s*lang\s*\.\s*)?String\s*(\[\s*\]|\.\.\.)\s*[A-Za-z_$][\w$]*\s*\)|^\(\s*(final\s+)?String\s+[A-Za-z_$][\w$]*\s*\[\s*\]\s*\)/.test(code.slice(t[i + 1].at))) return;
    mains.push(stack.map((s) => s.name).join('$'));
  }, new Set(['class', 'interface', 'enum', 'record']));
  const publicTop = topLevel.find((s) => s.public)?.name;
  if (mains.length === 0) return { ok: false, message: 'no class has a "public static void main(String[] args)" method' };
  if (mains.length > 1) return several('public static void main', mains);
  const topOfMain = mains[0].split('$')[0];
  return { ok: true, file: publicTop ?? topOfMain, main: qualify(pkg, mains[0]) };
}

/**
 * Kotlin: a top-level `fun main` (its class is the file facade, `MainKt` for main.kt, or
 * the name given by @file:JvmName), or an `@JvmStatic fun main` in an object or companion.
 */
export function kotlinEntryPoint(src: string, fileStem = 'main'): EntryPoint {
  const jvmName = /@file\s*:\s*JvmName\s*\(\s*"([A-Za-z_$][\w$]*)"\s*\)/.exec(src)?.[1];
  const facade = jvmName ?? `${fileStem[0].toUpperCase()}${fileStem.slice(1)}Kt`;
  const code = blankCommentsAndStrings(src, { nested: true, tripleQuotes: true });
  const mains = new Set<string>();
  const { pkg } = scan(code, (t, i, stack, d) => {
    if (t[i].text !== 'main' || t[i - 1]?.text !== 'fun' || t[i + 1]?.text !== '(') return;
    if (stack.length === 0 && d === 0) {
      mains.add(facade);
      return;
    }
    const inner = stack[stack.length - 1];
    if (!inner || inner.depth !== d || (inner.kind !== 'object' && inner.kind !== 'companion')) return;
    if (!modifiersBefore(t, i - 1).has('@JvmStatic')) return;
    const names = stack.filter((s) => s.kind !== 'companion').map((s) => s.name);
    mains.add(names.join('$'));
  }, new Set(['class', 'object', 'interface']));
  if (mains.size === 0) return { ok: false, message: 'no entry point: write a top-level "fun main" (or an @JvmStatic main in an object)' };
  if (mains.size > 1) return several('main', [...mains]);
  return { ok: true, file: fileStem, main: qualify(pkg, [...mains][0]) };
}

/** Scala: an `object` with `def main(…)` or one that `extends App`. */
export function scalaEntryPoint(src: string): EntryPoint {
  const code = blankCommentsAndStrings(src, { nested: true, tripleQuotes: true });
  const mains = new Set<string>();
  const objects: { name: string; header: string }[] = [];
  const { pkg } = scan(code, (t, i, stack, depth) => {
    const x = t[i].text;
    if (x === 'object' && /^[A-Za-z_$]/.test(t[i + 1]?.text ?? '')) {
      // The header up to the body: `object Main extends App {`.
      const open = code.indexOf('{', t[i].at);
      objects.push({ name: t[i + 1].text, header: code.slice(t[i].at, open < 0 ? undefined : open) });
    }
    if (x !== 'main' || t[i - 1]?.text !== 'def' || t[i + 1]?.text !== '(') return;
    const inner = stack[stack.length - 1];
    if (inner?.kind === 'object' && inner.depth === depth) mains.add(stack.map((s) => s.name).join('$'));
  }, new Set(['class', 'object', 'trait']));
  for (const o of objects) if (/\bextends\s+App\b|\bwith\s+App\b/.test(o.header)) mains.add(o.name);
  if (mains.size === 0) return { ok: false, message: 'no entry point: write an object with "def main(args: Array[String])" (or one that extends App)' };
  if (mains.size > 1) return several('main', [...mains]);
  return { ok: true, file: 'main', main: qualify(pkg, [...mains][0]) };
}

/** Ada: GNAT wants the main procedure's file named after it, in lower case. */
export function adaEntryPoint(src: string): EntryPoint {
  const code = blankCommentsAndStrings(src, { lineComment: '--' });
  const m = /(?:^|;)\s*procedure\s+([A-Za-z][\w.]*)\s+is\b/i.exec(code.replace(/^\s*(with|use)\s[^;]*;/gim, ';'));
  if (!m) return { ok: false, message: 'no main procedure: the program must be "procedure Name is ... end Name;"' };
  const file = m[1].toLowerCase().replace(/\./g, '-');
  return { ok: true, file, main: file };
}

export function findEntryPoint(kind: EntryPointKind, src: string): EntryPoint {
  switch (kind) {
    case 'java': return javaEntryPoint(src);
    case 'kotlin': return kotlinEntryPoint(src);
    case 'scala': return scalaEntryPoint(src);
    case 'ada': return adaEntryPoint(src);
  }
}
