// Publishing to an OCI image layout: the existence check reads index.json for the tag (a missing
// layout holds nothing); the image's blobs are written (those present are skipped) and the tag named.
import { ImagespecError } from "../../errors.js";
import { listLayoutTags, readLayout, writeLayout, type Image, type ImageIndex } from "../../oci/index.js";
import type { Published, Publisher } from "./types.js";

export class LayoutPublisher implements Publisher {
  constructor(
    private readonly dir: string,
    private readonly tag: string,
  ) {}

  async existing(): Promise<string | undefined> {
    const tags: string[] = await listLayoutTags(this.dir).catch((error: unknown) => {
      if (error instanceof ImagespecError && error.code === "LAYOUT_NOT_FOUND") return [];
      throw error;
    });
    if (!tags.includes(this.tag)) return undefined;
    return (await readLayout(this.dir, { tag: this.tag })).digest;
  }

  async publish(image: Image | ImageIndex): Promise<Published> {
    const written = await writeLayout(this.dir, image, { tag: this.tag });
    return { digest: image.digest, bytesWritten: written.bytesWritten, blobsSkipped: written.blobsExisting };
  }
}
