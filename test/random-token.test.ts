import { expect, it } from 'vitest';
import { randomToken } from '../src/auth/secrets.ts';

it('app keys and secrets never start with "-" (they are passed as command-line values); still base64url of the requested size', () => {
  const tokens = Array.from({ length: 5000 }, () => randomToken(16));
  expect(tokens.filter((t) => t.startsWith('-'))).toEqual([]);
  for (const t of tokens.slice(0, 50)) expect(t).toMatch(/^[A-Za-z0-9_][A-Za-z0-9_-]{21}$/);
  expect(new Set(tokens).size).toBe(tokens.length);
});
