// Big one-file fixtures for the push scenario of bench/peers.ts. Compressible content is text-like
// lines, incompressible content random bytes.
// - writeBigLayout: an OCI layout whose one layer is a tar of the file, gzip-compressed once by
//   `pigz -6` (the transfer-only comparison: both sides push the same blob).
// - writeBigSource: the file itself under data/ (what `imagespec build` packs, compresses and pushes)
//   and an OCI layout whose one layer is the uncompressed tar of the same file (what `skopeo copy`
//   compresses and pushes): the same bytes in, gzip -6 work on both sides.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, rename } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { pack as tarPack } from "tar-stream";
import { DigestingStream, imageFromParts, MediaType, writeLayout, type Blob } from "../src/oci/index.js";

const MIB = 1024 * 1024;
const TAG = "bench";

const WORDS = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma tau upsilon phi chi psi omega".split(" ");

/** 1 MiB of text-like lines (compresses to about a quarter with gzip -6). */
function textBlock(seed: number): Buffer {
  let x = seed * 2654435761 + 1;
  const next = (): number => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
  const parts: string[] = [];
  let length = 0;
  while (length < MIB) {
    const line = `${next() % 100000},${WORDS[next() % WORDS.length]},${WORDS[next() % WORDS.length]},${(next() % 1000000) / 100},ok\n`;
    parts.push(line);
    length += line.length;
  }
  return Buffer.from(parts.join("")).subarray(0, MIB);
}

function content(total: number, compressible: boolean): Readable {
  let sent = 0;
  let index = 0;
  return new Readable({
    highWaterMark: MIB,
    read() {
      if (sent >= total) {
        this.push(null);
        return;
      }
      const block = compressible ? textBlock(index++) : randomBytes(MIB);
      const chunk = block.subarray(0, Math.min(MIB, total - sent));
      sent += chunk.length;
      this.push(chunk);
    },
  });
}

/**
 * Writes LAYOUT (tag "bench") holding one image with one pigz-compressed layer of a `size`-byte file:
 * the bytes of `from` when given (a file writeBigSource made: generating text is slow), else new ones.
 */
export async function writeBigLayout(dir: string, size: number, compressible: boolean, from?: string): Promise<{ layout: string; layerBytes: number }> {
  const layout = join(dir, "layout");
  const blobs = join(layout, "blobs", "sha256");
  await mkdir(blobs, { recursive: true });
  const temp = join(blobs, ".layer.tmp");
  const pack = tarPack();
  const entry = pack.entry({ name: "data/big.bin", size, mode: 0o644, mtime: new Date(0), uid: 0, gid: 0, type: "file" });
  const tarHash = new DigestingStream();
  const gzHash = new DigestingStream();
  const pigz = spawn("pigz", ["-6", "-c"], { stdio: ["pipe", "pipe", "inherit"] });
  const exited = new Promise<void>((resolve, reject) => {
    pigz.on("error", reject);
    pigz.on("close", (code) => (code === 0 ? resolve() : reject(new Error(`pigz exited ${code}`))));
  });
  const bytes = from !== undefined ? createReadStream(from, { highWaterMark: MIB }) : content(size, compressible);
  const fill = pipeline(bytes, entry).then(() => pack.finalize());
  await Promise.all([fill, pipeline(pack, tarHash, pigz.stdin), pipeline(pigz.stdout, gzHash, createWriteStream(temp)), exited]);
  await finishLayout(layout, temp, { mediaType: MediaType.OciLayerGzip, digest: gzHash.digest, size: gzHash.size }, tarHash.digest);
  return { layout, layerBytes: gzHash.size };
}

/** Names the layer file in `blobs` by its digest and writes the image and the tag around it. */
async function finishLayout(layout: string, temp: string, descriptor: Blob["descriptor"], diffId: string): Promise<void> {
  await rename(temp, join(layout, "blobs", "sha256", descriptor.digest.slice("sha256:".length)));
  const blob: Blob = { descriptor, open: () => Promise.reject(new Error("the layer is already in the layout")) };
  const config = { architecture: "amd64", os: "linux", created: "1970-01-01T00:00:00Z", config: {}, rootfs: { type: "layers" as const, diff_ids: [diffId] } };
  await writeLayout(layout, imageFromParts(config, [blob]), { tag: TAG });
}

/**
 * Writes DIR/data/big.bin (`size` bytes) and DIR/tar-layout (tag "bench"): one image whose one
 * layer is the uncompressed tar of data/big.bin.
 */
export async function writeBigSource(dir: string, size: number, compressible: boolean): Promise<{ file: string; tarLayout: string; tarBytes: number }> {
  const file = join(dir, "data", "big.bin");
  await mkdir(join(dir, "data"), { recursive: true });
  await pipeline(content(size, compressible), createWriteStream(file));
  const tarLayout = join(dir, "tar-layout");
  const blobs = join(tarLayout, "blobs", "sha256");
  await mkdir(blobs, { recursive: true });
  const temp = join(blobs, ".layer.tmp");
  const pack = tarPack();
  const entry = pack.entry({ name: "data/big.bin", size, mode: 0o644, mtime: new Date(0), uid: 0, gid: 0, type: "file" });
  const tarHash = new DigestingStream();
  const fill = pipeline(createReadStream(file, { highWaterMark: MIB }), entry).then(() => pack.finalize());
  await Promise.all([fill, pipeline(pack, tarHash, createWriteStream(temp))]);
  await finishLayout(tarLayout, temp, { mediaType: MediaType.OciLayerTar, digest: tarHash.digest, size: tarHash.size }, tarHash.digest);
  return { file, tarLayout, tarBytes: tarHash.size };
}
