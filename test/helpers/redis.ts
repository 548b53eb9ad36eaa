// A throwaway Redis server for tests: redis-server on 127.0.0.1 and a free port, its AOF in a
// temp dir with appendfsync always (what the cluster mode documents), no RDB snapshots;
// stop() ends it and deletes the dir. halt() + launch() restart it on the same data.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitForExit } from './ports.js';

export const REDIS_SERVER = process.env.GAVEL_REDIS_SERVER ?? '/usr/bin/redis-server';

function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.setTimeout(500);
    s.once('connect', () => s.write('PING\r\n'));
    s.once('data', (b) => { s.destroy(); resolve(b.toString().startsWith('+PONG')); });
    s.once('error', () => { s.destroy(); resolve(false); });
    s.once('timeout', () => { s.destroy(); resolve(false); });
  });
}

export class TestRedis {
  readonly dir = mkdtempSync(join(tmpdir(), `gavel-redis-${process.pid}-`));
  port = 0;
  private proc?: ChildProcess;
  private exited?: Promise<unknown>;
  readonly log: string[] = [];

  static async start(): Promise<TestRedis> {
    const r = new TestRedis();
    try {
      r.port = await freePort();
      await r.launch();
    } catch (err) {
      await r.stop();
      throw err;
    }
    return r;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async launch(): Promise<void> {
    const proc = spawn(REDIS_SERVER, [
      '--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--daemonize', 'no',
      '--appendonly', 'yes', '--appendfsync', 'always', '--save', '', '--protected-mode', 'no',
      // BullMQ needs keys to stay: never evict.
      '--maxmemory-policy', 'noeviction',
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc = proc;
    this.exited = waitForExit(proc);
    const keep = (b: Buffer) => { this.log.push(b.toString()); if (this.log.length > 200) this.log.splice(0, 100); };
    proc.stdout!.on('data', keep);
    proc.stderr!.on('data', keep);
    const end = Date.now() + 15_000;
    while (!(await ping(this.port))) {
      if (proc.exitCode !== null) throw new Error(`redis-server exited (${proc.exitCode}):\n${this.log.join('')}`);
      if (Date.now() > end) throw new Error(`redis-server did not answer PING in 15 s:\n${this.log.join('')}`);
      await new Promise((res) => setTimeout(res, 25));
    }
  }

  /** SIGTERM (a clean shutdown) or SIGKILL (a crash; AOF with appendfsync always keeps every write). */
  async halt(signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<void> {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill(signal);
    const killer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
    await this.exited;
    clearTimeout(killer);
    this.proc = undefined;
  }

  async stop(): Promise<void> {
    await this.halt('SIGTERM');
    rmSync(this.dir, { recursive: true, force: true });
  }
}
