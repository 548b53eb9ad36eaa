// Writes openapi.yaml (repo root) from the app's route schemas: `npm run openapi`.
// The document does not depend on configuration or on the judge, so a judge that only answers
// "no languages" is enough to build the app here (nothing is ever judged).
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { configWith } from '../src/config.js';
import type { Judge } from '../src/judge/schema.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { EventHub } from '../src/events/hub.js';
import { Metrics } from '../src/metrics.js';
import { WebhookSender } from '../src/webhook.js';
import { SubmissionQueue } from '../src/queue/index.js';
import { buildApp } from '../src/app.js';
import { renderOpenApi } from '../routes/openapi.js';

/** Renders the document without listening anywhere. */
export async function generateOpenApi(): Promise<string> {
  const config = configWith({ dataDir: ':memory:', logLevel: 'silent' });
  const logger = pino({ level: 'silent' });
  const docOnly: Judge = {
    languages: () => [],
    caps: { timeMs: 1, wallTimeMs: 1, memoryBytes: 1, outputBytes: 1, processes: 1 },
    judge: () => Promise.reject(new Error('documentation build: no judge')),
    run: () => Promise.reject(new Error('documentation build: no judge')),
    pool: () => ({ size: 0, busy: 0 }),
    close: async () => undefined,
  };
  const store = new SqliteStore({ dataDir: ':memory:' });
  const metrics = new Metrics();
  const hub = new EventHub({ telemetryHz: config.telemetryHz });
  const webhooks = new WebhookSender({ secret: '', attempts: 1, backoffMs: 1, timeoutMs: 1, store, logger });
  const queue = new SubmissionQueue({ store, judge: docOnly, hub, metrics, webhooks, logger, queueMax: 1, runQueueMax: 0 });
  const app = buildApp({ config, judge: docOnly, store, queue, hub, metrics, logger });
  try {
    await app.ready();
    return renderOpenApi(app);
  } finally {
    await app.close();
    await store.close();
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const target = fileURLToPath(new URL('../../openapi.yaml', import.meta.url));
  writeFileSync(target, await generateOpenApi());
  process.stdout.write(`wrote ${target}\n`);
}
