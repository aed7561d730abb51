// Peak memory of pushing one big layer: imagespec's registry client against `skopeo copy`, both
// pushing the same N GiB layer (default 2) from the same OCI layout to a local docker-registry.
// The design's promise is "streams, not buffers": the push must stay under 200 MB of RSS however
// big the layer is. Not part of the test suite.
//
//   node --import tsx bench/push-memory.ts [--size-gib 2] [--no-results]
//
// The layer is a real tar (one file) in a gzip container written at level 0 (stored blocks), so
// skopeo passes it through as it is rather than compressing it again, and its content is a 1 MiB
// random block repeated with a counter in each copy: cheap to make, not compressible in practice.
// Each push runs in a process of its own, measured by /usr/bin/time -v (the kernel's peak RSS of
// the process) when installed, else by sampling VmHWM in /proc/PID/status; the node child also
// reports its own VmHWM. Results are printed and appended to bench/RESULTS.md; the temp files and
// the registry are removed at the end, also on Ctrl-C. --no-results skips the append (trial runs).
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createWriteStream, existsSync, readFileSync } from "node:fs";
import { appendFile, mkdir, readFile, rename, stat } from "node:fs/promises";
import { cpus, release, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { fileURLToPath } from "node:url";
import { createGzip } from "node:zlib";
import { pack as tarPack } from "tar-stream";
import { imageFromParts, MediaType, readLayout, writeLayout, type Blob, type Digest, DigestingStream } from "../src/oci/index.js";
import { defaultKeychain, Registry } from "../src/registry/index.js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const MIB = 1024 * 1024;
const TARGET_BYTES = 200 * 1000 * 1000; // "under 200 MB"
const TAG = "bench";

// ---------------------------------------------------------------------------------------------
// Child mode: push the layout's image and report this process's peak RSS.

function vmHwmKiB(pid: number | "self"): number | undefined {
  try {
    const match = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

async function child(dir: string, reference: string): Promise<void> {
  const registry = new Registry({ keychain: defaultKeychain({ env: { PATH: process.env.PATH, HOME: "/nonexistent-imagespec-home" } }) });
  const image = await readLayout(dir, { tag: TAG });
  const beforeKiB = vmHwmKiB("self");
  const started = process.hrtime.bigint();
  const result = await registry.push(reference, image);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  await registry.close();
  process.stdout.write(`${JSON.stringify({ digest: result.digest, blobs: result.blobs, pushedBytes: result.pushedBytes, seconds, beforeKiB, peakKiB: vmHwmKiB("self") })}\n`);
}

// ---------------------------------------------------------------------------------------------
// Measuring a process

interface Measured {
  code: number | null;
  stdout: string;
  stderr: string;
  wallSeconds: number;
  /** Peak RSS of the process in KiB. */
  peakKiB: number | undefined;
  method: string;
}

const TIME = "/usr/bin/time";

function measure(cmd: string, args: readonly string[], env: NodeJS.ProcessEnv): Promise<Measured> {
  const useTime = existsSync(TIME);
  const argv = useTime ? ["-v", cmd, ...args] : [...args];
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const proc = spawn(useTime ? TIME : cmd, argv, { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    proc.stdout.on("data", (b: Buffer) => out.push(b));
    proc.stderr.on("data", (b: Buffer) => err.push(b));
    let sampled: number | undefined;
    const sampler = useTime
      ? undefined
      : setInterval(() => {
          const now = proc.pid !== undefined ? vmHwmKiB(proc.pid) : undefined;
          if (now !== undefined) sampled = Math.max(sampled ?? 0, now);
        }, 20);
    proc.on("error", reject);
    proc.on("close", (code) => {
      if (sampler) clearInterval(sampler);
      const wallSeconds = Number(process.hrtime.bigint() - started) / 1e9;
      const stderr = Buffer.concat(err).toString("utf8");
      const fromTime = /Maximum resident set size \(kbytes\): (\d+)/.exec(stderr)?.[1];
      resolve({
        code,
        stdout: Buffer.concat(out).toString("utf8"),
        stderr,
        wallSeconds,
        peakKiB: useTime ? (fromTime !== undefined ? Number(fromTime) : undefined) : sampled,
        method: useTime ? "/usr/bin/time -v (max RSS)" : "VmHWM sampled every 20 ms",
      });
    });
  });
}

// ---------------------------------------------------------------------------------------------
// The layer

/** `total` bytes: a random MiB repeated, each copy stamped with its index (first 8 bytes). */
function content(total: number): Readable {
  const block = randomBytes(MIB);
  let sent = 0;
  let index = 0;
  return new Readable({
    highWaterMark: MIB,
    read() {
      if (sent >= total) {
        this.push(null);
        return;
      }
      const copy = Buffer.from(block.subarray(0, Math.min(MIB, total - sent)));
      if (copy.length >= 8) copy.writeBigUInt64BE(BigInt(index++), 0);
      sent += copy.length;
      this.push(copy);
    },
  });
}

/** Writes the layer blob straight into the layout's blob folder; returns its descriptor and diffID. */
async function writeLayer(layout: string, size: number): Promise<{ blob: Blob; diffId: Digest }> {
  const blobs = join(layout, "blobs", "sha256");
  await mkdir(blobs, { recursive: true });
  const temp = join(blobs, ".layer.tmp");
  const pack = tarPack();
  const entry = pack.entry({ name: "data/random.bin", size, mode: 0o644, mtime: new Date(0), uid: 0, gid: 0, type: "file" });
  const tarHash = new DigestingStream();
  const gzHash = new DigestingStream();
  const fill = pipeline(content(size), entry).then(() => pack.finalize());
  await Promise.all([fill, pipeline(pack, tarHash, createGzip({ level: 0 }), gzHash, createWriteStream(temp))]);
  const digest = gzHash.digest;
  const path = join(blobs, digest.slice("sha256:".length));
  await rename(temp, path);
  const descriptor = { mediaType: MediaType.OciLayerGzip, digest, size: gzHash.size };
  return { blob: { descriptor, open: () => Promise.reject(new Error("the layer is already in the layout")) }, diffId: tarHash.digest };
}

// ---------------------------------------------------------------------------------------------
// Report

const mib = (kib: number | undefined): string => (kib === undefined ? "n/a" : `${(kib / 1024).toFixed(1)} MiB`);
const mb = (kib: number | undefined): string => (kib === undefined ? "n/a" : `${((kib * 1024) / 1e6).toFixed(1)} MB`);

async function version(cmd: string, args: string[]): Promise<string> {
  const r = await measure(cmd, args, process.env).catch(() => undefined);
  return r?.stdout.trim().split("\n")[0] ?? "not installed";
}

async function main(): Promise<void> {
  const sizeArg = process.argv.indexOf("--size-gib");
  const sizeGiB = sizeArg >= 0 ? Number(process.argv[sizeArg + 1]) : 2;
  if (!(sizeGiB > 0)) throw new Error("--size-gib needs a positive number");
  const size = Math.round(sizeGiB * 1024 * MIB);

  const { startRegistry } = await import("../test/support/registry.js");
  const { tempDir, removeDir } = await import("../test/support/tools.js");
  const registry = await startRegistry({ mode: "plain" });
  const work = await tempDir("imagespec-bench-push-");
  let cleaned = false;
  const cleanup = async (): Promise<void> => {
    if (cleaned) return;
    cleaned = true;
    await registry.stop();
    await removeDir(work);
  };
  process.once("SIGINT", () => void cleanup().finally(() => process.exit(130)));
  try {
    const layout = join(work, "layout");
    process.stderr.write(`writing a ${sizeGiB} GiB layer to ${layout} ...\n`);
    const genStart = process.hrtime.bigint();
    const { blob, diffId } = await writeLayer(layout, size);
    const genSeconds = Number(process.hrtime.bigint() - genStart) / 1e9;
    const config = { architecture: "amd64", os: "linux", created: "1970-01-01T00:00:00Z", config: {}, rootfs: { type: "layers" as const, diff_ids: [diffId] } };
    const image = imageFromParts(config, [blob]);
    await writeLayout(layout, image, { tag: TAG }); // the layer is there already: config, manifest, index.json only
    const layerBytes = (await stat(join(layout, "blobs", "sha256", blob.descriptor.digest.slice(7)))).size;
    process.stderr.write(`layer ${blob.descriptor.digest} (${(layerBytes / MIB).toFixed(0)} MiB) written in ${genSeconds.toFixed(1)} s\n`);

    const env = { PATH: process.env.PATH, HOME: "/nonexistent-imagespec-home" };
    process.stderr.write("pushing with imagespec (child process) ...\n");
    const ours = await measure(process.execPath, ["--import", "tsx", "bench/push-memory.ts", "--child", layout, `${registry.host}/bench/imagespec:v1`], env);
    if (ours.code !== 0) throw new Error(`the imagespec push failed:\n${ours.stderr}`);
    const report = JSON.parse(ours.stdout.trim().split("\n").pop()!) as { digest: string; seconds: number; beforeKiB?: number; peakKiB?: number; pushedBytes: number };
    if (report.digest !== image.digest) throw new Error(`pushed ${report.digest}, expected ${image.digest}`);

    process.stderr.write("pushing with skopeo copy ...\n");
    const skopeoData = join(work, "skopeo-data");
    await mkdir(skopeoData);
    const uid = typeof process.getuid === "function" && process.getuid() !== 0 ? process.getuid() : 65534;
    const theirs = await measure(
      "skopeo",
      ["--insecure-policy", "copy", "--dest-tls-verify=false", "--dest-no-creds", `oci:${layout}:${TAG}`, `docker://${registry.host}/bench/skopeo:v1`],
      { ...env, _CONTAINERS_ROOTLESS_UID: String(uid), XDG_DATA_HOME: skopeoData },
    );
    if (theirs.code !== 0) throw new Error(`skopeo copy failed:\n${theirs.stderr}`);

    const rows = [
      ["imagespec push (node child)", mib(ours.peakKiB), mb(ours.peakKiB), ours.wallSeconds.toFixed(1), ((layerBytes / MIB) / report.seconds).toFixed(0)],
      ["skopeo copy oci: -> docker://", mib(theirs.peakKiB), mb(theirs.peakKiB), theirs.wallSeconds.toFixed(1), ((layerBytes / MIB) / theirs.wallSeconds).toFixed(0)],
    ];
    const table = [
      "| pusher | peak RSS | peak RSS (MB) | wall s | MiB/s |",
      "| --- | ---: | ---: | ---: | ---: |",
      ...rows.map((r) => `| ${r.join(" | ")} |`),
    ].join("\n");
    const peakBytes = (ours.peakKiB ?? Infinity) * 1024;
    const met = peakBytes < TARGET_BYTES;
    const verdict = met
      ? `met: ${mb(ours.peakKiB)} is ${((TARGET_BYTES - peakBytes) / 1e6).toFixed(1)} MB under 200 MB`
      : `NOT met: ${mb(ours.peakKiB)} is ${((peakBytes - TARGET_BYTES) / 1e6).toFixed(1)} MB over 200 MB`;
    const machine = [
      `${cpus().length} CPUs (nproc), ${(totalmem() / 1024 ** 3).toFixed(1)} GiB memory, Linux ${release()}`,
      `node ${process.version}, ${await version("skopeo", ["--version"])}, ${await version("docker-registry", ["--version"])}`,
    ];
    const details = [
      `layer: ${(layerBytes / MIB).toFixed(0)} MiB (${sizeGiB} GiB of content in a level-0 gzip tar), generated and hashed in ${genSeconds.toFixed(1)} s`,
      `imagespec child: VmHWM ${mib(report.beforeKiB)} with the modules loaded and the layout read (before the push), ${mib(report.peakKiB)} at the end (self-reported); push alone ${report.seconds.toFixed(1)} s (the wall time includes node + tsx start-up)`,
      `measured with ${ours.method}`,
      `target "peak RSS under 200 MB": ${verdict}`,
    ];
    const section = [`## push-memory — ${new Date().toISOString().slice(0, 10)}`, "", ...machine.map((m) => `- ${m}`), "", table, "", ...details.map((d) => `- ${d}`), ""].join("\n");
    process.stdout.write(`\n${section}\n`);
    if (process.argv.includes("--no-results")) return;
    const results = join(ROOT, "bench", "RESULTS.md");
    const existing = await readFile(results, "utf8").catch(() => undefined);
    await appendFile(results, `${existing === undefined ? "# Benchmark results\n\nAppended by the scripts in bench/; newest last.\n" : ""}\n${section}`);
    process.stderr.write(`appended to ${results}\n`);
  } finally {
    await cleanup();
  }
}

if (process.argv[2] === "--child") {
  await child(process.argv[3]!, process.argv[4]!);
} else {
  await main();
}
