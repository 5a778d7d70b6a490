/** Which errors mean "the database is unreachable" (503) and which are bugs (500): no database needed. */
import { describe, expect, it } from 'vitest';
import {
  isUnavailableError,
  StoreUnavailableError,
  toStoreError,
} from '../src/store/postgres/errors.js';

const withCode = (code: string, message = 'x') => Object.assign(new Error(message), { code });

describe('isUnavailableError', () => {
  it.each([
    ['refused', withCode('ECONNREFUSED')],
    ['reset', withCode('ECONNRESET')],
    ['timed out socket', withCode('ETIMEDOUT')],
    ['unknown host', withCode('ENOTFOUND')],
    ['connection failure (08006)', withCode('08006')],
    ['cannot connect now (57P03)', withCode('57P03')],
    ['admin shutdown (57P01)', withCode('57P01')],
    ['too many connections (53300)', withCode('53300')],
    ['pool connect timeout', new Error('timeout exceeded when trying to connect')],
    ['terminated', new Error('Connection terminated unexpectedly')],
    ['client read timeout', new Error('Query read timeout')],
    ['several addresses refused', new AggregateError([withCode('ECONNREFUSED')], 'all failed')],
    ['wrapped', new Error('outer', { cause: withCode('ECONNRESET') })],
    ['already wrapped', new StoreUnavailableError(new Error('x'))],
  ])('%s → unavailable', (_, err) => {
    expect(isUnavailableError(err)).toBe(true);
  });

  it.each([
    ['unique violation (23505)', withCode('23505', 'duplicate key value')],
    ['syntax error (42601)', withCode('42601')],
    [
      'statement timeout (57014)',
      withCode('57014', 'canceling statement due to statement timeout'),
    ],
    ['plain error', new Error('boom')],
    ['not an error', 'ECONNREFUSED'],
    ['null', null],
  ])('%s → not unavailable', (_, err) => {
    expect(isUnavailableError(err)).toBe(false);
  });

  it('toStoreError wraps only the unavailable ones, with the cause kept', () => {
    const refused = withCode('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:5432');
    const wrapped = toStoreError(refused);
    expect(wrapped).toBeInstanceOf(StoreUnavailableError);
    expect(wrapped).toMatchObject({ code: 'unavailable', cause: refused });
    const bug = withCode('23505');
    expect(toStoreError(bug)).toBe(bug);
  });
});
