// The one timestamp every entry of a layer carries. Reproducible-builds convention: an explicit
// value wins, then SOURCE_DATE_EPOCH (https://reproducible-builds.org/specs/source-date-epoch/),
// then 0, so nothing about the build machine or the time of day reaches the layer bytes.
import { LayerError } from "./errors.js";

/** tar-stream writes mtime as a signed 32-bit number of seconds; later times would wrap. */
const MAX_EPOCH = 2 ** 31 - 1;

/** Seconds since 1970 to stamp on every entry. */
export function resolveEpoch(explicit?: number | Date, env: NodeJS.ProcessEnv = process.env): number {
  if (explicit !== undefined) {
    const seconds = explicit instanceof Date ? Math.floor(explicit.getTime() / 1000) : explicit;
    return checkEpoch(seconds, String(seconds), "the epoch option");
  }
  const fromEnv = env.SOURCE_DATE_EPOCH;
  if (fromEnv === undefined || fromEnv === "") return 0;
  if (!/^\d+$/.test(fromEnv)) {
    throw new LayerError("LAYER_INVALID_EPOCH", `SOURCE_DATE_EPOCH=${JSON.stringify(fromEnv)} is not a whole number of seconds`, {
      hint: "set SOURCE_DATE_EPOCH to an integer such as $(git log -1 --format=%ct), or unset it to use 0",
    });
  }
  return checkEpoch(Number(fromEnv), fromEnv, "SOURCE_DATE_EPOCH");
}

function checkEpoch(seconds: number, shown: string, where: string): number {
  if (!Number.isInteger(seconds) || seconds < 0 || seconds > MAX_EPOCH) {
    throw new LayerError("LAYER_INVALID_EPOCH", `${where} (${shown}) must be a whole number of seconds between 0 and ${MAX_EPOCH}`, {
      hint: "use a Unix time in seconds, e.g. the commit time from git log -1 --format=%ct",
    });
  }
  return seconds;
}
