// `npm run bench:cluster`: A+B in C++ (10 tests, compile included) through HTTP, submit-to-verdict
// latency (POST until the `verdict` event arrives on the submission's event stream) and
// submissions per minute with every slot busy, in three deployments measured in the same run:
//   single    one gavel process, SQLite, pool of 1 (the baseline)
//   cluster1  1 API node + 1 worker (pool of 1), PostgreSQL + Redis
//   cluster2  1 API node + 2 workers (pool of 1 each)
// Every node is a process of its own; PostgreSQL and Redis are started for the run (temp dirs).
// Latency rounds alternate between the deployments so machine noise hits each alike.
// BENCH_SUBMISSIONS (latency samples per deployment, default 10), BENCH_THROUGHPUT (default 30).
import { cpus } from 'node:os';
import { rmSync } from 'node:fs';
import { TestCluster, readSse } from '../test/helpers/cluster.js';
import { spawnService, tempDir, type Child } from '../test/helpers/server.js';
import { freePort } from '../test/helpers/ports.js';

const SOURCE = '#include <iostream>\nint main(){long long a,b;std::cin>>a>>b;std::cout<<a+b<<"\\n";}\n';
const TESTS = Array.from({ length: 10 }, (_, i) => ({ input: `${i} ${i * 7}\n`, expected: `${i * 8}\n` }));
const SEQUENTIAL = Number(process.env.BENCH_SUBMISSIONS ?? 10);
const THROUGHPUT = Number(process.env.BENCH_THROUGHPUT ?? 30);
const SERVER = new URL('../src/server.js', import.meta.url).pathname;

interface Deployment { name: string; url: string; slots: number; stop(): Promise<void> }

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
}

// Every submission compiles (no compile cache), as the "compile included" asks: with
// the cache on, the same source is a hit and the figures measure only the queue's overhead.
const NODE_ENV = { LOG_LEVEL: 'info', GAVEL_COMPILE_CACHE_BYTES: '0' };

async function single(): Promise<Deployment> {
  const dataDir = tempDir('gavel-bench-cluster-');
  const child: Child = await spawnService(SERVER, {
    PORT: String(await freePort()), GAVEL_DATA_DIR: dataDir, GAVEL_POOL_SIZE: '1', GAVEL_INSTANCE: `gbc-single-${process.pid}`,
    GAVEL_UID_BASE: String(62000 + (process.pid % 500) * 8), ...NODE_ENV,
  });
  return {
    name: 'single', url: child.url, slots: 1,
    async stop() {
      child.proc.kill('SIGTERM');
      await child.exited;
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

async function cluster(workers: number): Promise<Deployment> {
  const c = await TestCluster.start({
    apis: 1, workers, env: NODE_ENV, tag: `gbc${workers}`, uidOffset: 1_000_000 + workers * 4,
  });
  return { name: `cluster${workers}`, url: c.apis[0].url, slots: workers, stop: () => c.stop() };
}

/** POST, then follow the event stream until the verdict; returns the elapsed ms. */
async function submitAndWait(url: string): Promise<number> {
  const t0 = performance.now();
  const res = await fetch(`${url}/v1/submissions`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ language: 'cpp', source: SOURCE, tests: TESTS }),
  });
  const body = await res.json() as { id?: string; message?: string };
  if (res.status !== 202 || !body.id) throw new Error(`POST answered ${res.status}: ${body.message}`);
  const { events } = await readSse(`${url}/v1/submissions/${body.id}/events`, undefined);
  const verdict = events.at(-1);
  if (verdict?.event !== 'verdict' || verdict.data.verdict !== 'AC') throw new Error(`expected an AC verdict, got ${JSON.stringify(verdict)}`);
  return performance.now() - t0;
}

async function throughput(d: Deployment): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  const client = async () => { while (next++ < THROUGHPUT) await submitAndWait(d.url); };
  // Twice the slots in flight keeps every slot busy while the next submission is posted.
  await Promise.all(Array.from({ length: d.slots * 2 }, client));
  return (THROUGHPUT / (performance.now() - t0)) * 60_000;
}

async function main(): Promise<void> {
  const deployments: Deployment[] = [];
  try {
    deployments.push(await single(), await cluster(1), await cluster(2));
    for (const d of deployments) { await submitAndWait(d.url); await submitAndWait(d.url); }
    const latency = new Map<string, number[]>(deployments.map((d) => [d.name, []]));
    for (let i = 0; i < SEQUENTIAL; i++) {
      for (const d of deployments) latency.get(d.name)!.push(await submitAndWait(d.url));
    }
    const perMinute = new Map<string, number>();
    for (const d of deployments) perMinute.set(d.name, await throughput(d));

    const lat = (n: string) => quantile(latency.get(n)!, 0.5);
    console.log(`A+B in C++, 10 tests, compile included, over HTTP (${cpus().length} CPUs; pool of 1 per judging node)`);
    console.log(`${''.padEnd(30)} ${'median'.padStart(9)} ${'p90'.padStart(9)} ${'subs/min'.padStart(9)}`);
    const label: Record<string, string> = {
      single: 'single node (SQLite)', cluster1: 'cluster: 1 API + 1 worker', cluster2: 'cluster: 1 API + 2 workers',
    };
    for (const d of deployments) {
      const xs = latency.get(d.name)!;
      console.log(`${label[d.name].padEnd(30)} ${quantile(xs, 0.5).toFixed(0).padStart(6)} ms ${quantile(xs, 0.9).toFixed(0).padStart(6)} ms ${perMinute.get(d.name)!.toFixed(0).padStart(9)}`);
    }
    const latencyRatio = lat('cluster1') / lat('single');
    const scale = perMinute.get('cluster2')! / perMinute.get('cluster1')!;
    console.log(`latency cluster1 / single (median)    ${latencyRatio.toFixed(2)}x   (target <= 1.25x)`);
    console.log(`throughput cluster2 / cluster1        ${scale.toFixed(2)}x   (target >= 1.7x where the cores allow)`);
    console.log(JSON.stringify({
      bench: 'cluster', cpus: cpus().length, samples: SEQUENTIAL, throughputSubmissions: THROUGHPUT,
      medianMs: Object.fromEntries(deployments.map((d) => [d.name, lat(d.name)])),
      perMinute: Object.fromEntries(perMinute), latencyRatio, scale,
    }));
  } finally {
    for (const d of deployments) await d.stop().catch(() => undefined);
  }
}

await main();
