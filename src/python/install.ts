// A wheel installed into layer entries, as `pip install` would lay it out, without running
// anything: root files to purelib or platlib (Root-Is-Purelib), `<name>.data/<key>/...` to the
// scheme, `#!python` scripts pointed at the image's interpreter, launchers for console and GUI
// scripts, INSTALLER, and a RECORD that describes exactly what was installed.
//
// Like pip, zip members are always regular files (a member a zip tool marked as a symlink is
// installed as the file holding its link text), and empty directories are not installed.
//
// Content is never held whole: members are streamed from the zip when the layer writer opens
// them, checked on the way against the hash the wheel's RECORD claims. Only members whose final
// hash is not in RECORD (rewritten scripts, unlisted files) are read once here to hash them.
import { createHash, type Hash } from "node:crypto";
import { posix } from "node:path";
import { Readable } from "node:stream";
import type { LayerEntry } from "../layer/entries.js";
import { parseScriptEntryPoints, launcherScript, shebang, type ScriptEntryPoint } from "./entry-points.js";
import { PythonError } from "./errors.js";
import { nodeHashName, RECORD_ALGORITHMS, recordMismatch, ReplaceHeadStream, through, VerifyingStream } from "./member-streams.js";
import { formatRecord, parseRecord, parseRecordHash, recordHash, type RecordRow } from "./record.js";
import { checkInstallTarget, SCHEME_KEYS, type InstallTarget, type SchemeKey } from "./scheme.js";
import { WheelArchive, type ArchiveMember } from "./wheel-archive.js";
import { normalizeProjectName, parseWheelFilename } from "./wheel-filename.js";

/** A wheel on disk; the file name carries the tags (cached files are named by digest). */
export interface WheelFile {
  readonly path: string;
  readonly filename: string;
}

export interface InstalledWheel {
  /** PEP 503 normalised name, e.g. `typing-extensions`. */
  readonly project: string;
  readonly version: string;
  /** Absolute image path of the installed `.dist-info` directory. */
  readonly distInfo: string;
  /** Files to lay into the layer, sorted by path; parent directories are left to the layer writer. */
  readonly entries: readonly LayerEntry[];
  /** Absolute image paths of the executables installed into the scripts directory. */
  readonly scripts: readonly string[];
}

/** What INSTALLER says, so `pip list` and auditors can tell who put a package there. */
export const INSTALLER_NAME = "imagespec";

const FILE_MODE = 0o644;
const EXECUTABLE_MODE = 0o755;
const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const PYTHON_SHEBANG = Buffer.from("#!python");
/** A `#!python` line longer than this is not a shebang but a broken file. */
const MAX_FIRST_LINE = 1 << 20;

export async function installWheel(wheel: WheelFile, target: InstallTarget): Promise<InstalledWheel> {
  const name = parseWheelFilename(wheel.filename);
  checkInstallTarget(target);
  const what = wheel.filename;
  const archive = await WheelArchive.open(wheel.path, what);

  const distInfoName = findDistInfo(archive, name.project, what);
  const wheelMetadata = parseHeaderFields((await readRequired(archive, `${distInfoName}/WHEEL`, what)).toString("utf8"));
  checkWheelVersion(wheelMetadata.get("wheel-version"), what);
  const rootIsPurelib = (wheelMetadata.get("root-is-purelib") ?? "").toLowerCase() === "true";
  const libDir = rootIsPurelib ? target.scheme.purelib : target.scheme.platlib;
  const claimed = new Map<string, RecordRow>();
  for (const row of parseRecord((await readRequired(archive, `${distInfoName}/RECORD`, what)).toString("utf8"))) claimed.set(row.path, row);
  const entryPointsFile = archive.member(`${distInfoName}/entry_points.txt`);
  const entryPoints = entryPointsFile ? parseScriptEntryPoints((await archive.readMember(entryPointsFile.name)).toString("utf8"), what) : [];
  const launcherNames = new Set(entryPoints.map((e) => e.name));
  const projectDirName = distInfoName.slice(0, distInfoName.indexOf("-"));

  const installed = new Installed(libDir, what);
  const generatedByUs = new Set([`${distInfoName}/RECORD`, `${distInfoName}/INSTALLER`]);
  for (const member of archive.members) {
    if (member.isDirectory || generatedByUs.has(member.name)) continue;
    const place = destination(member.name, libDir, target, projectDirName, what);
    // setuptools may ship its own wrappers for entry points; pip drops them for its launchers.
    if (place.key === "scripts" && launcherNames.has(wrapperTarget(posix.basename(place.path)))) continue;
    const row = claimed.get(member.name);
    if (row?.size && Number(row.size) !== member.size) {
      throw new PythonError("WHEEL_RECORD_MISMATCH", `${what}: ${member.name} is ${member.size} bytes, but the wheel's RECORD says ${row.size}`, {
        hint: "the wheel is damaged or was altered after it was built; download it again",
      });
    }
    const claimedHash = usableHash(row?.hash);
    if (place.key === "scripts") {
      installed.add(await scriptEntry(archive, member, place.path, claimedHash, target.interpreter, what), true);
    } else if (claimedHash?.algorithm === "sha256") {
      installed.add(memberEntry(archive, member, place.path, claimedHash, claimedHash.hex, what), false);
    } else {
      const scan = await scanMember(archive, member.name, claimedHash, false, what);
      installed.add(memberEntry(archive, member, place.path, { algorithm: "sha256", hex: scan.sha256 }, scan.sha256, what), false);
    }
  }
  for (const entry of uniqueByName(entryPoints)) {
    installed.addGenerated(posix.join(target.scheme.scripts, entry.name), Buffer.from(launcherScript(entry, target.interpreter)), EXECUTABLE_MODE, true);
  }
  const distInfo = posix.join(libDir, distInfoName);
  installed.addGenerated(posix.join(distInfo, "INSTALLER"), Buffer.from(`${INSTALLER_NAME}\n`), FILE_MODE, false);
  installed.addRecord(posix.join(distInfo, "RECORD"));

  return { project: name.project, version: name.version, distInfo, entries: installed.sortedEntries(), scripts: installed.scripts() };
}

/** Collects entries and their RECORD rows, refusing two files at one path. */
class Installed {
  private readonly entries = new Map<string, LayerEntry>();
  private readonly rows: RecordRow[] = [];
  private readonly scriptPaths: string[] = [];

  constructor(
    private readonly libDir: string,
    private readonly what: string,
  ) {}

  add(file: { entry: LayerEntry; sha256: string }, isScript: boolean): void {
    const { entry } = file;
    if (this.entries.has(entry.path)) {
      throw new PythonError("WHEEL_INVALID", `${this.what} installs two files to ${entry.path}`, { hint: "the wheel is malformed; rebuild it" });
    }
    this.entries.set(entry.path, entry);
    this.rows.push({ path: posix.relative(this.libDir, entry.path), hash: recordHash(file.sha256), size: String(entry.size ?? 0) });
    if (isScript) this.scriptPaths.push(entry.path);
  }

  addGenerated(path: string, content: Buffer, mode: number, isScript: boolean): void {
    this.add({ entry: bufferEntry(path, content, mode), sha256: createHash("sha256").update(content).digest("hex") }, isScript);
  }

  /** RECORD lists itself without a hash, as the spec requires. */
  addRecord(path: string): void {
    const text = formatRecord([...this.rows, { path: posix.relative(this.libDir, path), hash: "", size: "" }]);
    this.entries.set(path, bufferEntry(path, Buffer.from(text, "utf8"), FILE_MODE));
  }

  sortedEntries(): LayerEntry[] {
    return [...this.entries.values()].sort((a, b) => Buffer.compare(Buffer.from(a.path), Buffer.from(b.path)));
  }

  scripts(): string[] {
    return [...this.scriptPaths].sort();
  }
}

function bufferEntry(path: string, content: Buffer, mode: number): LayerEntry {
  return { path, type: "file", mode, size: content.length, open: () => Readable.from([content]) };
}

type Hashed = { algorithm: string; hex: string };

function usableHash(field: string | undefined): Hashed | undefined {
  const parsed = field ? parseRecordHash(field) : undefined;
  return parsed && RECORD_ALGORITHMS.has(parsed.algorithm) ? parsed : undefined;
}

function memberMode(member: ArchiveMember): number {
  const mode = member.unixMode;
  const isRegular = mode !== undefined && ((mode & S_IFMT) === S_IFREG || (mode & S_IFMT) === 0);
  return isRegular && (mode & 0o111) !== 0 ? EXECUTABLE_MODE : FILE_MODE;
}

/** A member copied as is; its bytes are checked against `verify` as the layer writer reads them. */
function memberEntry(archive: WheelArchive, member: ArchiveMember, path: string, verify: Hashed, sha256: string, what: string): { entry: LayerEntry; sha256: string } {
  const label = `${what}: ${member.name}`;
  return {
    entry: {
      path,
      type: "file",
      mode: memberMode(member),
      size: member.size,
      open: async () => through(await archive.openMember(member.name), new VerifyingStream(verify.algorithm, verify.hex, label)),
    },
    sha256,
  };
}

/**
 * A `.data/scripts` member. Like pip, a first line starting with `#!python` is replaced by a
 * shebang for the image's interpreter. Scripts are made executable whatever the zip says:
 * a wheel built on Windows carries no modes, and a script that cannot run is of no use.
 */
async function scriptEntry(
  archive: WheelArchive,
  member: ArchiveMember,
  path: string,
  claimed: Hashed | undefined,
  interpreter: string,
  what: string,
): Promise<{ entry: LayerEntry; sha256: string }> {
  const prefix = Buffer.from(shebang(interpreter));
  const scan = await scanMember(archive, member.name, claimed, prefix, what);
  const original: Hashed = { algorithm: "sha256", hex: scan.sha256 };
  const label = `${what}: ${member.name}`;
  if (scan.rewrittenSha256 === undefined || scan.firstLineLength === undefined) {
    return { entry: { ...memberEntry(archive, member, path, original, scan.sha256, what).entry, mode: EXECUTABLE_MODE }, sha256: scan.sha256 };
  }
  const skip = scan.firstLineLength;
  return {
    entry: {
      path,
      type: "file",
      mode: EXECUTABLE_MODE,
      size: member.size - skip + prefix.length,
      open: async () =>
        through(through(await archive.openMember(member.name), new VerifyingStream("sha256", original.hex, label)), new ReplaceHeadStream(skip, prefix)),
    },
    sha256: scan.rewrittenSha256,
  };
}

interface MemberScan {
  sha256: string;
  /** Bytes of a `#!python` first line, newline included (only when a shebang prefix was given). */
  firstLineLength?: number;
  /** sha256 of the content with that first line replaced. */
  rewrittenSha256?: string;
}

/** One streaming pass over a member: its sha256, the RECORD check, and (for scripts) the `#!python` line. */
async function scanMember(archive: WheelArchive, name: string, claimed: Hashed | undefined, shebangPrefix: Buffer | false, what: string): Promise<MemberScan> {
  const sha256 = createHash("sha256");
  const check = claimed && claimed.algorithm !== "sha256" ? createHash(nodeHashName(claimed.algorithm)) : undefined;
  let head: Buffer = Buffer.alloc(0);
  let decided = shebangPrefix === false;
  let firstLineLength: number | undefined;
  let rewritten: Hash | undefined;

  const decide = (atEnd: boolean): void => {
    const comparable = Math.min(head.length, PYTHON_SHEBANG.length);
    if (!head.subarray(0, comparable).equals(PYTHON_SHEBANG.subarray(0, comparable))) {
      decided = true;
      return;
    }
    if (head.length < PYTHON_SHEBANG.length && !atEnd) return;
    if (head.length < PYTHON_SHEBANG.length) {
      decided = true;
      return;
    }
    const newline = head.indexOf(0x0a);
    if (newline < 0 && !atEnd) {
      if (head.length > MAX_FIRST_LINE) throw new PythonError("WHEEL_INVALID", `${what}: ${name} starts with #!python but its first line never ends`);
      return;
    }
    decided = true;
    firstLineLength = newline < 0 ? head.length : newline + 1;
    rewritten = createHash("sha256").update(shebangPrefix as Buffer).update(head.subarray(firstLineLength));
  };

  for await (const chunk of await archive.openMember(name)) {
    const bytes = chunk as Buffer;
    sha256.update(bytes);
    check?.update(bytes);
    if (decided) {
      rewritten?.update(bytes);
      continue;
    }
    head = Buffer.concat([head, bytes]);
    decide(false);
  }
  if (!decided) decide(true);

  const hex = sha256.digest("hex");
  if (claimed) {
    const actual = check ? check.digest("hex") : hex;
    if (actual !== claimed.hex) throw recordMismatch(`${what}: ${name}`, claimed.algorithm, claimed.hex, actual);
  }
  return {
    sha256: hex,
    ...(firstLineLength !== undefined && rewritten !== undefined ? { firstLineLength, rewrittenSha256: rewritten.digest("hex") } : {}),
  };
}

/** The one top-level `.dist-info` directory, which must belong to the project the file name says. */
function findDistInfo(archive: WheelArchive, project: string, what: string): string {
  const candidates = new Set<string>();
  for (const member of archive.members) {
    const slash = member.name.indexOf("/");
    if (slash > 0 && member.name.slice(0, slash).endsWith(".dist-info")) candidates.add(member.name.slice(0, slash));
  }
  if (candidates.size !== 1) {
    throw new PythonError("WHEEL_INVALID", `${what}: expected one .dist-info directory, found ${candidates.size === 0 ? "none" : [...candidates].join(", ")}`, {
      hint: "the file is not a valid wheel; rebuild it with a PEP 427 build backend",
    });
  }
  const [distInfo] = candidates as unknown as [string];
  const stem = distInfo.slice(0, -".dist-info".length);
  if (!normalizeProjectName(stem).startsWith(`${project}-`)) {
    throw new PythonError("WHEEL_INVALID", `${what}: the .dist-info directory ${JSON.stringify(distInfo)} does not belong to project ${JSON.stringify(project)}`, {
      hint: "the wheel's file name and its metadata disagree; rebuild it or use the file name its build produced",
    });
  }
  return distInfo;
}

async function readRequired(archive: WheelArchive, name: string, what: string): Promise<Buffer> {
  if (!archive.member(name)) throw new PythonError("WHEEL_INVALID", `${what}: ${name} is missing`, { hint: "the file is not a valid wheel; rebuild it" });
  return archive.readMember(name);
}

/** `Key: value` lines of WHEEL (email header style); keys lower-cased. */
function parseHeaderFields(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const colon = line.indexOf(":");
    if (colon > 0 && !/^\s/.test(line)) fields.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return fields;
}

function checkWheelVersion(version: string | undefined, what: string): void {
  const major = version === undefined ? NaN : Number(version.split(".")[0]);
  if (major !== 1) {
    throw new PythonError("WHEEL_INVALID", `${what}: Wheel-Version ${version === undefined ? "is missing" : `${version} is not supported (only 1.x)`}`, {
      hint: "the wheel was built for a newer installer format; use an older release of the package or the Dockerfile builder",
    });
  }
}

type Place = { path: string; key: SchemeKey | "root" };

/** Where a member goes: the library directory, or a scheme directory for `<anything>.data/<key>/...` (as pip decides). */
function destination(member: string, libDir: string, target: InstallTarget, projectDirName: string, what: string): Place {
  const parts = member.split("/").filter((p) => p !== "" && p !== ".");
  const top = parts[0] ?? "";
  if (!top.endsWith(".data") || parts.length < 2) return { path: posix.join(libDir, ...parts), key: "root" };
  const key = parts[1]!;
  const rest = parts.slice(2);
  if (!(SCHEME_KEYS as readonly string[]).includes(key) || rest.length === 0) {
    throw new PythonError("WHEEL_INVALID", `${what}: ${member} is not in one of ${top}/{${SCHEME_KEYS.join(",")}}/`, {
      hint: "the wheel's .data directory may only hold those subdirectories; rebuild it",
    });
  }
  const schemeKey = key as SchemeKey;
  const base = schemeKey === "headers" ? posix.join(target.scheme.headers, projectDirName) : target.scheme[schemeKey];
  return { path: posix.join(base, ...rest), key: schemeKey };
}

/** `tool`, `tool.exe`, `tool-script.py` and `tool.pya` are all setuptools wrappers for entry point `tool`. */
function wrapperTarget(filename: string): string {
  const lower = filename.toLowerCase();
  if (lower.endsWith(".exe") || lower.endsWith(".pya")) return filename.slice(0, -4);
  if (lower.endsWith("-script.py")) return filename.slice(0, -"-script.py".length);
  return filename;
}

/** One launcher per name; the first definition wins (console_scripts before gui_scripts in the usual file). */
function uniqueByName(entryPoints: readonly ScriptEntryPoint[]): ScriptEntryPoint[] {
  const seen = new Set<string>();
  return entryPoints.filter((e) => !seen.has(e.name) && seen.add(e.name));
}
