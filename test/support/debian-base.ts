// A real Debian base image for tests: Debian 12 (bookworm) minbase with python3 and
// ca-certificates, made by debootstrap and turned into a one-layer OCI image layout by imagespec's
// own layer and layout writers. Built once per machine and cached (see README.md in this folder):
//
//   const base = await debianPythonBase({ arch: "amd64" });
//   await registry.copy(base.ref, `${reg.host}/debian/python:3.11`);
//
// amd64 (the host architecture) is a complete debootstrap: every maintainer script ran, dpkg
// status says "install ok installed" because it is. arm64 is built without running anything
// foreign: `debootstrap --foreign` only extracts the Essential set and leaves dpkg's status EMPTY
// and python3 (and the rest of --include) merely downloaded, so this module finishes the job the way
// apko / rules_distroless (and src/apt) do: the remaining packages' data is extracted, and the dpkg
// database (status, info/*.list, md5sums, maintainer scripts) is written from each .deb's control
// data. No maintainer script runs, so the arm64 tree lacks what postinst scripts generate
// (alternatives symlinks such as /usr/bin/awk, ld.so.cache, the /etc/ssl/certs bundle, .pyc files);
// /etc/passwd and /etc/group are copied from base-passwd's masters as its postinst would. Status
// still says "install ok installed", as in any image assembled from packages: the fixture is for
// laying layers on and inspecting files, never for running.
import { spawn, spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { closeSync, existsSync, linkSync, openSync, readFileSync, renameSync, rmSync, statSync, unlinkSync, writeSync } from "node:fs";
import { copyFile, mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { homedir, hostname } from "node:os";
import { basename, dirname, join } from "node:path";
import { layerFromTarStream } from "../../src/layer/index.js";
import { imageFromParts, indexFromImages, writeLayout, type ImageConfig, type Platform } from "../../src/oci/index.js";
import type { Registry } from "../../src/registry/index.js";
import { run, runOk } from "./tools.js";

export type DebianArch = "amd64" | "arm64";

export interface DebianBaseOptions {
  /** Default "amd64". */
  arch?: DebianArch;
  /** Cache root; default $IMAGESPEC_TEST_CACHE, else ~/.cache/imagespec-test. */
  cacheRoot?: string;
  /** Debian mirror; default $IMAGESPEC_DEBIAN_MIRROR, else http://deb.debian.org/debian. Not part of the cache key. */
  mirror?: string;
  /** Packages on top of minbase; default python3 and ca-certificates (["ca-certificates"]: a plain Debian without Python). */
  packages?: readonly string[];
}

export interface DebianBase {
  /** OCI layout directory in the cache. Treat it as read-only: copy the image out, never write a tag into it. */
  layoutDir: string;
  /** The layout's only tag. */
  tag: string;
  /** `oci:DIR:TAG`, for Registry.copy, skopeo and podman. */
  ref: string;
  arch: DebianArch;
  platform: Platform;
  /** Manifest digest. */
  digest: string;
  /** The one layer: compressed digest and uncompressed (diff ID) digest. */
  layerDigest: string;
  diffId: string;
  /** Installed packages (name -> version) from the rootfs's dpkg status. */
  packages: Record<string, string>;
  /** The cache entry (holds `layout/` and `fixture.json`). */
  cacheDir: string;
  /** False when this call built it. */
  fromCache: boolean;
  /** How long the (cold) build took, whenever it happened. */
  buildMs: number;
}

const SUITE = "bookworm";
const VARIANT = "minbase";
const PACKAGES = ["python3", "ca-certificates"] as const;
/** Bump when the way the fixture is made changes: old cache entries are then ignored. */
const FIXTURE_VERSION = 1;
const TAG = SUITE;
const DEFAULT_MIRROR = "http://deb.debian.org/debian";
const PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const PLATFORMS: Record<DebianArch, Platform> = {
  amd64: { os: "linux", architecture: "amd64" },
  arm64: { os: "linux", architecture: "arm64", variant: "v8" },
};
const READY_FILE = "fixture.json";

interface FixtureRecord {
  suite: string;
  arch: DebianArch;
  variant: string;
  packagesRequested: string[];
  fixtureVersion: number;
  key: string;
  tag: string;
  digest: string;
  layerDigest: string;
  diffId: string;
  builtAt: string;
  buildMs: number;
  phasesMs: Record<string, number>;
  hostArch: string;
  /** "native" (complete debootstrap) or "foreign-unpacked" (see the header of this file). */
  method: "native" | "foreign-unpacked";
  removedSpecialFiles: string[];
  packages: Record<string, string>;
}

export function testCacheRoot(): string {
  return process.env.IMAGESPEC_TEST_CACHE || join(homedir(), ".cache", "imagespec-test");
}

/**
 * The cache key's parts and the entry directory name for one architecture. The name is kept to
 * lowercase letters, digits and dashes: podman derives an image name from an `oci:` path.
 */
export function debianBaseKey(arch: DebianArch, packages: readonly string[] = PACKAGES): { key: string; name: string } {
  const parts = { suite: SUITE, arch, variant: VARIANT, packages: [...packages], fixtureVersion: FIXTURE_VERSION };
  const key = createHash("sha256").update(JSON.stringify(parts)).digest("hex").slice(0, 16);
  return { key, name: `${SUITE}-${arch}-${VARIANT}-${packages.join("-")}-v${FIXTURE_VERSION}-${key}` };
}

const inProcess = new Map<string, Promise<DebianBase>>();

/**
 * Debian 12 minbase + python3 + ca-certificates as a one-layer OCI layout (~65 MiB gzip), from the
 * cache (a few ms) or built (here: amd64 80-90 s, arm64 45-50 s, mostly debootstrap downloading and
 * dpkg; both at once about 110 s). Safe to call from several test files at once: one process
 * builds, the others wait for it.
 */
export function debianPythonBase(options: DebianBaseOptions = {}): Promise<DebianBase> {
  const arch = options.arch ?? "amd64";
  if (!(arch in PLATFORMS)) throw new Error(`debianPythonBase: unsupported arch ${JSON.stringify(arch)}`);
  const root = join(options.cacheRoot ?? testCacheRoot(), "debian-base");
  const packages = options.packages ?? PACKAGES;
  const { key, name } = debianBaseKey(arch, packages);
  const entry = join(root, name);
  let pending = inProcess.get(entry);
  if (!pending) {
    pending = (async () => {
      const { built } = await cachedFixture(entry, (out, work) => buildBase(arch, key, options.mirror ?? process.env.IMAGESPEC_DEBIAN_MIRROR ?? DEFAULT_MIRROR, out, work, packages));
      const record = JSON.parse(await readFile(join(entry, READY_FILE), "utf8")) as FixtureRecord;
      const layoutDir = join(entry, "layout");
      return {
        layoutDir,
        tag: record.tag,
        ref: `oci:${layoutDir}:${record.tag}`,
        arch,
        platform: PLATFORMS[arch],
        digest: record.digest,
        layerDigest: record.layerDigest,
        diffId: record.diffId,
        packages: record.packages,
        cacheDir: entry,
        fromCache: !built,
        buildMs: record.buildMs,
      };
    })();
    inProcess.set(entry, pending);
    pending.catch(() => inProcess.delete(entry));
  }
  return pending;
}

// ---------------------------------------------------------------------------------------------
// Building

function log(message: string): void {
  process.stderr.write(`[debian-base] ${message}\n`);
}

async function buildBase(arch: DebianArch, key: string, mirror: string, out: string, work: string, included: readonly string[]): Promise<void> {
  const started = Date.now();
  const hostArch = (await runOk("dpkg", ["--print-architecture"])).stdout.trim();
  const foreign = hostArch !== arch;
  const rootfs = join(work, "rootfs");
  log(`building ${SUITE} ${arch} (${foreign ? "foreign, unpacked without scripts" : "native"}) in ${work}`);
  const args = [
    `--variant=${VARIANT}`,
    `--include=${included.join(",")}`,
    `--arch=${arch}`,
    ...(foreign ? ["--foreign"] : []),
    SUITE,
    rootfs,
    mirror,
  ];
  const phases: Record<string, number> = {};
  let mark = Date.now();
  const phase = (name: string) => {
    const now = Date.now();
    phases[name] = now - mark;
    mark = now;
  };
  await runLogged("debootstrap", args, join(work, "debootstrap.log"), 15 * 60_000);
  phase("debootstrap");
  if (foreign) {
    await finishForeign(rootfs, arch, join(work, "control"));
    phase("unpack");
  }
  await trimRootfs(rootfs);
  const removedSpecialFiles = await removeSpecialFiles(rootfs);
  const packages = parseStatusVersions(await readFile(join(rootfs, "var/lib/dpkg/status"), "utf8"));
  const withPython = included.includes("python3");
  for (const p of withPython ? ["python3", "python3.11", ...included] : included) {
    if (!packages[p]) throw new Error(`debian-base ${arch}: ${p} is missing from the dpkg status`);
  }
  if (withPython !== existsSync(join(rootfs, "usr/bin/python3.11"))) throw new Error(`debian-base ${arch}: usr/bin/python3.11 is ${withPython ? "missing" : "there without python3 asked for"}`);

  phase("trim");
  const layer = await tarRootfs(rootfs, join(work, "blobs"));
  phase("layer");
  const created = new Date().toISOString();
  const platform = PLATFORMS[arch];
  const config: ImageConfig = {
    created,
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant ? { variant: platform.variant } : {}),
    config: { Env: [PATH_ENV, "LANG=C.UTF-8"], Cmd: ["python3"] },
    rootfs: { type: "layers", diff_ids: [layer.diffId] },
    history: [{ created, created_by: `debootstrap --variant=${VARIANT} --include=${included.join(",")} ${SUITE} (imagespec test fixture)` }],
  };
  const image = imageFromParts(config, [layer]);
  await writeLayout(join(out, "layout"), image, { tag: TAG });
  phase("layout");
  const buildMs = Date.now() - started;
  const record: FixtureRecord = {
    suite: SUITE,
    arch,
    variant: VARIANT,
    packagesRequested: [...included],
    fixtureVersion: FIXTURE_VERSION,
    key,
    tag: TAG,
    digest: image.digest,
    layerDigest: layer.descriptor.digest,
    diffId: layer.diffId,
    builtAt: created,
    buildMs,
    phasesMs: phases,
    hostArch,
    method: foreign ? "foreign-unpacked" : "native",
    removedSpecialFiles,
    packages,
  };
  await writeFile(join(out, READY_FILE), JSON.stringify(record, null, 2) + "\n");
  const mib = (layer.descriptor.size / 1048576).toFixed(1);
  const split = Object.entries(phases).map(([k, v]) => `${k} ${(v / 1000).toFixed(1)} s`).join(", ");
  log(`built ${SUITE} ${arch} in ${(buildMs / 1000).toFixed(1)} s (${split}): ${image.digest}, layer ${mib} MiB gzip`);
}

/** Runs a command in its own process group, output to a log file; on failure or timeout the whole group dies. */
async function runLogged(cmd: string, args: string[], logFile: string, timeoutMs: number): Promise<void> {
  const fd = openSync(logFile, "w");
  let child;
  try {
    child = spawn(cmd, args, { stdio: ["ignore", fd, fd], detached: true });
  } finally {
    closeSync(fd);
  }
  const pid = child.pid;
  const killGroup = () => {
    if (pid === undefined) return;
    try {
      process.kill(-pid, "SIGKILL");
    } catch {
      /* gone */
    }
  };
  liveGroups.add(killGroup);
  installExitHook();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup();
  }, timeoutMs);
  try {
    const code = await new Promise<number | null>((resolve, reject) => {
      child.once("error", reject);
      child.once("close", (c) => resolve(c));
    });
    if (code !== 0) {
      const tail = existsSync(logFile) ? readFileSync(logFile, "utf8").trim().split("\n").slice(-25).join("\n") : "";
      throw new Error(`${cmd} ${args.join(" ")} ${timedOut ? `timed out after ${timeoutMs} ms` : `exited ${code}`}; log tail:\n${tail}`);
    }
  } finally {
    clearTimeout(timer);
    killGroup(); // anything it left behind
    liveGroups.delete(killGroup);
  }
}

/**
 * After `debootstrap --foreign`: extract the packages the second stage would have installed and
 * write the dpkg database for all of them, without running any maintainer script.
 */
async function finishForeign(rootfs: string, arch: DebianArch, controlRoot: string): Promise<void> {
  const dbDir = join(rootfs, "debootstrap");
  const words = async (f: string) => (await readFile(join(dbDir, f), "utf8")).split(/\s+/).filter(Boolean);
  const required = await words("required");
  const base = await words("base");
  const debpaths = new Map<string, string>();
  for (const line of (await readFile(join(dbDir, "debpaths"), "utf8")).split("\n")) {
    const [pkg, path] = line.trim().split(/\s+/);
    if (pkg && path) debpaths.set(pkg, join(rootfs, path));
  }
  const debFor = (pkg: string) => {
    const p = debpaths.get(pkg);
    if (!p) throw new Error(`debootstrap --foreign left no .deb for ${pkg}`);
    return p;
  };
  // The first stage extracted `required`; the second would have unpacked `base` with dpkg.
  for (const pkg of base) {
    await runOk("bash", ["-o", "pipefail", "-c", 'dpkg-deb --fsys-tarfile "$1" | tar -x --keep-directory-symlink -C "$2"', "bash", debFor(pkg), rootfs]);
  }
  const infoDir = join(rootfs, "var/lib/dpkg/info");
  await mkdir(infoDir, { recursive: true });
  const paragraphs: { name: string; text: string }[] = [];
  for (const pkg of [...new Set([...required, ...base])]) {
    const deb = debFor(pkg);
    const ctrl = join(controlRoot, pkg);
    await mkdir(dirname(ctrl), { recursive: true });
    await runOk("dpkg-deb", ["--control", deb, ctrl]);
    const control = (await readFile(join(ctrl, "control"), "utf8")).trimEnd().split("\n");
    const field = (name: string) => control.find((l) => l.startsWith(`${name}:`))?.slice(name.length + 1).trim();
    const name = field("Package") ?? pkg;
    const infoName = field("Multi-Arch") === "same" ? `${name}:${field("Architecture") ?? arch}` : name;
    // Conffiles as dpkg records them: path and the md5 of the file as installed.
    const conffiles: string[] = [];
    if (existsSync(join(ctrl, "conffiles"))) {
      for (const line of (await readFile(join(ctrl, "conffiles"), "utf8")).split("\n")) {
        const path = line.trim();
        if (!path.startsWith("/")) continue; // empty, or flagged (remove-on-upgrade)
        const file = join(rootfs, path);
        const md5 = existsSync(file) ? createHash("md5").update(await readFile(file)).digest("hex") : "newconffile";
        conffiles.push(` ${path} ${md5}`);
      }
    }
    const lines = [control[0]!, "Status: install ok installed", ...control.slice(1)];
    if (conffiles.length > 0) lines.push("Conffiles:", ...conffiles);
    paragraphs.push({ name, text: lines.join("\n") });
    // info/: the file list and every control member but `control`, as dpkg keeps them.
    const listing = await runOk("bash", ["-o", "pipefail", "-c", 'dpkg-deb --fsys-tarfile "$1" | tar -t', "bash", deb], { timeoutMs: 60_000 });
    const paths = listing.stdout
      .split("\n")
      .filter(Boolean)
      .map((p) => {
        const clean = p.replace(/^\.\/?/, "/").replace(/\/$/, "");
        return clean === "" || clean === "/" ? "/." : clean;
      });
    await writeFile(join(infoDir, `${infoName}.list`), paths.join("\n") + "\n");
    for (const member of await readdir(ctrl)) {
      if (member === "control") continue;
      await copyFile(join(ctrl, member), join(infoDir, `${infoName}.${member}`));
    }
  }
  paragraphs.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  await writeFile(join(rootfs, "var/lib/dpkg/status"), paragraphs.map((p) => p.text + "\n").join("\n"));
  // What base-passwd's postinst does on a fresh system; everything else maintainer scripts make is absent.
  for (const f of ["passwd", "group"]) {
    const target = join(rootfs, "etc", f);
    if (!existsSync(target)) await copyFile(join(rootfs, "usr/share/base-passwd", `${f}.master`), target);
  }
  await rm(dbDir, { recursive: true, force: true });
}

/** Drops what a base image should not carry: downloaded .debs, apt lists, host files, device nodes. */
async function trimRootfs(rootfs: string): Promise<void> {
  const emptyDir = async (dir: string, keep: (name: string) => boolean = () => false) => {
    const p = join(rootfs, dir);
    if (!existsSync(p)) return;
    for (const name of await readdir(p)) {
      if (!keep(name)) await rm(join(p, name), { recursive: true, force: true });
    }
  };
  await emptyDir("dev"); // device nodes, pts/, shm/: the runtime mounts its own /dev
  await emptyDir("var/cache/apt/archives", (n) => n === "partial" || n === "lock");
  await emptyDir("var/cache/apt/archives/partial");
  await emptyDir("var/cache/apt", (n) => n === "archives");
  await emptyDir("var/lib/apt/lists", (n) => n === "partial" || n === "lock");
  await emptyDir("var/lib/apt/lists/partial");
  // Copied from the build host by debootstrap; the runtime provides its own.
  for (const f of ["etc/hostname", "etc/resolv.conf", "var/log/bootstrap.log", "debootstrap"]) {
    await rm(join(rootfs, f), { recursive: true, force: true });
  }
}

/** Device nodes, fifos and sockets have no place in a layer; removes any and lists them. */
async function removeSpecialFiles(rootfs: string): Promise<string[]> {
  const found = (await runOk("find", [rootfs, "-xdev", "(", "-type", "b", "-o", "-type", "c", "-o", "-type", "p", "-o", "-type", "s", ")", "-print0"])).stdout
    .split("\0")
    .filter(Boolean);
  for (const f of found) await rm(f, { force: true });
  return found.map((f) => f.slice(rootfs.length + 1)).sort();
}

/** GNU tar of the rootfs (names without "./", numeric owners, sorted), streamed into src/layer. */
async function tarRootfs(rootfs: string, cacheDir: string) {
  const top = (await readdir(rootfs)).sort();
  const tar = spawn(
    "tar",
    [
      "--create",
      "--file=-",
      "--directory",
      rootfs,
      "--numeric-owner",
      "--sort=name",
      "--format=posix",
      "--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime",
      "--",
      ...top,
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  const stderr: Buffer[] = [];
  tar.stderr.on("data", (b: Buffer) => stderr.push(b));
  const exited = new Promise<number | null>((resolve, reject) => {
    tar.once("error", reject);
    tar.once("close", (code) => resolve(code));
  });
  try {
    const layer = await layerFromTarStream(tar.stdout, { cacheDir });
    const code = await exited;
    if (code !== 0) throw new Error(`tar of ${rootfs} exited ${code}: ${Buffer.concat(stderr).toString("utf8").trim()}`);
    return layer;
  } catch (error) {
    tar.kill("SIGKILL");
    await exited.catch(() => undefined);
    throw error;
  }
}

export function parseStatusVersions(status: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const para of status.split(/\n\s*\n/)) {
    const name = /^Package:\s*(\S+)/m.exec(para)?.[1];
    const version = /^Version:\s*(\S+)/m.exec(para)?.[1];
    const state = /^Status:\s*(.+)$/m.exec(para)?.[1]?.trim();
    if (name && version && state === "install ok installed") out[name] = version;
  }
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

// ---------------------------------------------------------------------------------------------
// The cache: a directory per key, made by one builder at a time, published by an atomic rename

export interface CachedFixtureOptions {
  /** Give up waiting for another builder after this long. Default 20 min. */
  waitTimeoutMs?: number;
  /** Poll interval while another process builds. Default 500 ms. */
  pollMs?: number;
}

interface LockHolder {
  pid: number;
  host: string;
  started: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

function holderAlive(holder: LockHolder | undefined): boolean {
  if (!holder) return true; // being written right now: give it a moment
  if (holder.host !== hostname()) return true; // cannot tell; the wait timeout decides
  return processAlive(holder.pid);
}

function readHolder(lock: string): LockHolder | undefined {
  try {
    return JSON.parse(readFileSync(lock, "utf8")) as LockHolder;
  } catch {
    return undefined;
  }
}

const heldLocks = new Set<string>();

/** Takes the lock file (O_EXCL), or returns false while another live process holds it. Breaks dead holders' locks. */
function tryLock(lock: string): boolean {
  try {
    const fd = openSync(lock, "wx");
    try {
      writeSync(fd, JSON.stringify({ pid: process.pid, host: hostname(), started: new Date().toISOString() } satisfies LockHolder));
    } finally {
      closeSync(fd);
    }
    heldLocks.add(lock);
    installExitHook();
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
  }
  const holder = readHolder(lock);
  if (holder === undefined && existsSync(lock)) {
    // Unreadable: either being written (retry later) or left empty by a crash. Old and empty: break it.
    try {
      const age = Date.now() - statSync(lock).mtimeMs;
      if (age < 10_000) return false;
    } catch {
      return false;
    }
  } else if (holderAlive(holder)) {
    return false;
  }
  // Break the stale lock without clobbering a fresh one another waiter may have taken meanwhile:
  // move it aside, and put it back (link: never overwrites) if it turns out not to be the stale one.
  const aside = `${lock}.stale-${process.pid}-${randomBytes(4).toString("hex")}`;
  try {
    renameSync(lock, aside);
  } catch {
    return false;
  }
  const moved = readHolder(aside);
  if (moved && holder && (moved.pid !== holder.pid || moved.started !== holder.started)) {
    try {
      linkSync(aside, lock);
    } catch {
      /* someone else took it; theirs stands */
    }
  }
  try {
    unlinkSync(aside);
  } catch {
    /* gone */
  }
  return false; // try again from the top
}

function releaseLock(lock: string): void {
  heldLocks.delete(lock);
  const holder = readHolder(lock);
  if (holder && holder.pid === process.pid && holder.host === hostname()) rmSync(lock, { force: true });
}

/**
 * Makes `entry` (a directory holding `fixture.json` once complete) exactly once across concurrent
 * processes. `build(out, work)` writes the entry's content into `out`; `work` is scratch space.
 * Both live in a `.build-*` directory beside the entry, which is renamed into place on success and
 * removed (mounts under it unmounted first) either way. Resolves `built: false` when the entry
 * was already there or another process made it meanwhile.
 */
export async function cachedFixture(
  entry: string,
  build: (out: string, work: string) => Promise<void>,
  options: CachedFixtureOptions = {},
): Promise<{ built: boolean }> {
  const ready = () => existsSync(join(entry, READY_FILE));
  if (ready()) return { built: false };
  const parent = dirname(entry);
  await mkdir(parent, { recursive: true });
  const lock = `${entry}.lock`;
  const deadline = Date.now() + (options.waitTimeoutMs ?? 20 * 60_000);
  while (!tryLock(lock)) {
    if (ready()) return { built: false };
    if (Date.now() > deadline) {
      const h = readHolder(lock);
      throw new Error(
        `waited too long for ${lock}, held by ${h ? `pid ${h.pid} on ${h.host} since ${h.started}` : "an unknown process"}; ` +
          "if no build is running, delete the lock file",
      );
    }
    await sleep(options.pollMs ?? 500);
  }
  try {
    if (ready()) return { built: false };
    await sweepStaleBuilds(parent);
    if (existsSync(entry)) await removeTree(entry); // incomplete leftovers (should not happen: rename is atomic)
    const work = join(parent, `.build-${process.pid}-${randomBytes(4).toString("hex")}-${basename(entry)}`);
    await mkdir(work);
    liveWorkDirs.add(work);
    try {
      const out = join(work, "out");
      await mkdir(out);
      await build(out, work);
      if (!existsSync(join(out, READY_FILE))) throw new Error(`cachedFixture: the build did not write ${READY_FILE}`);
      await rename(out, entry);
    } finally {
      await removeTree(work);
      liveWorkDirs.delete(work);
    }
    return { built: true };
  } finally {
    releaseLock(lock);
  }
}

/** Removes `.build-PID-*` directories of processes that are gone (killed mid-build). */
async function sweepStaleBuilds(parent: string): Promise<void> {
  for (const name of await readdir(parent)) {
    const m = /^\.build-(\d+)-/.exec(name);
    if (m && Number(m[1]) !== process.pid && !processAlive(Number(m[1]))) await removeTree(join(parent, name));
  }
}

/** Mount points at or under `dir`, deepest first (debootstrap mounts /proc and /sys in its target). */
export function mountsUnder(dir: string): string[] {
  const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  const points = readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((line) => line.split(" ")[4])
    .filter((p): p is string => p !== undefined)
    .map(unescape)
    .filter((p) => p === dir || p.startsWith(dir + "/"));
  return [...new Set(points)].sort((a, b) => b.length - a.length);
}

/** Unmounts whatever is mounted under `dir`, then removes it without crossing into other filesystems. */
export async function removeTree(dir: string): Promise<void> {
  if (!existsSync(dir)) return;
  for (const point of mountsUnder(dir)) {
    const r = await run("umount", [point]);
    if (r.code !== 0) await run("umount", ["-l", point]);
  }
  const r = await run("rm", ["-rf", "--one-file-system", "--", dir]);
  if (r.code !== 0) throw new Error(`cannot remove ${dir}: ${r.stderr.trim()}`);
}

// ---------------------------------------------------------------------------------------------
// Process exit: kill builders, drop locks and scratch directories

const liveGroups = new Set<() => void>();
const liveWorkDirs = new Set<string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", () => {
    for (const kill of liveGroups) kill();
    for (const lock of heldLocks) releaseLock(lock);
    for (const dir of liveWorkDirs) {
      try {
        for (const point of mountsUnder(dir)) {
          spawnSync("umount", ["-l", point], { timeout: 5000 }); // lazy: a busy mount cannot block exit
        }
        rmSync(dir, { recursive: true, force: true });
      } catch {
        /* the next build sweeps it */
      }
    }
  });
}

/**
 * The amd64 and arm64 Debian python3 bases pushed to a test registry as users meet a base: one tag
 * (`host/debian/python:3.11`) on an index over both images. Returns that reference.
 */
export async function publishDebianPythonBase(registry: Registry, host: string): Promise<string> {
  const [amd64, arm64] = await Promise.all([debianPythonBase({ arch: "amd64" }), debianPythonBase({ arch: "arm64" })]);
  await registry.copy(amd64.ref, `${host}/debian/python:amd64`);
  await registry.copy(arm64.ref, `${host}/debian/python:arm64`);
  const images = await Promise.all([amd64, arm64].map(async (b) => ({ image: await registry.getImage(`${host}/debian/python:${b.arch}`, b.platform), platform: b.platform })));
  const reference = `${host}/debian/python:3.11`;
  await registry.push(reference, indexFromImages(images));
  return reference;
}
