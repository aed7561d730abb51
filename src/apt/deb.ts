// `.deb` files: an `ar` archive holding `debian-binary`, `control.tar[.gz|.xz|.zst]` and
// `data.tar[.gz|.xz|.zst|.bz2...]`. The control members are read into memory (they are small);
// the data is unpacked once per package file into the cache, `<cacheDir>/apt/unpacked/<sha256>/`,
// as numbered content files plus a manifest of every entry (path, type, mode, owner, link,
// md5), so a layer can be written from them in any order, in bounded memory, and the next build
// needs no decompression.
import { createHash, randomBytes } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, open, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join, posix } from "node:path";
import { pipeline as pipelineCallback, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { extract as tarExtract } from "tar-stream";
import { compressionOf, decompress } from "./decompress.js";
import { AptError } from "./errors.js";

export interface ArMember {
  readonly name: string;
  readonly offset: number;
  readonly size: number;
}

const AR_MAGIC = "!<arch>\n";

/** The members of an ar archive, in order. */
export async function readArMembers(path: string): Promise<ArMember[]> {
  const handle = await open(path, "r");
  try {
    const { size: total } = await handle.stat();
    const magic = Buffer.alloc(8);
    await handle.read(magic, 0, 8, 0);
    if (magic.toString("latin1") !== AR_MAGIC) throw new AptError("APT_BAD_DEB", `${path} is not an ar archive (no "!<arch>" header)`);
    const members: ArMember[] = [];
    let offset = 8;
    const header = Buffer.alloc(60);
    while (offset + 60 <= total) {
      await handle.read(header, 0, 60, offset);
      if (header.toString("latin1", 58, 60) !== "`\n") throw new AptError("APT_BAD_DEB", `${path}: damaged ar member header at byte ${offset}`);
      const name = header.toString("latin1", 0, 16).trim().replace(/\/$/, "");
      const size = Number(header.toString("latin1", 48, 58).trim());
      if (!Number.isSafeInteger(size) || size < 0 || offset + 60 + size > total) throw new AptError("APT_BAD_DEB", `${path}: ar member ${name} runs past the end of the file`);
      members.push({ name, offset: offset + 60, size });
      offset += 60 + size + (size % 2);
    }
    return members;
  } finally {
    await handle.close();
  }
}

function memberStream(path: string, member: ArMember): Readable {
  return createReadStream(path, { start: member.offset, end: member.offset + member.size - 1 });
}

function findMember(path: string, members: readonly ArMember[], prefix: "control.tar" | "data.tar"): ArMember {
  const member = members.find((m) => m.name === prefix || m.name.startsWith(`${prefix}.`));
  if (member === undefined) throw new AptError("APT_BAD_DEB", `${path} has no ${prefix} member (members: ${members.map((m) => m.name).join(", ")})`);
  if (compressionOf(member.name) === undefined) {
    throw new AptError("APT_BAD_DEB", `${path}: ${member.name} uses a compression imagespec does not read`, { hint: "only gzip, xz, zstd and uncompressed members are supported" });
  }
  return member;
}

/** The control members of a .deb (`control`, `conffiles`, `md5sums`, maintainer scripts, ...), by name. */
export async function readDebControl(path: string): Promise<Map<string, Buffer>> {
  const members = await readArMembers(path);
  const binary = members[0];
  if (binary?.name !== "debian-binary") throw new AptError("APT_BAD_DEB", `${path}: the first member is not debian-binary`);
  const member = findMember(path, members, "control.tar");
  const out = new Map<string, Buffer>();
  const extract = tarExtract();
  pipelineCallback(decompress(memberStream(path, member), compressionOf(member.name)!, `${path} ${member.name}`), extract, () => {});
  for await (const entry of extract) {
    const name = posix.normalize(entry.header.name).replace(/^(\.\/)+/, "").replace(/\/$/, "");
    if (entry.header.type === "file" && !name.includes("/") && name !== "." && name !== "") {
      const chunks: Buffer[] = [];
      for await (const chunk of entry) chunks.push(chunk as Buffer);
      out.set(name, Buffer.concat(chunks));
    } else {
      entry.resume();
    }
  }
  if (!out.has("control")) throw new AptError("APT_BAD_DEB", `${path}: control.tar has no control file`);
  return out;
}

export type DataEntryType = "file" | "dir" | "symlink" | "hardlink";

export interface DataEntry {
  /** Path from the package root without leading `./` or `/`: `usr/bin/jq`. */
  readonly path: string;
  readonly type: DataEntryType;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly size?: number;
  /** Symlink text, or the hardlink's target path (from the package root). */
  readonly linkTarget?: string;
  /** Content file under the unpacked folder's `blobs/` (files only). */
  readonly blob?: string;
  /** md5 of a file's content (dpkg's md5sums and Conffiles use it). */
  readonly md5?: string;
}

export interface UnpackedDeb {
  readonly dir: string;
  /** Entries in the order of the package's data.tar. */
  readonly entries: readonly DataEntry[];
}

/** Bump when the unpacked layout changes. */
const UNPACK_FORMAT = 1;

export function blobPath(unpacked: UnpackedDeb, entry: DataEntry): string {
  return join(unpacked.dir, "blobs", entry.blob!);
}

async function readUnpacked(dir: string): Promise<UnpackedDeb | undefined> {
  try {
    const manifest = JSON.parse(await readFile(join(dir, "manifest.json"), "utf8")) as { format: number; entries: DataEntry[] };
    if (manifest.format === UNPACK_FORMAT && Array.isArray(manifest.entries)) return { dir, entries: manifest.entries };
  } catch {
    // not unpacked (completely) yet
  }
  return undefined;
}

const unpacking = new Map<string, Promise<UnpackedDeb>>();

/**
 * The package's data, unpacked into the cache (or found there), keyed by the .deb's sha256. Two
 * platforms of one build share arch-all packages: one unpacks, the other waits for it; another
 * process unpacking the same package meanwhile is fine too (whoever renames first wins).
 */
export function unpackDeb(path: string, sha256: string, cacheDir: string): Promise<UnpackedDeb> {
  const dir = join(cacheDir, "apt", "unpacked", sha256);
  let running = unpacking.get(dir);
  if (running === undefined) {
    running = unpackOnce(path, dir).finally(() => unpacking.delete(dir));
    unpacking.set(dir, running);
  }
  return running;
}

async function unpackOnce(path: string, dir: string): Promise<UnpackedDeb> {
  const existing = await readUnpacked(dir);
  if (existing !== undefined) return existing;
  const temp = `${dir}.${randomBytes(6).toString("hex")}.tmp`;
  await mkdir(join(temp, "blobs"), { recursive: true });
  try {
    const members = await readArMembers(path);
    const member = findMember(path, members, "data.tar");
    const entries: DataEntry[] = [];
    const extract = tarExtract();
    pipelineCallback(decompress(memberStream(path, member), compressionOf(member.name)!, `${path} ${member.name}`), extract, () => {});
    let n = 0;
    for await (const entry of extract) {
      const h = entry.header;
      const clean = posix.normalize(`/${h.name}`).replace(/(.)\/+$/, "$1");
      if (clean === "/") {
        entry.resume();
        continue;
      }
      const rel = clean.slice(1);
      if (rel.split("/").includes("..")) throw new AptError("APT_BAD_DEB", `${path}: data entry ${JSON.stringify(h.name)} leaves the root`);
      const common = { path: rel, mode: (h.mode ?? 0o644) & 0o7777, uid: h.uid ?? 0, gid: h.gid ?? 0 };
      if (h.type === "directory") {
        entries.push({ ...common, type: "dir" });
        entry.resume();
      } else if (h.type === "symlink") {
        entries.push({ ...common, type: "symlink", linkTarget: h.linkname ?? "" });
        entry.resume();
      } else if (h.type === "link") {
        entries.push({ ...common, type: "hardlink", linkTarget: posix.normalize(`/${h.linkname ?? ""}`).slice(1) });
        entry.resume();
      } else if (h.type === "file" || h.type === "contiguous-file") {
        const blob = String(n++);
        const md5 = createHash("md5");
        let size = 0;
        entry.on("data", (chunk: unknown) => {
          md5.update(chunk as Buffer);
          size += (chunk as Buffer).length;
        });
        await pipeline(entry, createWriteStream(join(temp, "blobs", blob)));
        entries.push({ ...common, type: "file", size, blob, md5: md5.digest("hex") });
      } else {
        throw new AptError("APT_BAD_DEB", `${path}: data entry ${rel} is a ${h.type}, which a layer cannot hold`);
      }
    }
    await writeFile(join(temp, "manifest.json"), JSON.stringify({ format: UNPACK_FORMAT, entries }));
    try {
      await rename(temp, dir);
    } catch {
      // Another process got there first (its copy is the same), or an incomplete leftover is in the way.
      const theirs = await readUnpacked(dir);
      if (theirs !== undefined) return theirs;
      await rm(dir, { recursive: true, force: true });
      await rename(temp, dir);
    }
    return { dir, entries };
  } finally {
    await rm(temp, { recursive: true, force: true });
  }
}
