// Test helpers: running external tools, temp dirs, and small OCI images made without network.
//
// Images are written as OCI image layouts (https://github.com/opencontainers/image-spec/blob/main/image-layout.md)
// by plain node code here (deterministic: fixed mtimes, uid/gid 0, sorted entries), or by umoci
// (an independent producer, for cross-checks). Nothing is cached outside the temp dirs handed out.
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { createReadStream, existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createGunzip, gzipSync } from "node:zlib";
import { extract, pack as tarPack } from "tar-stream";

// ---------------------------------------------------------------------------------------------
// Processes

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Written to the child's stdin, which is then closed. Without it stdin is /dev/null. */
  input?: string | Uint8Array;
  /** Killed (SIGKILL) after this long; default 120 s. */
  timeoutMs?: number;
}

export interface RunResult {
  /** Exit code; null when the process was killed by a signal (see `signal`, `timedOut`). */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/** Runs a command without a shell and collects its output. Never rejects for a non-zero exit. */
export function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: [opts.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, opts.timeoutMs ?? 120_000);
    child.stdout?.on("data", (b: Buffer) => out.push(b));
    child.stderr?.on("data", (b: Buffer) => err.push(b));
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({
        code,
        signal,
        stdout: Buffer.concat(out).toString("utf8"),
        stderr: Buffer.concat(err).toString("utf8"),
        timedOut,
      });
    });
    if (opts.input !== undefined && child.stdin) {
      child.stdin.on("error", () => {}); // the child may exit without reading; that is its business
      child.stdin.end(opts.input);
    }
  });
}

/** Like `run`, but rejects (with the command, exit status and stderr) unless the exit code is 0. */
export async function runOk(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) {
    const how = r.timedOut ? "timed out" : r.code === null ? `killed by ${r.signal}` : `exited ${r.code}`;
    throw new Error(`${cmd} ${args.join(" ")} ${how}\n${r.stderr.trim()}\n${r.stdout.trim()}`.trim());
  }
  return r;
}

/**
 * skopeo with the global flags every test wants (no policy lookups, a timeout of its own), and its
 * blob-info cache in a temp dir of its own, removed afterwards. As root, skopeo would otherwise keep
 * that cache in /var/lib/containers/cache and, remembering where blobs were seen before, try
 * cross-repository mounts from registries long gone (same host:port, new registry): noise in
 * request logs, and state shared between tests. `_CONTAINERS_ROOTLESS_UID` makes containers/image
 * use $XDG_DATA_HOME/containers/cache instead (`sharedCache: true` keeps skopeo's default).
 */
export async function skopeo(args: readonly string[], opts: RunOptions & { sharedCache?: boolean } = {}): Promise<RunResult> {
  const { sharedCache, ...runOpts } = opts;
  const argv = ["--insecure-policy", "--command-timeout", "120s", ...args];
  if (sharedCache) return run("skopeo", argv, runOpts);
  const data = await tempDir("imagespec-skopeo-");
  try {
    const uid = typeof process.getuid === "function" && process.getuid() !== 0 ? process.getuid() : 65534;
    const env = { ...(runOpts.env ?? process.env), _CONTAINERS_ROOTLESS_UID: String(uid), XDG_DATA_HOME: data };
    return await run("skopeo", argv, { ...runOpts, env });
  } finally {
    await removeDir(data);
  }
}

/** A fresh directory under the OS temp dir. The caller removes it (see `removeDir`). */
export function tempDir(prefix = "imagespec-test-"): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

export function removeDir(dir: string): Promise<void> {
  return rm(dir, { recursive: true, force: true, maxRetries: 3 });
}

// ---------------------------------------------------------------------------------------------
// OCI layouts in plain node

export const MEDIA_TYPES = {
  index: "application/vnd.oci.image.index.v1+json",
  manifest: "application/vnd.oci.image.manifest.v1+json",
  config: "application/vnd.oci.image.config.v1+json",
  layerGzip: "application/vnd.oci.image.layer.v1.tar+gzip",
  layerTar: "application/vnd.oci.image.layer.v1.tar",
} as const;

const REF_NAME = "org.opencontainers.image.ref.name";
/** mtime of every tar entry and the config's `created`. */
const EPOCH = new Date("2000-01-01T00:00:00Z");

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: Platform;
  annotations?: Record<string, string>;
}

/** A file in a test layer: contents (mode 0644), contents with a mode, or a symlink. */
export type TestFile = string | Uint8Array | { content: string | Uint8Array; mode?: number } | { symlink: string };
/** A layer: paths (relative, no leading "/") to files; parent directories are added automatically. */
export type TestLayer = Record<string, TestFile>;

export interface TestImageOptions {
  /** Layout directory; created if missing; an existing layout gets another tag. Default: a new temp dir. */
  dir?: string;
  /** Tag (ref name annotation in index.json). Default "latest". */
  tag?: string;
  /** Default linux/amd64. */
  platform?: Platform;
  /** First layer: /bin/busybox (from busybox-static) and /bin/sh -> busybox. Default true. */
  busybox?: boolean;
  /** Further layers, in order. */
  layers?: TestLayer[];
  /** gzip layers (default) or store them as plain tar. */
  gzip?: boolean;
  labels?: Record<string, string>;
  env?: string[];
  cmd?: string[];
}

export interface TestImage {
  /** The layout directory. */
  dir: string;
  tag: string;
  /** skopeo / containers-image reference: `oci:DIR:TAG`. */
  ref: string;
  manifest: Descriptor;
  config: Descriptor;
  layers: Descriptor[];
  /** Uncompressed layer digests, as in the config's rootfs.diff_ids. */
  diffIds: string[];
  platform: Platform;
  /** The exact bytes of the manifest (their sha256 is `manifest.digest`). */
  manifestBytes: Buffer;
  /** Removes the layout directory. */
  cleanup(): Promise<void>;
}

export interface TestIndex {
  dir: string;
  tag: string;
  ref: string;
  /** Descriptor of the image index blob. */
  index: Descriptor;
  indexBytes: Buffer;
  images: TestImage[];
  cleanup(): Promise<void>;
}

export function sha256(data: Uint8Array | string): string {
  return "sha256:" + createHash("sha256").update(data).digest("hex");
}

function toBuffer(data: string | Uint8Array): Buffer {
  return typeof data === "string" ? Buffer.from(data, "utf8") : Buffer.from(data);
}

/** Builds an uncompressed tar with sorted entries, explicit parent dirs, fixed mtime, root ownership. */
export async function makeTar(layer: TestLayer): Promise<Buffer> {
  const files = new Map<string, TestFile>();
  const dirs = new Set<string>();
  for (const [raw, file] of Object.entries(layer)) {
    const path = raw.replace(/^\/+/, "").replace(/\/+$/, "");
    if (path === "" || path.split("/").some((p) => p === ".." || p === ".")) {
      throw new Error(`bad path in test layer: ${JSON.stringify(raw)}`);
    }
    files.set(path, file);
    const parts = path.split("/");
    for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join("/"));
  }
  const entries = [...new Set([...dirs, ...files.keys()])].sort();
  const pack = tarPack();
  const chunks: Buffer[] = [];
  pack.on("data", (c: unknown) => {
    chunks.push(c as Buffer);
  });
  const done = new Promise<void>((resolve, reject) => {
    pack.on("end", () => resolve());
    pack.on("error", reject);
  });
  const common = { mtime: EPOCH, uid: 0, gid: 0, uname: "root", gname: "root" };
  for (const name of entries) {
    const file = files.get(name);
    if (file === undefined) {
      pack.entry({ ...common, name: name + "/", type: "directory", mode: 0o755 });
    } else if (typeof file === "object" && "symlink" in file) {
      pack.entry({ ...common, name, type: "symlink", linkname: file.symlink, mode: 0o777 });
    } else if (typeof file === "string" || file instanceof Uint8Array) {
      pack.entry({ ...common, name, type: "file", mode: 0o644 }, toBuffer(file));
    } else {
      pack.entry({ ...common, name, type: "file", mode: file.mode ?? 0o644 }, toBuffer(file.content));
    }
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

async function writeBlob(dir: string, data: Buffer): Promise<string> {
  const digest = sha256(data);
  const path = join(dir, "blobs", "sha256", digest.slice("sha256:".length));
  if (!existsSync(path)) await writeFile(path, data);
  return digest;
}

async function initLayout(dir: string | undefined): Promise<string> {
  const layout = dir ?? (await tempDir("imagespec-image-"));
  await mkdir(join(layout, "blobs", "sha256"), { recursive: true });
  await writeFile(join(layout, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  return layout;
}

/** Adds (or replaces) the index.json entry named `tag`. */
async function tagInLayout(dir: string, tag: string, desc: Descriptor): Promise<void> {
  const indexPath = join(dir, "index.json");
  let manifests: Descriptor[] = [];
  if (existsSync(indexPath)) {
    const parsed = JSON.parse(await readFile(indexPath, "utf8")) as { manifests?: Descriptor[] };
    manifests = (parsed.manifests ?? []).filter((d) => d.annotations?.[REF_NAME] !== tag);
  }
  manifests.push({ ...desc, annotations: { ...desc.annotations, [REF_NAME]: tag } });
  const index = { schemaVersion: 2, mediaType: MEDIA_TYPES.index, manifests };
  await writeFile(indexPath, JSON.stringify(index, null, 2) + "\n");
}

let busyboxCache: Buffer | undefined; // in memory only, for the life of the test process

export async function busyboxLayer(): Promise<TestLayer> {
  busyboxCache ??= await readFile("/bin/busybox");
  return {
    "bin/busybox": { content: busyboxCache, mode: 0o755 },
    "bin/sh": { symlink: "busybox" },
  };
}

/** Writes the blobs of one image (layers, config, manifest) into an existing layout; no tagging. */
async function writeImage(dir: string, opts: TestImageOptions): Promise<Omit<TestImage, "dir" | "tag" | "ref" | "cleanup">> {
  const platform = opts.platform ?? { os: "linux", architecture: "amd64" };
  const gzip = opts.gzip ?? true;
  const layerSpecs = [...(opts.busybox ?? true ? [await busyboxLayer()] : []), ...(opts.layers ?? [])];
  if (layerSpecs.length === 0) throw new Error("makeTestImage: an image needs at least one layer");
  const layers: Descriptor[] = [];
  const diffIds: string[] = [];
  for (const spec of layerSpecs) {
    const tar = await makeTar(spec);
    diffIds.push(sha256(tar));
    // gzip header mtime is 0 in node's zlib, so equal tars give equal blobs.
    const blob = gzip ? gzipSync(tar, { level: 6 }) : tar;
    const digest = await writeBlob(dir, blob);
    layers.push({ mediaType: gzip ? MEDIA_TYPES.layerGzip : MEDIA_TYPES.layerTar, digest, size: blob.length });
  }
  const configJson = {
    created: EPOCH.toISOString(),
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant ? { variant: platform.variant } : {}),
    config: {
      Env: opts.env ?? ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
      ...(opts.cmd ? { Cmd: opts.cmd } : opts.busybox ?? true ? { Cmd: ["/bin/sh"] } : {}),
      ...(opts.labels ? { Labels: opts.labels } : {}),
    },
    rootfs: { type: "layers", diff_ids: diffIds },
    history: diffIds.map(() => ({ created: EPOCH.toISOString(), created_by: "imagespec test support" })),
  };
  const configBytes = Buffer.from(JSON.stringify(configJson));
  const config: Descriptor = { mediaType: MEDIA_TYPES.config, digest: await writeBlob(dir, configBytes), size: configBytes.length };
  const manifestBytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPES.manifest, config, layers }));
  const manifest: Descriptor = {
    mediaType: MEDIA_TYPES.manifest,
    digest: await writeBlob(dir, manifestBytes),
    size: manifestBytes.length,
    platform,
  };
  return { manifest, config, layers, diffIds, platform, manifestBytes };
}

/**
 * A small single-platform image as an OCI layout, written by node code. By default one gzip layer
 * with a static busybox (~1 MB compressed). Deterministic: the same options give the same digests.
 */
export async function makeTestImage(opts: TestImageOptions = {}): Promise<TestImage> {
  const dir = await initLayout(opts.dir);
  const tag = opts.tag ?? "latest";
  const img = await writeImage(dir, opts);
  const { platform: _platform, ...manifestDesc } = img.manifest; // no platform in a single-image index.json entry
  await tagInLayout(dir, tag, manifestDesc);
  return { ...img, dir, tag, ref: `oci:${dir}:${tag}`, cleanup: () => removeDir(dir) };
}

export interface MultiPlatformOptions extends Omit<TestImageOptions, "platform"> {
  /** Default linux/amd64 and linux/arm64. */
  platforms?: Platform[];
  /**
   * Add a per-platform layer holding /etc/imagespec-platform ("linux/arm64"), so the images share
   * the busybox layer but each has a layer of its own. Default true.
   */
  platformLayer?: boolean;
}

/**
 * A multi-platform image: index.json names (by `tag`) an image index whose entries are one image
 * per platform. All platforms carry the same busybox binary (x86-64): the images are well-formed
 * for registry round-trips but only the amd64 one would run. Copy with `skopeo copy --all`.
 */
export async function makeMultiPlatformImage(opts: MultiPlatformOptions = {}): Promise<TestIndex> {
  const dir = await initLayout(opts.dir);
  const tag = opts.tag ?? "latest";
  const platforms = opts.platforms ?? [
    { os: "linux", architecture: "amd64" },
    { os: "linux", architecture: "arm64" },
  ];
  const images: TestImage[] = [];
  for (const platform of platforms) {
    const name = `${platform.os}/${platform.architecture}${platform.variant ? "/" + platform.variant : ""}`;
    const layers = [...(opts.layers ?? []), ...(opts.platformLayer ?? true ? [{ "etc/imagespec-platform": name + "\n" }] : [])];
    const img = await writeImage(dir, { ...opts, platform, layers });
    images.push({ ...img, dir, tag, ref: `oci:${dir}:${tag}`, cleanup: () => removeDir(dir) });
  }
  const indexBytes = Buffer.from(
    JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPES.index, manifests: images.map((i) => i.manifest) }),
  );
  const index: Descriptor = { mediaType: MEDIA_TYPES.index, digest: await writeBlob(dir, indexBytes), size: indexBytes.length };
  await tagInLayout(dir, tag, index);
  return { dir, tag, ref: `oci:${dir}:${tag}`, index, indexBytes, images, cleanup: () => removeDir(dir) };
}

// ---------------------------------------------------------------------------------------------
// OCI layouts made by umoci (an independent producer)

export interface UmociImageOptions {
  dir?: string;
  tag?: string;
  architecture?: string;
  /** Extra files to insert, host path -> path in the image; one layer each. */
  insert?: Record<string, string>;
}

/**
 * An image built by umoci (init, new, insert /bin/busybox, config). Not reproducible: umoci stamps
 * the current time. Runs as root (the machines run tests as root); falls back to --rootless otherwise.
 */
export async function makeUmociImage(opts: UmociImageOptions = {}): Promise<TestImage> {
  const dir = opts.dir ?? join(await tempDir("imagespec-umoci-"), "layout");
  const tag = opts.tag ?? "latest";
  const image = `${dir}:${tag}`;
  const rootless = typeof process.getuid === "function" && process.getuid() !== 0 ? ["--rootless"] : [];
  if (!existsSync(join(dir, "index.json"))) await runOk("umoci", ["init", "--layout", dir]);
  await runOk("umoci", ["new", "--image", image]);
  await runOk("umoci", ["insert", ...rootless, "--image", image, "/bin/busybox", "/bin/busybox"]);
  for (const [from, to] of Object.entries(opts.insert ?? {})) {
    await runOk("umoci", ["insert", ...rootless, "--image", image, from, to]);
  }
  await runOk("umoci", [
    "config",
    "--image",
    image,
    "--os",
    "linux",
    "--architecture",
    opts.architecture ?? "amd64",
    "--config.cmd",
    "/bin/busybox",
  ]);
  // Read back what umoci wrote.
  const index = JSON.parse(await readFile(join(dir, "index.json"), "utf8")) as { manifests: Descriptor[] };
  const entry = index.manifests.find((d) => d.annotations?.[REF_NAME] === tag);
  if (!entry) throw new Error(`umoci wrote no index.json entry for ${tag}`);
  const blob = (d: string) => readFile(join(dir, "blobs", "sha256", d.slice("sha256:".length)));
  const manifestBytes = await blob(entry.digest);
  const manifest = JSON.parse(manifestBytes.toString("utf8")) as { config: Descriptor; layers: Descriptor[] };
  const config = JSON.parse((await blob(manifest.config.digest)).toString("utf8")) as {
    os: string;
    architecture: string;
    rootfs: { diff_ids: string[] };
  };
  const root = opts.dir === undefined ? join(dir, "..") : dir;
  return {
    dir,
    tag,
    ref: `oci:${dir}:${tag}`,
    manifest: { mediaType: entry.mediaType, digest: entry.digest, size: entry.size },
    config: manifest.config,
    layers: manifest.layers,
    diffIds: config.rootfs.diff_ids,
    platform: { os: config.os, architecture: config.architecture },
    manifestBytes,
    cleanup: () => removeDir(root),
  };
}

/** Every entry of a .tar.gz file, in order, with its content and mode. */
export async function readTgz(file: string): Promise<{ name: string; bytes: Buffer; mode: number | undefined }[]> {
  const entries: { name: string; bytes: Buffer; mode: number | undefined }[] = [];
  const ex = extract();
  ex.on("entry", (header, stream, next) => {
    const chunks: Buffer[] = [];
    stream.on("data", (chunk: unknown) => chunks.push(chunk as Buffer));
    stream.on("end", () => {
      entries.push({ name: header.name, bytes: Buffer.concat(chunks), mode: header.mode });
      next();
    });
  });
  await new Promise<void>((resolve, reject) => {
    ex.on("finish", resolve);
    ex.on("error", reject);
    createReadStream(file).pipe(createGunzip()).pipe(ex);
  });
  return entries;
}
