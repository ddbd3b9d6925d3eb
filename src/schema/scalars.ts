import { builder } from './builder.ts';
import { badInput } from '../errors.ts';

const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z$/;

function parseDateTime(value: unknown): Date {
  if (typeof value !== 'string' || !ISO_UTC.test(value) || Number.isNaN(Date.parse(value))) {
    throw badInput('DateTime must be an ISO-8601 UTC string such as 2026-01-31T12:00:00.000Z');
  }
  return new Date(value);
}

builder.scalarType('DateTime', {
  description: 'ISO-8601 UTC string, millisecond precision',
  serialize: (value) => (value instanceof Date ? value : new Date(value as string)).toISOString(),
  parseValue: parseDateTime,
});
