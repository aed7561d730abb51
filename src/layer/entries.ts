// What goes into a layer, and the canonical order it is written in. Planning turns a caller's
// list (any order, paths written any way) into the one list a layer is built from: paths
// normalised and checked, parent directories made explicit, hardlink groups arranged so the
// content always comes first, and everything sorted bytewise. Two lists naming the same tree
// plan to the same result, which is what makes the tar bytes reproducible.
import type { Readable } from "node:stream";
import { LayerError } from "./errors.js";

export type EntryType = "file" | "dir" | "symlink" | "hardlink";

export interface LayerEntry {
  /** POSIX path inside the image; a leading slash, `./` and doubled slashes are ignored. */
  path: string;
  type: EntryType;
  /** Permission bits including setuid, setgid and sticky (file-type bits, as in stat's mode, are dropped). */
  mode: number;
  uid?: number;
  gid?: number;
  /** Content length of a file. Required with `open`; read from disk for `source` when absent. */
  size?: number;
  /** Symlink: the link text, kept as written. Hardlink: the path of a file in the same layer. */
  linkTarget?: string;
  /** File content, streamed. Called once, when the entry is written. */
  open?(): Readable | Promise<Readable>;
  /** Host path whose content is the file's content, used when `open` is absent. */
  source?: string;
}

/** An entry as it is written: normalised path, owner resolved, parents present. */
export interface PlannedEntry {
  readonly path: string;
  readonly type: EntryType;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly size?: number;
  readonly linkTarget?: string;
  readonly open?: () => Readable | Promise<Readable>;
  readonly source?: string;
}

const PERMISSION_BITS = 0o7777;
const IMPLICIT_DIR_MODE = 0o755;

/** `/usr//bin/./env` -> `usr/bin/env`; rejects `..`, NUL and the root itself. */
export function normaliseEntryPath(path: string): string {
  if (path.includes("\0")) {
    throw new LayerError("LAYER_INVALID_PATH", `layer path ${JSON.stringify(path)} contains a NUL byte`);
  }
  const parts = path.split("/").filter((part) => part !== "" && part !== ".");
  if (parts.includes("..")) {
    throw new LayerError("LAYER_INVALID_PATH", `layer path ${JSON.stringify(path)} contains "..", which could escape the image root`, {
      hint: "write the path from the image root, e.g. usr/lib/x instead of usr/bin/../lib/x",
    });
  }
  if (parts.length === 0) {
    throw new LayerError("LAYER_INVALID_PATH", `layer path ${JSON.stringify(path)} names the image root, which is not an entry`, {
      hint: "list the files and directories under the root instead",
    });
  }
  return parts.join("/");
}

/** Bytewise order of the UTF-8 encoding, as tar readers and other image builders see names. */
export function compareBytewise(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

/** Validates and orders entries; throws a LayerError naming the first offending path. */
export function planEntries(entries: Iterable<LayerEntry>): PlannedEntry[] {
  const byPath = new Map<string, PlannedEntry>();
  for (const entry of entries) {
    const planned = checkEntry(entry);
    if (byPath.has(planned.path)) {
      throw new LayerError("LAYER_DUPLICATE_PATH", `layer path ${JSON.stringify(planned.path)} is listed more than once`, {
        hint: "each path may appear once per layer; remove or merge the duplicate",
      });
    }
    byPath.set(planned.path, planned);
  }
  addParentDirectories(byPath);
  arrangeHardlinks(byPath);
  return [...byPath.values()].sort((a, b) => compareBytewise(a.path, b.path));
}

function checkEntry(entry: LayerEntry): PlannedEntry {
  const path = normaliseEntryPath(entry.path);
  const invalid = (problem: string, hint?: string) =>
    new LayerError("LAYER_INVALID_ENTRY", `layer entry ${JSON.stringify(path)}: ${problem}`, hint === undefined ? {} : { hint });

  if (!["file", "dir", "symlink", "hardlink"].includes(entry.type)) {
    throw invalid(`unknown type ${JSON.stringify(entry.type)}`, 'use "file", "dir", "symlink" or "hardlink"');
  }
  if (!Number.isInteger(entry.mode) || entry.mode < 0) throw invalid(`mode ${String(entry.mode)} is not a permission number`);
  const uid = entry.uid ?? 0;
  const gid = entry.gid ?? 0;
  for (const [name, id] of [["uid", uid], ["gid", gid]] as const) {
    if (!Number.isSafeInteger(id) || id < 0) throw invalid(`${name} ${String(id)} is not a non-negative integer`);
  }
  const base = { path, type: entry.type, mode: entry.mode & PERMISSION_BITS, uid, gid };

  if (entry.type !== "file" && (entry.open !== undefined || entry.source !== undefined || (entry.size ?? 0) !== 0)) {
    throw invalid(`a ${entry.type} has no content; open, source and size belong to files`);
  }
  switch (entry.type) {
    case "dir":
      return base;
    case "symlink":
      if (!entry.linkTarget || entry.linkTarget.includes("\0")) throw invalid("a symlink needs a linkTarget (non-empty, no NUL)");
      return { ...base, linkTarget: entry.linkTarget };
    case "hardlink":
      if (!entry.linkTarget) throw invalid("a hardlink needs a linkTarget: the path of a file in the same layer");
      return { ...base, linkTarget: normaliseEntryPath(entry.linkTarget) };
    case "file": {
      const { size, open, source } = entry;
      if (size !== undefined && (!Number.isSafeInteger(size) || size < 0)) throw invalid(`size ${String(size)} is not a byte count`);
      if (open !== undefined && size === undefined) {
        throw invalid("size is required when the content comes from open()", "tar headers carry the size before the content; pass the byte count");
      }
      if (open === undefined && source === undefined && (size ?? 0) !== 0) {
        throw invalid(`size is ${String(size)} but no content was given`, "add open() or source, or drop size for an empty file");
      }
      return {
        ...base,
        ...(size !== undefined ? { size } : open === undefined && source === undefined ? { size: 0 } : {}),
        ...(open !== undefined ? { open } : {}),
        ...(source !== undefined ? { source } : {}),
      };
    }
  }
}

/** Every ancestor becomes an explicit directory entry so extraction never invents one with host defaults. */
function addParentDirectories(byPath: Map<string, PlannedEntry>): void {
  for (const path of [...byPath.keys()]) {
    let slash = path.lastIndexOf("/");
    while (slash > 0) {
      const parent = path.slice(0, slash);
      const existing = byPath.get(parent);
      if (existing === undefined) {
        byPath.set(parent, { path: parent, type: "dir", mode: IMPLICIT_DIR_MODE, uid: 0, gid: 0 });
      } else if (existing.type !== "dir") {
        throw new LayerError("LAYER_INVALID_ENTRY", `layer entry ${JSON.stringify(path)} is inside ${JSON.stringify(parent)}, which is a ${existing.type}, not a directory`, {
          hint: existing.type === "symlink" ? "list the entry under the directory the symlink points to" : "a path cannot be both a file and a directory",
        });
      } else {
        break; // an existing directory's own ancestors are handled when it is visited
      }
      slash = parent.lastIndexOf("/");
    }
  }
}

/**
 * A hardlink must follow the entry that carries the content, and the bytes must not depend on
 * which name the caller happened to call the file. So in each group of names for one file the
 * bytewise-first name carries the content and every other name links to it, with the file's
 * mode and owner (they share an inode).
 */
function arrangeHardlinks(byPath: Map<string, PlannedEntry>): void {
  const groups = new Map<string, string[]>();
  for (const entry of byPath.values()) {
    if (entry.type !== "hardlink") continue;
    const file = resolveHardlink(entry, byPath);
    const names = groups.get(file) ?? [file];
    names.push(entry.path);
    groups.set(file, names);
  }
  for (const [file, names] of groups) {
    const content = byPath.get(file)!;
    const [carrier, ...links] = names.sort(compareBytewise) as [string, ...string[]];
    byPath.set(carrier, { ...content, path: carrier });
    for (const link of links) {
      byPath.set(link, { path: link, type: "hardlink", mode: content.mode, uid: content.uid, gid: content.gid, linkTarget: carrier });
    }
  }
}

function resolveHardlink(entry: PlannedEntry, byPath: Map<string, PlannedEntry>): string {
  const seen = new Set([entry.path]);
  let target = entry.linkTarget!;
  for (;;) {
    const next = byPath.get(target);
    if (next === undefined || (next.type !== "file" && next.type !== "hardlink")) {
      throw new LayerError("LAYER_INVALID_ENTRY", `hardlink ${JSON.stringify(entry.path)} points to ${JSON.stringify(target)}, which is not a file in this layer`, {
        hint: "a hardlink can only name a regular file listed in the same layer; use a symlink for anything else",
      });
    }
    if (next.type === "file") return target;
    if (seen.has(target)) {
      throw new LayerError("LAYER_INVALID_ENTRY", `hardlink ${JSON.stringify(entry.path)} is part of a cycle of hardlinks`);
    }
    seen.add(target);
    target = next.linkTarget!;
  }
}
