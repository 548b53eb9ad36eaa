// The JSON body parser: Fastify's own parser, behind a nesting-depth check. A body of a
// million nested arrays is valid JSON that the schema would reject anyway, but parsing
// it first blocks the event loop for a good part of a second; no request of ours nests
// deeper than a handful of levels.
import type { FastifyInstance } from 'fastify';
import { HttpError } from './errors.js';

export const MAX_JSON_DEPTH = 64;

/** The deepest nesting of objects and arrays in `text`, strings skipped; stops early past `limit`. */
export function jsonDepth(text: string, limit = Infinity): number {
  let depth = 0;
  let max = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      for (i++; i < text.length; i++) {
        const d = text.charCodeAt(i);
        if (d === 0x5c /* \ */) i++;
        else if (d === 0x22) break;
      }
    } else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      if (++depth > max && (max = depth) > limit) return max;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      depth--;
    }
  }
  return max;
}

export function registerJsonParser(app: FastifyInstance): void {
  const parse = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    if (jsonDepth(body as string, MAX_JSON_DEPTH) > MAX_JSON_DEPTH) {
      done(new HttpError(400, 'invalid_json', `the body nests objects or arrays deeper than ${MAX_JSON_DEPTH} levels`), undefined);
      return;
    }
    parse(req, body as string, done);
  });
}
