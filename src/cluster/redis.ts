// Redis connections of a cluster node, one per way of using Redis:
// - "command": request-path commands. No offline queue and a command timeout, so when Redis is
//   down a request fails at once (503) instead of waiting for a reconnect that may not come.
// - "blocking": XREAD BLOCK loops and BullMQ workers; retries forever, no timeout (a blocked read
//   is not a hang, and the loops handle errors themselves).
// - "subscriber": pub/sub; retries forever.
import { Redis, type RedisOptions } from 'ioredis';
import { StoreUnavailableError } from '../store/unavailable.js';

export type RedisPurpose = 'command' | 'blocking' | 'subscriber';

export function redisOptions(purpose: RedisPurpose): RedisOptions {
  const common: RedisOptions = {
    // Reconnect quickly and keep trying: an outage ends when Redis is back.
    retryStrategy: (times) => Math.min(100 * times, 1000),
    connectionName: `gavel-${purpose}-${process.pid}`,
    lazyConnect: true,
  };
  if (purpose === 'command') return { ...common, enableOfflineQueue: false, maxRetriesPerRequest: 1, commandTimeout: 3000, connectTimeout: 3000 };
  return { ...common, maxRetriesPerRequest: null, enableOfflineQueue: true, connectTimeout: 3000 };
}

/** A connected client; rejects when Redis does not answer within `timeoutMs`. */
export async function connectRedis(url: string, purpose: RedisPurpose, onError: (err: Error) => void, timeoutMs = 10_000): Promise<Redis> {
  const client = new Redis(url, redisOptions(purpose));
  // Without a listener ioredis would print every reconnect failure; the owner logs them (throttled).
  client.on('error', onError);
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      client.connect(),
      new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs); }),
    ]);
  } catch (err) {
    client.disconnect();
    const where = url.replace(/\/\/[^@/]*@/, '//…@');
    throw new Error(`cannot connect to Redis at ${where} (GAVEL_REDIS_URL): ${(err as Error).message}`, { cause: err });
  } finally {
    clearTimeout(timer);
  }
  return client;
}

/** Runs a Redis command of the request path, turning connection failures into StoreUnavailableError. */
export async function redisCall<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof Error && !/^(ERR|WRONGTYPE|NOSCRIPT|BUSY)/.test(err.message)) {
      throw new StoreUnavailableError('redis', err.message, err);
    }
    throw err;
  }
}

/** A logger callback that reports a repeating error once per `everyMs`. */
export function throttled(log: (err: Error) => void, everyMs = 5000): (err: Error) => void {
  let last = 0;
  return (err) => {
    const now = Date.now();
    if (now - last < everyMs) return;
    last = now;
    log(err);
  };
}
