import { isAbsolute, resolve } from 'node:path';
import { TamtamError } from '../protocol/errors.js';

export type Obj = Record<string, unknown>;

/** Reads one field of a config at a time and says exactly which field is wrong and what it must be. */
export class Checker {
  constructor(private readonly where: string, private readonly baseDir: string) {}

  fail(field: string, want: string, got: unknown): never {
    const shown = got === undefined ? 'nothing' : JSON.stringify(got);
    throw new TamtamError('E_CONFIG', `${this.where}: field "${field}" must be ${want}, got ${shown}; fix it and start again`, { details: { field } });
  }

  /** Runs a check written outside this class, prefixing its E_CONFIG message with which config it is. */
  check<T>(fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      if (e instanceof TamtamError && e.code === 'E_CONFIG') throw new TamtamError('E_CONFIG', `${this.where}: ${e.message}; fix it and start again`, { cause: e });
      throw e;
    }
  }

  object(v: unknown, field: string): Obj {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) this.fail(field, 'an object', v);
    return v as Obj;
  }

  string(o: Obj, key: string, field: string, optional = false): string | undefined {
    const v = o[key];
    if (v === undefined && optional) return undefined;
    if (typeof v !== 'string' || v === '') this.fail(field, 'a non-empty string', v);
    return v as string;
  }

  path(o: Obj, key: string, field: string, fallback?: string): string {
    const v = this.string(o, key, field, fallback !== undefined) ?? fallback!;
    return isAbsolute(v) ? v : resolve(this.baseDir, v);
  }

  integer(o: Obj, key: string, field: string, min: number, max: number, fallback?: number): number {
    const v = o[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) this.fail(field, `a whole number from ${min} to ${max}`, v);
    return v as number;
  }
}
