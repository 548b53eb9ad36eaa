// A throwaway PostgreSQL server for tests: initdb into a temp dir, `postgres` on 127.0.0.1 and a
// free port (its socket in the temp dir too, never /var/run), stopped and deleted by stop().
// PostgreSQL refuses to run as root, so when the tests run as root the server runs as the
// `postgres` user Debian's package creates (or `nobody`), owning only the temp dir.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { freePort, waitForExit } from './ports.js';

export const PG_BIN = process.env.GAVEL_PG_BIN ?? '/usr/lib/postgresql/15/bin';

function serverUser(): { uid: number; gid: number } | undefined {
  if (userInfo().uid !== 0) return undefined;
  for (const name of ['postgres', 'nobody']) {
    const r = spawnSync('id', ['-u', name], { encoding: 'utf8' });
    const g = spawnSync('id', ['-g', name], { encoding: 'utf8' });
    if (r.status === 0 && g.status === 0) return { uid: Number(r.stdout.trim()), gid: Number(g.stdout.trim()) };
  }
  throw new Error('running as root and neither a "postgres" nor a "nobody" user exists to run PostgreSQL as');
}

export class TestPostgres {
  readonly dir: string;
  readonly dataDir: string;
  port = 0;
  private proc?: ChildProcess;
  private exited?: Promise<unknown>;
  private readonly user = serverUser();
  readonly log: string[] = [];

  private constructor() {
    this.dir = mkdtempSync(join(tmpdir(), `gavel-pg-${process.pid}-`));
    this.dataDir = join(this.dir, 'data');
    if (this.user) {
      chmodSync(this.dir, 0o755);
      chownSync(this.dir, this.user.uid, this.user.gid);
    }
  }

  /** initdb (trust auth, database "gavel") and start. */
  static async start(): Promise<TestPostgres> {
    const pg = new TestPostgres();
    try {
      const r = spawnSync(join(PG_BIN, 'initdb'), ['-D', pg.dataDir, '-U', 'gavel', '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C'], {
        encoding: 'utf8', ...(pg.user ?? {}), env: { ...process.env, LC_ALL: 'C' },
      });
      if (r.status !== 0) throw new Error(`initdb failed (${r.status}): ${r.stderr || r.stdout}`);
      pg.port = await freePort();
      await pg.launch();
      const c = spawnSync(join(PG_BIN, 'createdb'), ['-h', '127.0.0.1', '-p', String(pg.port), '-U', 'gavel', 'gavel'], { encoding: 'utf8' });
      if (c.status !== 0) throw new Error(`createdb failed: ${c.stderr}`);
    } catch (err) {
      await pg.stop();
      throw err;
    }
    return pg;
  }

  get url(): string {
    return `postgres://gavel@127.0.0.1:${this.port}/gavel`;
  }

  /** Starts the server on the same data dir and port; resolves when it accepts connections. */
  async launch(): Promise<void> {
    const proc = spawn(join(PG_BIN, 'postgres'), [
      '-D', this.dataDir, '-p', String(this.port), '-h', '127.0.0.1', '-k', this.dir,
      '-c', 'shared_buffers=32MB', '-c', 'max_connections=200', '-c', 'fsync=on', '-c', 'logging_collector=off',
    ], { stdio: ['ignore', 'pipe', 'pipe'], ...(this.user ?? {}) });
    this.proc = proc;
    this.exited = waitForExit(proc);
    proc.stdout!.on('data', (b: Buffer) => this.keep(b));
    proc.stderr!.on('data', (b: Buffer) => this.keep(b));
    const end = Date.now() + 30_000;
    for (;;) {
      const r = spawnSync(join(PG_BIN, 'pg_isready'), ['-h', '127.0.0.1', '-p', String(this.port), '-U', 'gavel', '-q']);
      if (r.status === 0) return;
      if (proc.exitCode !== null) throw new Error(`postgres exited (${proc.exitCode}):\n${this.log.join('')}`);
      if (Date.now() > end) throw new Error(`postgres did not accept connections in 30 s:\n${this.log.join('')}`);
      await new Promise((res) => setTimeout(res, 50));
    }
  }

  private keep(b: Buffer): void {
    this.log.push(b.toString());
    if (this.log.length > 200) this.log.splice(0, 100);
  }

  /** Stops the server: `fast` (SIGINT, what pg_ctl -m fast does) or `immediate` (SIGQUIT, crash-like). */
  async halt(mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill(mode === 'fast' ? 'SIGINT' : 'SIGQUIT');
    const killer = setTimeout(() => proc.kill('SIGKILL'), 15_000);
    await this.exited;
    clearTimeout(killer);
    this.proc = undefined;
  }

  /** Stops the server and deletes its files. */
  async stop(): Promise<void> {
    await this.halt('fast');
    rmSync(this.dir, { recursive: true, force: true });
  }
}
