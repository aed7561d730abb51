// What a publisher is (as in ko, publishing is apart from building): it tells whether the image is
// already at its destination, and writes a built image there.
import type { Image, ImageIndex } from "../../oci/index.js";
import type { PushEvent } from "../../registry/index.js";

export interface Published {
  digest: string;
  /** Bytes uploaded to the registry or written to the layout. */
  bytesWritten: number;
  /** Blobs that were already at the destination (or mounted there) and not sent again. */
  blobsSkipped: number;
}

export interface PublishOptions {
  /** Runs after a push to a registry (a layout has nothing to run it for). */
  afterPush?: () => Promise<void>;
  onPush?: (event: PushEvent) => void;
  signal?: AbortSignal;
}

export interface Publisher {
  /** The digest of the image already at the destination; undefined when it is not there; throws when that cannot be told (never read as "there"). */
  existing(signal?: AbortSignal): Promise<string | undefined>;
  publish(image: Image | ImageIndex, options?: PublishOptions): Promise<Published>;
}
