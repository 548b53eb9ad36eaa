// A problem package directory opened for the CLI: imported, as the service would, into a
// throwaway data directory that is removed afterwards.
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { create } from 'tar';
import { createJudge, type LocalJudge } from '../judge/index.js';
import type { JudgeEvent, Limits } from '../judge/schema.js';
import type { ProblemRun } from '../problems/judging.js';
import { ProblemError } from '../problems/errors.js';
import { languageForFile, ProblemService } from '../problems/service.js';
import type { StoredVersion } from '../problems/store.js';
import { UsageError } from './args.js';

export interface LocalProblem {
  service: ProblemService;
  version: StoredVersion;
  close(): Promise<void>;
}

export async function openProblemDir(dir: string, judge: LocalJudge, opts: { timeLimitMs?: number } = {}): Promise<LocalProblem> {
  let st;
  try {
    st = statSync(dir);
  } catch {
    throw new UsageError(`no such problem directory: ${dir}`);
  }
  if (!st.isDirectory()) throw new UsageError(`not a directory: ${dir}`);
  const data = mkdtempSync(join(tmpdir(), `gavel-problem-${process.pid}-`));
  const close = async () => {
    await service?.close();
    rmSync(data, { recursive: true, force: true });
  };
  let service: ProblemService | undefined;
  try {
    service = await ProblemService.open({ dataDir: data, pipeline: judge.pipeline, ctx: judge.ctx, synchronous: 'NORMAL' });
    // The same path as an upload: the directory packed as a tar stream.
    const body = Readable.from(create({ cwd: resolve(dir), portable: true, follow: false }, ['.']));
    const id = basename(resolve(dir)).replace(/[^A-Za-z0-9_.-]/g, '_').replace(/^[^A-Za-z0-9]+/, '') || 'problem';
    await service.put(id, body, opts);
    const version = await service.resolve(id);
    return { service, version, close };
  } catch (e) {
    await close();
    if (e instanceof ProblemError) throw new UsageError(`${dir}: ${e.message}`);
    throw e;
  }
}

export function fmtBytes(n: number): string {
  return n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MiB` : `${Math.round(n / 1024)} KiB`;
}

/** Live progress of one judging on stderr (a terminal only). */
export function progress(label: string): (e: JudgeEvent) => void {
  if (!process.stderr.isTTY) return () => {};
  return (e) => {
    if (e.type === 'test-start') process.stderr.write(`\r\x1b[K${label}test ${e.id} ...`);
    if (e.type === 'telemetry') process.stderr.write(`\r\x1b[K${label}test ${e.id} ... ${e.cpuTimeMs} ms cpu, ${fmtBytes(e.memoryBytes)}`);
    if (e.type === 'verdict') process.stderr.write('\r\x1b[K');
  };
}

/** `gavel judge --problem DIR SOURCE...`: the API's JSON result on stdout. */
export async function judgeProblemCommand(dir: string, sources: string[], language: string | undefined, limits: Limits): Promise<number> {
  if (sources.length === 0) throw new UsageError('give the SOURCE file(s) to judge');
  for (const s of sources) if (!existsSync(s) || !statSync(s).isFile()) throw new UsageError(`no such file: ${s}`);
  
  const judge = await createJudge({ poolSize: 2, name: `gavel-cli-${process.pid}` });
  try {
    const lang = language ?? languageForFile(sources[0], judge.ctx.languages);
    if (!lang) throw new UsageError(`cannot tell the language of ${sources[0]} from its extension; give --language`);
    const run: ProblemRun = sources.length === 1
      ? { language: lang, source: readFileSync(sources[0], 'utf8'), limits }
      : { language: lang, files: sources.map((s, i) => ({ path: basename(s), content: readFileSync(s).toString('base64'), encoding: 'base64' as const, entry: i === 0 })), limits };
    const p = await openProblemDir(dir, judge, { timeLimitMs: limits.timeMs });
    try {
      try {
        p.service.judge.validate(p.version, run);
      } catch (e) {
        throw new UsageError((e as Error).message);
      }
      const result = await p.service.judge.judge(p.version, run, progress(''));
      process.stdout.write(JSON.stringify(result, null, 2) + '\n');
      return result.verdict === 'AC' ? 0 : 1;
    } finally {
      await p.close();
    }
  } finally {
    await judge.close();
  }
}
