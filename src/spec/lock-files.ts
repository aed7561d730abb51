// Lock files accepted as `requirements` (as flytekit accepts them), told apart by file name. Each
// needs the project's pyproject.toml beside it: uv and Poetry refuse a lock without it.
import { basename, dirname, join } from "node:path";

export type LockKind = "uv.lock" | "poetry.lock";

/** The lock kind a requirements path names; undefined for a requirements.txt-style file. */
export function lockKindOf(path: string): LockKind | undefined {
  const name = basename(path);
  return name === "uv.lock" || name === "poetry.lock" ? name : undefined;
}

/** The pyproject.toml a lock needs, beside it (same form as the lock path: relative stays relative). */
export function pyprojectBeside(lockPath: string): string {
  return join(dirname(lockPath), "pyproject.toml");
}
