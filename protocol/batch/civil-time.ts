/**
 * Dates and UTC timestamps as integers, with exact round trips. Integer civil
 * calendar arithmetic (days from 0000-03-01 era formula) avoids the Date
 * object's two-digit-year and time-zone traps.
 */
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const STAMP = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})Z$/;

function daysFromCivil(y: number, m: number, d: number): number {
  y -= m <= 2 ? 1 : 0;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

function civilFromDays(z: number): [number, number, number] {
  z += 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp + (mp < 10 ? 3 : -9);
  return [yoe + era * 400 + (m <= 2 ? 1 : 0), m, d];
}

const pad = (n: number, w: number) => String(n).padStart(w, '0');

function validDay(y: number, m: number, d: number): boolean {
  if (m < 1 || m > 12 || d < 1) return false;
  const leap = (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
  const dim = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m - 1];
  return d <= dim;
}

/** 'YYYY-MM-DD' to days since 1970-01-01, or undefined when not a canonical date. */
export function dateToDays(s: string): number | undefined {
  const m = DATE.exec(s);
  if (!m) return undefined;
  const y = +m[1], mo = +m[2], d = +m[3];
  return validDay(y, mo, d) ? daysFromCivil(y, mo, d) : undefined;
}

export function daysToDate(days: number): string | undefined {
  const [y, m, d] = civilFromDays(days);
  return y >= 0 && y <= 9999 ? `${pad(y, 4)}-${pad(m, 2)}-${pad(d, 2)}` : undefined;
}

/** 'YYYY-MM-DDTHH:MM:SSZ' to seconds since the epoch, or undefined when not canonical. */
export function stampToSeconds(s: string): number | undefined {
  const m = STAMP.exec(s);
  if (!m) return undefined;
  const y = +m[1], mo = +m[2], d = +m[3], h = +m[4], mi = +m[5], se = +m[6];
  if (!validDay(y, mo, d) || h > 23 || mi > 59 || se > 59) return undefined;
  return daysFromCivil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se;
}

export function secondsToStamp(t: number): string | undefined {
  const days = Math.floor(t / 86400);
  const rest = t - days * 86400;
  const date = daysToDate(days);
  if (date === undefined) return undefined;
  return `${date}T${pad(Math.floor(rest / 3600), 2)}:${pad(Math.floor(rest / 60) % 60, 2)}:${pad(rest % 60, 2)}Z`;
}
