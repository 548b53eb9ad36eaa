// The error a backend throws when a service it depends on (the database, Redis) cannot be
// reached right now: the request may succeed later, so HTTP answers 503 with Retry-After,
// never 500, and never hangs (backends time out instead).
export class StoreUnavailableError extends Error {
  readonly retryAfterSec = 2;

  constructor(readonly component: 'database' | 'redis' | 'worker', detail: string, cause?: unknown) {
    super(`the ${component} is unavailable (${detail}); retry shortly`, cause === undefined ? undefined : { cause });
    this.name = 'StoreUnavailableError';
  }
}
