// PostgreSQL errors that are the database's storage failing become StorageError (as the
// SQLite store's do); every other error, a request's own mistake included, stays as it is.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { StorageError } from '../../src/store/index.js';
import { pgStorageFault } from '../../src/store/pg-faults.js';

/** An error as node-postgres builds it from a server's ErrorResponse. */
function serverError(code: string, message: string): pg.DatabaseError {
  const e = new pg.DatabaseError(message, message.length, 'error');
  e.code = code;
  return e;
}

test('disk_full (53100) is a StorageError "full"', () => {
  const err = serverError('53100', 'could not extend file "base/16384/16385": No space left on device');
  const f = pgStorageFault(err);
  assert.ok(f instanceof StorageError);
  assert.equal(f.kind, 'full');
  assert.equal(f.cause, err);
  assert.match(f.message, /disk is full \(53100: could not extend file/);
});

test('the rest of class 53, read_only_sql_transaction and io_error are StorageError "unavailable"', () => {
  for (const code of ['53000', '53200', '53300', '53400', '25006', '58030']) {
    const f = pgStorageFault(serverError(code, `failure ${code}`));
    assert.ok(f instanceof StorageError, code);
    assert.equal(f.kind, 'unavailable', code);
    assert.match(f.message, new RegExp(`${code}: failure ${code}`));
  }
});

test('other errors are unchanged: a constraint, a syntax error, another class 25, a socket error, a StorageError', () => {
  for (const code of ['23505', '42601', '25P02', '57P01', '08006']) {
    const err = serverError(code, 'x');
    assert.equal(pgStorageFault(err), err, code);
  }
  const socket = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
  assert.equal(pgStorageFault(socket), socket);
  const already = new StorageError('full', 'full');
  assert.equal(pgStorageFault(already), already);
  assert.equal(pgStorageFault('not an error'), 'not an error');
});
