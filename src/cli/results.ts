// The machine-readable result of `imagespec build --json` (one object per line) and of
// --metadata-file (an array of them): a contract for scripts, checked by the tests.
import { z } from "zod";

export const buildResultJsonSchema = z.strictObject({
  /** The full image name, registry/name:tag. */
  image: z.string().min(1),
  /** `exists`: the tag was there and nothing was built. */
  status: z.enum(["exists", "built"]),
  digest: z.string().regex(/^sha256:[0-9a-f]{64}$/),
  /** A registry reference or `oci:DIR:TAG`. */
  location: z.string().min(1),
  platforms: z.array(z.string().regex(/^[a-z0-9]+\/[a-z0-9]+(\/[a-z0-9]+)?$/)).min(1),
  /** Bytes uploaded or written (mounted and existing blobs cost nothing). */
  bytesWritten: z.number().int().nonnegative(),
  /** Blobs already at the destination (or mounted) and not sent again. */
  blobsSkipped: z.number().int().nonnegative(),
  /** Wall time of this image's build, in seconds. */
  seconds: z.number().nonnegative(),
});

export type BuildResultJson = z.infer<typeof buildResultJsonSchema>;
