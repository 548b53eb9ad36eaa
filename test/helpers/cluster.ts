// A cluster of real gavel processes for tests: PostgreSQL and Redis of their own (temp dirs,
// free ports), API nodes and worker nodes as separate `node dist/src/server.js` processes. Worker
// nodes own real sandbox pools, each with an instance name and uid range of its own (pid in the
// name), so a killed worker restarted under the same name cleans up what it left.
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TestPostgres } from './pg.js';
import { TestRedis } from './redis.js';
import { freePort, waitForExit } from './ports.js';
import { spawnService, type Child } from './server.js';

const SERVER = join(fileURLToPath(new URL('.', import.meta.url)), '..', '..', 'src', 'server.js');

export interface Node {
  name: string;
  role: 'api' | 'worker';
  env: Record<string, string>;
  child?: Child;
  url: string;
}

export class TestCluster {
  readonly nodes: Node[] = [];
  /** Each node's GAVEL_DATA_DIR: nodes share nothing on disk, as on separate machines. */
  private readonly dataDirs: string[] = [];
  private constructor(readonly pg: TestPostgres, readonly redis: TestRedis, private readonly env: Record<string, string>) {}

  static async start(opts: {
    apis: number; workers: number; env?: Record<string, string>; workerEnv?: Record<string, string>;
    /** Names the workers' sandbox instances (unique per cluster in one process); uids follow it. */
    tag?: string; uidOffset?: number;
  }): Promise<TestCluster> {
    const [pg, redis] = await Promise.all([TestPostgres.start(), TestRedis.start()]);
    const env = {
      GAVEL_DATABASE_URL: pg.url, GAVEL_REDIS_URL: redis.url, GAVEL_REDIS_PREFIX: `gt${process.pid}`,
      LOG_LEVEL: 'info', GAVEL_SHUTDOWN_MS: '3000', ...opts.env,
    };
    const c = new TestCluster(pg, redis, env);
    try {
      for (let i = 0; i < opts.workers; i++) {
        const port = String(await freePort());
        c.nodes.push({
          name: `worker${i + 1}`, role: 'worker', url: `http://127.0.0.1:${port}`,
          env: {
            ...env, GAVEL_ROLE: 'worker', PORT: port, GAVEL_POOL_SIZE: '1', GAVEL_DATA_DIR: c.dataDir(),
            GAVEL_INSTANCE: `${opts.tag ?? 'gcl'}-w${i + 1}-${process.pid}`,
            GAVEL_UID_BASE: String(61000 + (process.pid % 1000) * 8 + (opts.uidOffset ?? 0) + i * 2),
            ...opts.workerEnv,
          },
        });
      }
      for (let i = 0; i < opts.apis; i++) {
        const port = String(await freePort());
        c.nodes.push({ name: `api${i + 1}`, role: 'api', url: `http://127.0.0.1:${port}`, env: { ...env, GAVEL_ROLE: 'api', PORT: port, GAVEL_DATA_DIR: c.dataDir() } });
      }
      // Workers first (they take longer: sandbox pools), then API nodes, all at once per kind:
      // the schema migration runs under an advisory lock, so simultaneous starts are fine.
      await Promise.all(c.nodes.filter((n) => n.role === 'worker').map((n) => c.launch(n)));
      await Promise.all(c.nodes.filter((n) => n.role === 'api').map((n) => c.launch(n)));
    } catch (err) {
      await c.stop();
      throw err;
    }
    return c;
  }

  private dataDir(): string {
    const d = mkdtempSync(join(tmpdir(), `gavel-node-${process.pid}-`));
    // The sandbox's users read problem files under it.
    chmodSync(d, 0o755);
    this.dataDirs.push(d);
    return d;
  }

  get apis(): Node[] { return this.nodes.filter((n) => n.role === 'api'); }
  get workers(): Node[] { return this.nodes.filter((n) => n.role === 'worker'); }

  async launch(n: Node): Promise<void> {
    n.child = await spawnService(SERVER, n.env);
  }

  /** kill -9: no cleanup, no drain (the sandboxes die with it through PDEATHSIG). */
  async kill(n: Node): Promise<void> {
    const child = n.child;
    if (!child) return;
    child.proc.kill('SIGKILL');
    await child.exited;
    n.child = undefined;
  }

  /** SIGSTOP / SIGCONT: a node that hangs (its event loop stops) and comes back. */
  signal(n: Node, sig: 'SIGSTOP' | 'SIGCONT'): void {
    n.child?.proc.kill(sig);
  }

  /** SIGTERM (drain); SIGKILL after 20 s. Resolves whether it had to be killed. */
  async stopNode(n: Node): Promise<boolean> {
    const child = n.child;
    if (!child) return false;
    child.proc.kill('SIGCONT');
    child.proc.kill('SIGTERM');
    let killed = false;
    const timer = setTimeout(() => { killed = true; child.proc.kill('SIGKILL'); }, 20_000);
    await waitForExit(child.proc);
    clearTimeout(timer);
    n.child = undefined;
    return killed;
  }

  /** Lines of a node's log that are warnings or worse (for failure messages). */
  problems(n: Node): string[] {
    return (n.child?.log ?? []).filter((l) => /"level":(40|50|60)/.test(l));
  }

  async stop(): Promise<void> {
    const killed = await Promise.all(this.nodes.map((n) => this.stopNode(n).catch(() => false)));
    // A worker that had to be killed left its cgroups and run dir: a start under the same
    // instance name removes them, and a clean stop follows.
    for (const [i, n] of this.nodes.entries()) {
      if (!killed[i] || n.role !== 'worker') continue;
      await this.launch(n).then(() => this.stopNode(n)).catch(() => undefined);
    }
    await Promise.all([this.pg.stop(), this.redis.stop()]);
    for (const d of this.dataDirs) rmSync(d, { recursive: true, force: true });
  }

  get processEnv(): Record<string, string> { return this.env; }
}

export interface SseEvent { id: number; event: string; data: any }

/**
 * Reads an event stream with fetch until it ends, the connection drops, or `stop` is aborted.
 * Returns the events and whether the server ended the stream itself.
 */
export async function readSse(url: string, lastEventId: number | undefined, stop?: AbortSignal, onEvent?: (e: SseEvent) => void): Promise<{ events: SseEvent[]; ended: boolean; status: number }> {
  const events: SseEvent[] = [];
  const headers: Record<string, string> = {};
  if (lastEventId !== undefined) headers['last-event-id'] = String(lastEventId);
  let res: Response;
  try {
    res = await fetch(url, { headers, signal: stop });
  } catch {
    return { events, ended: false, status: 0 };
  }
  if (res.status !== 200 || !res.body) {
    await res.text().catch(() => undefined);
    return { events, ended: res.status === 204, status: res.status };
  }
  const decoder = new TextDecoder();
  let buf = '';
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buf += decoder.decode(chunk, { stream: true });
      let sep: number;
      while ((sep = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, sep);
        buf = buf.slice(sep + 2);
        const f: Record<string, string> = {};
        for (const line of block.split('\n')) {
          const i = line.indexOf(': ');
          if (i > 0) f[line.slice(0, i)] = line.slice(i + 2);
        }
        if (f.event === undefined || f.id === undefined) continue;
        const e = { id: Number(f.id), event: f.event, data: JSON.parse(f.data ?? 'null') };
        events.push(e);
        onEvent?.(e);
      }
    }
    return { events, ended: true, status: 200 };
  } catch {
    return { events, ended: false, status: 200 };
  }
}
