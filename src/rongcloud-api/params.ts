import { isUtf8 } from 'node:buffer';
import { RestError } from './responses.ts';

/**
 * A request's parameters as RongCloud's SDKs send them: `application/x-www-form-urlencoded` UTF-8
 * (decoded by the platform's WHATWG URLSearchParams), object fields as JSON text in one field, list
 * fields as repeated keys or comma-joined (both accepted, also mixed). The Python SDK sends a JSON
 * body instead whenever its body parses as JSON: a JSON object is accepted too.
 */
export class Params {
  private constructor(private readonly values: Map<string, unknown[]>) {}

  static parse(body: Buffer, contentType: string | undefined): Params {
    if (!isUtf8(body)) throw new RestError(1002, 'the request body is not UTF-8');
    const text = body.toString('utf8');
    const type = contentType?.split(';', 1)[0]!.trim().toLowerCase();
    const values = new Map<string, unknown[]>();
    if (type === 'application/json') {
      let parsed: unknown;
      try {
        parsed = text.trim() === '' ? {} : JSON.parse(text);
      } catch {
        throw new RestError(1002, 'the request body is not valid JSON');
      }
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new RestError(1002, 'the JSON request body must be an object');
      for (const [key, value] of Object.entries(parsed)) values.set(key, Array.isArray(value) ? value : [value]);
    } else {
      for (const [key, value] of new URLSearchParams(text)) {
        const list = values.get(key);
        if (list) list.push(value);
        else values.set(key, [value]);
      }
    }
    return new Params(values);
  }

  /** One text value; repeated keys or a list where one value belongs are refused. */
  text(name: string, { required = false } = {}): string | undefined {
    const all = this.values.get(name);
    if (!all || all.length === 0 || all[0] === null) {
      if (required) throw new RestError(1002, `${name} is required`);
      return undefined;
    }
    if (all.length > 1) throw new RestError(1002, `${name} takes one value; got ${all.length}`);
    const value = all[0];
    if (typeof value === 'string') return value;
    if (typeof value === 'number' || typeof value === 'boolean') return String(value);
    throw new RestError(1002, `${name} must be text`);
  }

  /** A whole number (form text or a JSON number). */
  integer(name: string, options: { required?: boolean } = {}): number | undefined {
    const text = this.text(name, options);
    if (text === undefined) return undefined;
    if (!/^-?\d{1,16}$/.test(text.trim())) throw new RestError(1002, `${name} must be a whole number; got ${JSON.stringify(text.slice(0, 40))}`);
    return Number(text.trim());
  }

  /** A list: every repeated value, each split at commas (empty items dropped). */
  list(name: string, { required = false } = {}): string[] {
    const items: string[] = [];
    for (const value of this.values.get(name) ?? []) {
      if (value === null || value === undefined) continue;
      if (typeof value !== 'string' && typeof value !== 'number') throw new RestError(1002, `${name} must be a list of ids`);
      for (const item of String(value).split(',')) if (item.trim() !== '') items.push(item.trim());
    }
    if (required && items.length === 0) throw new RestError(1002, `${name} is required`);
    return items;
  }

  /** An object sent as JSON text (or, in a JSON body, as an object). */
  object(name: string): Record<string, unknown> | undefined {
    const all = this.values.get(name);
    if (!all || all.length === 0 || all[0] === null || all[0] === '') return undefined;
    if (all.length > 1) throw new RestError(1002, `${name} takes one value; got ${all.length}`);
    let value = all[0];
    if (typeof value === 'string') {
      try {
        value = JSON.parse(value);
      } catch {
        throw new RestError(1002, `${name} must be a JSON object`);
      }
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new RestError(1002, `${name} must be a JSON object`);
    return value as Record<string, unknown>;
  }
}
