// What goes wrong with a problem package, as the HTTP status and code the client gets.
// Every message names the package entry at fault where there is one, so a problem setter
// can fix the package without guessing.

export class ProblemError extends Error {
  constructor(
    readonly status: 400 | 404 | 409 | 413 | 415 | 422,
    readonly code: string,
    message: string,
    /** The package entry at fault (a path inside the package), when there is one. */
    readonly entry?: string,
  ) {
    super(message);
    this.name = 'ProblemError';
  }
}

/** A 400 about one entry of the package. */
export function badEntry(code: string, entry: string, why: string): ProblemError {
  return new ProblemError(400, code, `${entry}: ${why}`, entry);
}
