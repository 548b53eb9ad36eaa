// Callback delivery: POST the final result to the submission's callbackUrl, signed, retried with
// exponential backoff, entirely in the background (judging never waits on it). Delivery state is
// kept in the store, so callbacks still pending at shutdown or crash are resumed at next start.
import { createHmac } from 'node:crypto';
import type { Logger } from 'pino';
import type { Store } from './store/index.js';
import type { Metrics } from './metrics.js';

export const SIGNATURE_HEADER = 'x-gavel-signature';
const MAX_BACKOFF_MS = 5 * 60_000;

/** `sha256=<hex HMAC-SHA256 of body>`; the value of X-Gavel-Signature. */
export function sign(secret: string, body: string | Buffer): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

export interface WebhookOptions {
  secret: string;
  attempts: number;
  backoffMs: number;
  timeoutMs: number;
  store: Store;
  logger: Logger;
  metrics?: Metrics;
}

export class WebhookSender {
  private readonly inflight = new Set<Promise<void>>();
  private readonly stop = new AbortController();

  constructor(private readonly opts: WebhookOptions) {}

  /** Starts delivering in the background; never throws. */
  deliver(id: string, url: string, payload: unknown, attemptsSoFar = 0): void {
    const p = this.run(id, url, JSON.stringify(payload), attemptsSoFar)
      .catch((err) => this.opts.logger.error({ err, submissionId: id }, 'webhook delivery crashed'))
      .finally(() => this.inflight.delete(p));
    this.inflight.add(p);
  }

  /** Pending deliveries between attempts; for tests and shutdown. */
  get pending(): number {
    return this.inflight.size;
  }

  private async run(id: string, url: string, body: string, attemptsSoFar: number): Promise<void> {
    const { attempts, backoffMs, timeoutMs, secret, store, logger, metrics } = this.opts;
    const log = logger.child({ submissionId: id, callbackUrl: url });
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'user-agent': 'gavel-webhook',
      'x-gavel-submission': id,
    };
    if (secret) headers[SIGNATURE_HEADER] = sign(secret, body);
    for (let attempt = attemptsSoFar + 1; attempt <= attempts; attempt++) {
      if (this.stop.signal.aborted) return;
      let problem: string;
      try {
        const res = await fetch(url, {
          method: 'POST', body, redirect: 'manual',
          headers: { ...headers, 'x-gavel-attempt': String(attempt) },
          signal: AbortSignal.any([AbortSignal.timeout(timeoutMs), this.stop.signal]),
        });
        // The body is irrelevant; read it so the connection can be reused.
        await res.arrayBuffer().catch(() => undefined);
        if (res.ok) {
          metrics?.webhooks.inc({ outcome: 'delivered' });
          await store.setCallbackState(id, 'delivered', attempt).catch(() => undefined);
          log.info({ attempt, status: res.status }, 'webhook delivered');
          return;
        }
        problem = `HTTP ${res.status}`;
      } catch (err) {
        if (this.stop.signal.aborted) return;
        problem = (err as Error).name === 'TimeoutError' ? `timed out after ${timeoutMs} ms` : String((err as Error).cause ?? err);
      }
      if (attempt >= attempts) {
        metrics?.webhooks.inc({ outcome: 'failed' });
        await store.setCallbackState(id, 'failed', attempt).catch(() => undefined);
        log.warn({ attempt, problem }, 'webhook failed; giving up');
        return;
      }
      metrics?.webhooks.inc({ outcome: 'retry' });
      await store.setCallbackState(id, 'pending', attempt).catch(() => undefined);
      const delay = Math.min(MAX_BACKOFF_MS, backoffMs * 2 ** (attempt - 1)) * (0.8 + Math.random() * 0.4);
      log.info({ attempt, problem, retryInMs: Math.round(delay) }, 'webhook attempt failed; will retry');
      await sleep(delay, this.stop.signal);
    }
  }

  /** Stops retrying (pending callbacks stay pending in the store) and waits for in-flight attempts. */
  async close(): Promise<void> {
    this.stop.abort();
    await Promise.allSettled([...this.inflight]);
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
