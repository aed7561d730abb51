// Publishing to a registry: the existence check is a manifest HEAD; the push sends what the registry
// lacks (blobs it has are skipped, blobs in another repository mounted), manifests last, and then
// runs what the builder asked to run after a push (the step caches, written next to the image).
import type { Image, ImageIndex } from "../../oci/index.js";
import type { Reference } from "../../reference/index.js";
import type { Registry } from "../../registry/index.js";
import type { Published, PublishOptions, Publisher } from "./types.js";

export class RegistryPublisher implements Publisher {
  constructor(
    private readonly registry: Registry,
    private readonly reference: Reference,
  ) {}

  async existing(signal?: AbortSignal): Promise<string | undefined> {
    const found = await this.registry.exists(this.reference, signal);
    return found.present ? found.digest : undefined;
  }

  async publish(image: Image | ImageIndex, options: PublishOptions = {}): Promise<Published> {
    const pushed = await this.registry.push(this.reference, image, {
      ...(options.onPush ? { onProgress: options.onPush } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
    await options.afterPush?.();
    return { digest: pushed.digest, bytesWritten: pushed.pushedBytes, blobsSkipped: pushed.blobs.exists + pushed.blobs.mounted };
  }
}
