// Sizes as people read them in plans, progress lines and `inspect` (binary units, one decimal),
// and as they write them in flags and config files.

export function humanSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}

const SIZE_UNITS: Record<string, number> = { "": 1, b: 1, k: 1024, kib: 1024, m: 1024 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gib: 1024 ** 3 };

/** Bytes written as a whole number with an optional binary unit (`128MiB`, `1g`, `4096`); undefined when it is not one. */
export function parseSize(text: string): number | undefined {
  const match = /^\s*(\d+)\s*([a-z]*)\s*$/i.exec(text);
  const unit = match ? SIZE_UNITS[match[2]!.toLowerCase()] : undefined;
  if (!match || unit === undefined) return undefined;
  const bytes = Number(match[1]) * unit;
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}

/** What a size-or-never setting expects, for its error message. */
export const SIZE_OR_NEVER = "a size such as 128MiB, 1GiB or 4096 (bytes), or never";

/** A size as parseSize reads it, or the word `never` (any case); undefined when it is neither. */
export function parseSizeOrNever(text: string): number | "never" | undefined {
  return text.trim().toLowerCase() === "never" ? "never" : parseSize(text);
}
