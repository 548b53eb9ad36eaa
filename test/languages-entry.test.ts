// The entry-point finder (pure): where main is, with comments and strings ignored.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { adaEntryPoint, blankCommentsAndStrings, javaEntryPoint, kotlinEntryPoint, scalaEntryPoint } from '../src/judge/languages/entry-point.js';

describe('blankCommentsAndStrings', () => {
  test('keeps code and newlines, blanks comments, strings and chars', () => {
    const src = 'a /* x\ny */ b // z\nc "q\\"w" \'"\' d';
    const out = blankCommentsAndStrings(src);
    assert.equal(out.length, src.length);
    assert.equal(out.replace(/ +/g, ' '), 'a \n b \nc " " \' \' d');
  });
  test('nested block comments (Kotlin, Scala) and raw strings', () => {
    const out = blankCommentsAndStrings('/* a /* b */ c */ x """ y " z """ w', { nested: true, tripleQuotes: true });
    assert.equal(out.replace(/ +/g, ' ').trim(), 'x """ """ w');
  });
});

describe('Java', () => {
  test('the public class with main, a package and a nested-class main', () => {
    assert.deepEqual(javaEntryPoint('package a.b;\npublic class Sol { public static void main(String[] x) {} }'), { ok: true, file: 'Sol', main: 'a.b.Sol' });
    assert.deepEqual(javaEntryPoint('public class Outer { static class In { public static void main(String... a) {} } }'), { ok: true, file: 'Outer', main: 'Outer$In' });
  });
  test('modifier order, final and C-style array parameters', () => {
    assert.deepEqual(javaEntryPoint('class M { static public final void main(final String args[]) {} }'), { ok: true, file: 'M', main: 'M' });
  });
  test('decoys in comments, strings, a .class literal and a non-static main are ignored', () => {
    const src = '// public class X { public static void main(String[] a) {} }\nclass Y { void main(String[] a) {} Class<?> c = Z.class; String s = "class Q {"; }\nclass Main { public static void main(String[] a) {} }';
    assert.deepEqual(javaEntryPoint(src), { ok: true, file: 'Main', main: 'Main' });
  });
  test('no main and two mains are errors that say so', () => {
    const none = javaEntryPoint('public class A { }');
    assert.equal(none.ok, false);
    const two = javaEntryPoint('class A { public static void main(String[] a) {} }\nenum B { X; public static void main(String[] a) {} }');
    assert.equal(two.ok, false);
    assert.match(!two.ok ? two.message : '', /A, B/);
  });
  test('a public class with an empty body still names the file', () => {
    assert.deepEqual(javaEntryPoint('public class P {}\nclass R { public static void main(String[] a) {} }'), { ok: true, file: 'P', main: 'R' });
  });
});

describe('Kotlin', () => {
  test('top-level main is the file facade; object and companion mains need @JvmStatic', () => {
    assert.deepEqual(kotlinEntryPoint('package p.q\nfun main() {}'), { ok: true, file: 'main', main: 'p.q.MainKt' });
    assert.deepEqual(kotlinEntryPoint('object O { @JvmStatic fun main(args: Array<String>) {} }'), { ok: true, file: 'main', main: 'O' });
    assert.deepEqual(kotlinEntryPoint('class C { companion object { @JvmStatic fun main(args: Array<String>) {} } }'), { ok: true, file: 'main', main: 'C' });
    assert.equal(kotlinEntryPoint('object O { fun main(args: Array<String>) {} }').ok, false);
  });
  test('@file:JvmName, body-less classes before main, and overloads of top-level main', () => {
    assert.deepEqual(kotlinEntryPoint('@file:JvmName("Prog")\ndata class P(val x: Int)\nfun main(args: Array<String>) {}\nfun main() {}'), { ok: true, file: 'main', main: 'Prog' });
  });
});

describe('Scala and Ada', () => {
  test('scala: def main in an object, or extends App', () => {
    assert.deepEqual(scalaEntryPoint('package x\nobject M { def main(a: Array[String]): Unit = () }'), { ok: true, file: 'main', main: 'x.M' });
    assert.deepEqual(scalaEntryPoint('object Go extends App { println(1) }'), { ok: true, file: 'main', main: 'Go' });
    assert.equal(scalaEntryPoint('class C { def main(a: Array[String]): Unit = () }').ok, false);
  });
  test('ada: the main procedure names the file, in lower case', () => {
    assert.deepEqual(adaEntryPoint('with Ada.Text_IO; use Ada.Text_IO;\n-- procedure Wrong is\nprocedure Hello_World is begin null; end Hello_World;'), { ok: true, file: 'hello_world', main: 'hello_world' });
  });
});
