// `imagespec copy SRC DST`: an image or index between registries and OCI layouts (`oci:DIR[:TAG]`),
// every platform unless --platform picks one. Blobs stream from source to destination (never held
// whole); per-blob progress goes to stderr, the pinned destination `DST@DIGEST` to stdout.
import type { Command } from "commander";
import { checkLayoutDirectory, isImageIndex, writeLayout, type Blob, type Image, type ImageIndex } from "../../oci/index.js";
import { formatReference, withDigest } from "../../reference/index.js";
import { formatImageLocation, parseImageLocation, type ImageLocation, type PushEvent, type Registry } from "../../registry/index.js";
import { reportError } from "../output.js";
import { addRegistryOptions, loadImage, registryFromOptions, registryHosts, type RegistryFlags } from "../registry-options.js";
import { humanSize } from "../../units.js";
import type { RegisterCommand } from "./index.js";

interface CopyFlags extends RegistryFlags {
  platform?: string;
  quiet?: boolean;
}

type Progress = (line: string) => void;

const short = (digest: string): string => digest.slice(0, "sha256:".length + 12);

function pushProgress(say: Progress): (event: PushEvent) => void {
  return (event) => {
    if (event.type === "manifest") {
      say(`manifest ${short(event.digest)} ${event.status}`);
      return;
    }
    if (event.status === "uploading") return;
    const from = event.status === "mounted" ? ` from ${event.from}` : "";
    say(`blob ${short(event.digest)} ${humanSize(event.size).padStart(10)} ${event.status}${from}`);
  };
}

/** The image with each blob reporting when it has been read to the end (i.e. written to the layout). */
function reporting(value: Image | ImageIndex, opened: Set<string>, say: Progress): Image | ImageIndex {
  const wrap = (blob: Blob): Blob => ({
    ...blob,
    open: async () => {
      const stream = await blob.open();
      opened.add(blob.descriptor.digest);
      stream.once("end", () => say(`blob ${short(blob.descriptor.digest)} ${humanSize(blob.descriptor.size).padStart(10)} written`));
      return stream;
    },
  });
  const image = (img: Image): Image => ({ ...img, config: wrap(img.config), layers: img.layers.map(wrap) });
  return isImageIndex(value) ? { ...value, images: value.images.map(image) } : image(value);
}

async function toLayout(value: Image | ImageIndex, destination: Extract<ImageLocation, { kind: "layout" }>, say: Progress): Promise<void> {
  const opened = new Set<string>();
  await writeLayout(destination.layout.dir, reporting(value, opened, say), destination.layout.tag !== undefined ? { tag: destination.layout.tag } : {});
  // writeLayout opens only what is missing: every blob left unopened was there already.
  const seen = new Set<string>();
  for (const image of isImageIndex(value) ? value.images : [value]) {
    for (const blob of [image.config, ...image.layers]) {
      const { digest, size } = blob.descriptor;
      if (opened.has(digest) || seen.has(digest)) continue;
      seen.add(digest);
      say(`blob ${short(digest)} ${humanSize(size).padStart(10)} exists`);
    }
  }
}

export async function runCopy(src: string, dst: string, flags: CopyFlags): Promise<number> {
  let registry: Registry | undefined;
  try {
    const from = parseImageLocation(src);
    const to = parseImageLocation(dst);
    // A destination that cannot be a layout is refused before the source is read.
    if (to.kind === "layout") await checkLayoutDirectory(to.layout.dir);
    registry = await registryFromOptions(flags, { credentialHosts: registryHosts([from, to]) });
    const say: Progress = flags.quiet ? () => undefined : (line) => process.stderr.write(`${line}\n`);
    const value = await loadImage(registry, from, flags.platform);
    say(`copying ${formatImageLocation(from)} (${isImageIndex(value) ? `index of ${value.images.length} images` : "image"}, ${value.digest}) to ${formatImageLocation(to)}`);
    let pinned: string;
    if (to.kind === "layout") {
      await toLayout(value, to, say);
      pinned = `${formatImageLocation(to)}@${value.digest}`;
    } else {
      const result = await registry.push(to.reference, value, { onProgress: pushProgress(say) });
      pinned = formatReference(withDigest(to.reference, result.digest));
    }
    process.stdout.write(`${pinned}\n`);
    return 0;
  } catch (error) {
    return reportError(error);
  } finally {
    await registry?.close();
  }
}

export const registerCopyCommand: RegisterCommand = (program: Command) => {
  const command = program
    .command("copy")
    .description("copy an image or index between registries and OCI layouts (every platform unless --platform)")
    .argument("<src>", "source: host/repo:tag, host/repo@digest or oci:DIR[:TAG]")
    .argument("<dst>", "destination: host/repo[:tag] or oci:DIR[:TAG]")
    .option("--platform <os/arch[/variant]>", "copy only this platform's image out of an index")
    .option("-q, --quiet", "no progress on stderr; only the result on stdout");
  addRegistryOptions(command);
  command.addHelpText(
    "after",
    `
Progress goes to stderr, one line per blob: "exists" (already at the destination, not sent),
"mounted from REPO" (linked from another repository of the same registry), "uploaded" or
"written" (sent to a registry or a layout), then the manifests. stdout gets the destination
pinned to the digest: DST@sha256:...

Within one registry, blobs are mounted rather than sent again. Credentials from --username
apply to both sides; for different ones, use a docker/podman auth file.

Examples:
  imagespec copy registry.example.com/team/app:v1 oci:./backup:app-v1
  imagespec copy oci:./backup:app-v1 localhost:5000/team/app:v1
  imagespec copy --platform linux/arm64 docker.io/library/alpine:3.20 localhost:5000/alpine:3.20-arm64
  imagespec copy --quiet src.example.com/app:v1 dst.example.com/app:v1 > pinned.txt`,
  );
  command.action(async (src: string, dst: string, flags: CopyFlags) => {
    process.exitCode = await runCopy(src, dst, flags);
  });
};
