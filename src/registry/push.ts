// Pushing an image or index, go-containerregistry's way: HEAD every blob and skip what is there
// (after waiting for an upload the build started while compressing it: early-upload.ts),
// mount what another repository of the same registry holds (the blob's sources, then where
// earlier pushes and pulls saw it: blob-locations.ts), upload the rest with bounded
// concurrency (each digest once, even across concurrent pushes), then the manifests — children by
// digest before their index, the tag last — so an interrupted push never leaves a tag pointing at
// missing content.
import { ImagespecError } from "../errors.js";
import { formatReference, withDigest, type Reference } from "../reference/index.js";
import { isImageIndex, type Blob, type Image, type ImageIndex } from "../oci/index.js";
import type { DistributionClient } from "./client.js";
import { forEachLimited } from "../concurrency.js";
import type { BlobLocations } from "./blob-locations.js";
import type { EarlyUploads } from "./early-upload.js";
import { RegistryError } from "./errors.js";
import { manifestExists } from "./exists.js";
import { backoffDelay, isRetryableStatus, mayRetry, sleep } from "./retry.js";
import { redactUrl } from "./log.js";
import { repositoryScope } from "./scope.js";
import { BlobReadError, resumableSession, uploadBlob, type UploadSession, type UploadSettings } from "./upload.js";

export type BlobOutcome = "exists" | "mounted" | "uploaded";

export type PushEvent =
  | { readonly type: "blob"; readonly status: "exists" | "uploaded"; readonly digest: string; readonly size: number }
  | { readonly type: "blob"; readonly status: "mounted"; readonly digest: string; readonly size: number; readonly from: string }
  | { readonly type: "blob"; readonly status: "uploading"; readonly digest: string; readonly size: number; readonly bytes: number }
  | { readonly type: "manifest"; readonly status: "exists" | "pushed"; readonly digest: string; readonly mediaType: string; readonly reference: string };

export interface PushOptions {
  /** Blobs uploaded at once (default 4). */
  readonly concurrency?: number;
  readonly onProgress?: (event: PushEvent) => void;
  readonly signal?: AbortSignal;
  readonly upload?: UploadSettings;
  /** A vendor's reading of a request that failed below HTTP (see RegistryOptions.diagnose). */
  readonly diagnose?: FailureDiagnosis;
  /** Where blobs were seen before: mounted from there, and told where this push put them. */
  readonly locations?: BlobLocations;
  /** Uploads started while the build wrote the layers: a blob one of them sent is not sent again. */
  readonly early?: EarlyUploads;
}

/**
 * What a vendor makes of a push request that failed without an HTTP answer: an error that says
 * what really happened ("the repository does not exist", confirmed through the vendor's API),
 * or undefined when it has nothing to add.
 */
export type FailureDiagnosis = (failure: { readonly error: RegistryError; readonly reference: Reference }) => Promise<Error | undefined>;

export interface PushResult {
  /** Where the image now is, pinned: `registry/repo:tag@digest`. */
  readonly reference: string;
  readonly digest: string;
  readonly mediaType: string;
  /** Size of the top-level manifest or index. */
  readonly size: number;
  /** Blob and manifest bytes sent to the registry (mounted and existing blobs cost nothing). */
  readonly pushedBytes: number;
  readonly blobs: Readonly<Record<BlobOutcome, number>>;
  readonly manifests: { readonly pushed: number; readonly existing: number };
}

/**
 * Blob pushes in flight, by repository and digest, so concurrent pushes that share layers upload
 * each one once. One per registry client.
 */
export class InflightBlobs {
  private readonly pending = new Map<string, Promise<BlobOutcome>>();

  run(key: string, start: () => Promise<BlobOutcome>): { promise: Promise<BlobOutcome>; owner: boolean } {
    const existing = this.pending.get(key);
    if (existing) return { promise: existing, owner: false };
    const promise = start();
    this.pending.set(key, promise);
    void promise.then(
      () => this.pending.delete(key),
      () => this.pending.delete(key),
    );
    return { promise, owner: true };
  }
}

export async function pushImage(
  client: DistributionClient,
  ref: Reference,
  image: Image | ImageIndex,
  options: PushOptions = {},
  inflight = new InflightBlobs(),
): Promise<PushResult> {
  try {
    return await pushBlobsThenManifests(client, ref, image, options, inflight);
  } finally {
    // What was learned about where blobs are is kept even when the push failed part-way.
    await options.locations?.save();
  }
}

async function pushBlobsThenManifests(client: DistributionClient, ref: Reference, image: Image | ImageIndex, options: PushOptions, inflight: InflightBlobs): Promise<PushResult> {
  if (ref.digest !== undefined && ref.digest !== image.digest) {
    throw new ImagespecError("DIGEST_MISMATCH", `cannot push ${image.digest} to ${formatReference(ref)}: the reference pins another digest`, {
      hint: "drop the @digest from the destination, or push the image that has that digest",
    });
  }
  const images = isImageIndex(image) ? image.images : [image];
  const blobs = uniqueBlobs(images);
  const counts: Record<BlobOutcome, number> = { exists: 0, mounted: 0, uploaded: 0 };
  let pushedBytes = 0;
  const emit = options.onProgress ?? ((): void => undefined);

  await forEachLimited(
    blobs,
    options.concurrency ?? 4,
    async (blob, signal) => {
      const key = `${ref.registry}/${ref.repository}@${blob.descriptor.digest}`;
      const { promise, owner } = inflight.run(key, () => ensureBlob(client, ref, blob, { ...options, signal }, emit));
      let outcome: BlobOutcome;
      try {
        outcome = await promise;
        if (!owner) {
          // Another push was already sending it: for this push, it is a blob that exists.
          outcome = "exists";
          emit({ type: "blob", status: "exists", digest: blob.descriptor.digest, size: blob.descriptor.size });
        }
      } catch (error) {
        // The other push failing or being cancelled is not this push's failure: do it here.
        if (owner || signal.aborted) throw error;
        outcome = await ensureBlob(client, ref, blob, { ...options, signal }, emit);
      }
      counts[outcome]++;
      if (outcome === "uploaded") pushedBytes += blob.descriptor.size;
    },
    options.signal,
  );

  const manifests = { pushed: 0, existing: 0 };
  const signal = options.signal;
  if (isImageIndex(image)) {
    for (const child of image.images) {
      if (await manifestPresent(client, ref.repository, child.digest, signal)) {
        manifests.existing++;
        emit({ type: "manifest", status: "exists", digest: child.digest, mediaType: child.mediaType, reference: formatReference(withDigest(ref, child.digest)) });
        continue;
      }
      await client.putManifest(ref.repository, child.digest, child.manifestBytes, child.mediaType, signal);
      manifests.pushed++;
      pushedBytes += child.manifestBytes.length;
      emit({ type: "manifest", status: "pushed", digest: child.digest, mediaType: child.mediaType, reference: formatReference(withDigest(ref, child.digest)) });
    }
  }
  const top = isImageIndex(image) ? { bytes: image.indexBytes, mediaType: image.mediaType } : { bytes: image.manifestBytes, mediaType: image.mediaType };
  // The tag is written last: everything it points at is already in the registry.
  const pinned = formatReference(withDigest(ref, image.digest));
  if (await putTopManifest(client, ref, image.digest, top.bytes, top.mediaType, signal)) {
    manifests.pushed++;
    pushedBytes += top.bytes.length;
    emit({ type: "manifest", status: "pushed", digest: image.digest, mediaType: top.mediaType, reference: pinned });
  } else {
    manifests.existing++;
    emit({ type: "manifest", status: "exists", digest: image.digest, mediaType: top.mediaType, reference: pinned });
  }
  return { reference: pinned, digest: image.digest, mediaType: top.mediaType, size: top.bytes.length, pushedBytes, blobs: counts, manifests };
}

/**
 * PUTs the top manifest under its tag. True when written; false when an immutable tag (the
 * TAG_INVALID) already points at exactly this manifest, which is the outcome the push wanted.
 * The same tag on other content is an error that says so.
 */
async function putTopManifest(client: DistributionClient, ref: Reference, digest: string, bytes: Buffer, mediaType: string, signal?: AbortSignal): Promise<boolean> {
  try {
    await client.putManifest(ref.repository, ref.tag ?? digest, bytes, mediaType, signal);
    return true;
  } catch (error) {
    if (ref.tag === undefined || !(error instanceof RegistryError) || !(error.code === "TAG_INVALID" || error.registryCodes.includes("TAG_INVALID"))) throw error;
    let current: string | undefined;
    try {
      const found = await manifestExists(client, ref, signal);
      current = found.present ? found.digest : undefined;
    } catch {
      throw error; // cannot tell why the tag was refused; the registry's own answer says most
    }
    if (current === digest) return false;
    if (current === undefined) throw error;
    throw new ImagespecError(
      "TAG_IMMUTABLE",
      `cannot push ${formatReference(ref)}: the tag is immutable in ${ref.registry}/${ref.repository} and already points at other content (${current}, not ${digest})`,
      {
        hint: "the image under this tag differs from the one built now (a non-reproducible input, or a tag written by another tool); push under another tag, delete the old image, or make the repository's tags mutable; --force cannot overwrite an immutable tag",
        cause: error,
      },
    );
  }
}

/** Configs and layers of every image, each digest once. */
function uniqueBlobs(images: readonly Image[]): Blob[] {
  const byDigest = new Map<string, Blob>();
  for (const image of images) {
    for (const blob of [image.config, ...image.layers]) {
      const known = byDigest.get(blob.descriptor.digest);
      // Keep the copy that knows the most places to mount from.
      if (!known || (blob.sources?.length ?? 0) > (known.sources?.length ?? 0)) byDigest.set(blob.descriptor.digest, blob);
    }
  }
  return [...byDigest.values()];
}

async function manifestPresent(client: DistributionClient, repository: string, digest: string, signal?: AbortSignal): Promise<boolean> {
  const res = await client.headManifest(repository, digest, [repositoryScope(repository, "pull", "push")], signal);
  await res.discard();
  if (res.status === 200) return true;
  if (res.status === 404) return false;
  return res.fail();
}

async function ensureBlob(
  client: DistributionClient,
  ref: Reference,
  blob: Blob,
  options: PushOptions & { signal: AbortSignal },
  emit: (event: PushEvent) => void,
): Promise<BlobOutcome> {
  const { digest, size } = blob.descriptor;
  const { signal } = options;
  const repository = ref.repository;
  const remember = (where: string): Promise<void> => options.locations?.add(ref.registry, digest, where) ?? Promise.resolve();
  // An upload started while the layer was compressed is waited for (not started again); the HEAD
  // below still decides, so an outcome that no longer holds is never trusted.
  const early = await options.early?.take(ref.registry, repository, digest, signal);
  if (await client.hasBlob(repository, digest, [repositoryScope(repository, "pull", "push")], signal)) {
    await remember(repository);
    const outcome = early === "uploaded" ? "uploaded" : "exists";
    emit({ type: "blob", status: outcome, digest, size });
    return outcome;
  }
  let session: UploadSession | undefined;
  for (const candidate of await mountCandidates(ref, blob, options.locations)) {
    try {
      const start = await client.startUpload(repository, { mount: { digest, from: candidate.repository }, signal });
      if (start.mounted) {
        await remember(candidate.repository);
        await remember(repository);
        emit({ type: "blob", status: "mounted", digest, size, from: candidate.repository });
        return "mounted";
      }
      // Declined (the source no longer holds it, or our token may not read it): the registry
      // opened an ordinary upload session instead; use it, so nothing is sent twice.
      if (candidate.remembered) await options.locations?.forget(ref.registry, digest, candidate.repository);
      session = start;
      break;
    } catch (error) {
      if (signal.aborted) throw error;
      // A mount is only a shortcut (the source may be unreadable to us); try the next, or upload.
      // A remembered source the registry refuses for good (no pull on it, gone) is forgotten, so
      // later pushes do not ask for its token and try it again for every blob.
      const refused = error instanceof RegistryError && error.status !== undefined && !isRetryableStatus(error.status);
      if (candidate.remembered && refused) await options.locations?.forget(ref.registry, digest, candidate.repository);
    }
  }
  const policy = client.retryPolicy;
  let stalls = 0;
  let lastLocation: URL | undefined;
  for (let attempt = 1; ; attempt++) {
    try {
      await uploadBlob({
        client,
        repository,
        blob,
        ...(session ? { session } : {}),
        ...(options.upload ? { settings: options.upload } : {}),
        onBytes: (bytes) => emit({ type: "blob", status: "uploading", digest, size, bytes }),
        onLocation: (location) => (lastLocation = location),
        signal,
      });
      break;
    } catch (caught) {
      if (signal.aborted) throw caught;
      const error = caught instanceof RegistryError && caught.side === undefined ? caught.onSide("target") : caught;
      if (error instanceof RegistryError && error.side === "target" && error.status === undefined) {
        // A vendor may know what a dropped connection means (some drop uploads to a repository
        // that does not exist, and their API can confirm it); everywhere else it is a network fault.
        const diagnosed = await options.diagnose?.({ error, reference: ref }).catch(() => undefined);
        if (diagnosed) throw diagnosed;
      }
      if (error instanceof RegistryError && error.code === "TIMEOUT") stalls++;
      if (!mayRetry(policy, attempt, stalls) || !worthRestarting(error)) throw error;
      // Go on where the registry says it stands, or (it holds nothing usable) in a new session.
      session = lastLocation && !(error instanceof BlobReadError) ? await resumableSession(client, repository, lastLocation, size, signal) : undefined;
      lastLocation = undefined;
      // A request the transport already tried as often as the policy allows is not started over
      // (that would multiply the tries); only an upload that got somewhere goes on from there.
      if (error instanceof RegistryError && error.retriedBelow && !session?.offset) throw error;
      const retryAfter = error instanceof RegistryError ? error.retryAfter : undefined;
      const delayMs = backoffDelay(policy, attempt, retryAfter);
      await sleep(delayMs, signal);
      const failed = error instanceof RegistryError ? { method: error.method, url: redactUrl(error.url) } : { method: "UPLOAD", url: `${ref.registry}/${repository}@${digest}` };
      const how = session?.offset ? `resumes at byte ${session.offset}` : "restarts";
      client.logger?.({ type: "retry", ...failed, attempt, delayMs, reason: `upload of ${digest} ${how}: ${error instanceof ImagespecError ? error.code : "error"}` });
    }
  }
  await remember(repository);
  emit({ type: "blob", status: "uploaded", digest, size });
  return "uploaded";
}

/** Mounts worth trying: where the blob came from, then where it was seen before; same registry, other repositories, at most three. */
async function mountCandidates(ref: Reference, blob: Blob, locations: BlobLocations | undefined): Promise<{ repository: string; remembered: boolean }[]> {
  const candidates: { repository: string; remembered: boolean }[] = [];
  const seen = new Set([ref.repository]);
  for (const source of blob.sources ?? []) {
    // Never across registries: a mount names a repository of the registry it is sent to.
    if (source.registry !== ref.registry || seen.has(source.repository)) continue;
    seen.add(source.repository);
    candidates.push({ repository: source.repository, remembered: false });
  }
  for (const repository of (await locations?.repositories(ref.registry, blob.descriptor.digest)) ?? []) {
    if (seen.has(repository)) continue;
    seen.add(repository);
    candidates.push({ repository, remembered: true });
  }
  return candidates.slice(0, MOUNT_TRIES);
}

const MOUNT_TRIES = 3;

/**
 * Failures that a fresh upload session (with the blob reopened from the start) may get past: the
 * network or the registry faltering, on either end; a source that sent corrupted or truncated
 * bytes (read again from the start). Not a refusal, and not local content that is wrong.
 */
function worthRestarting(error: unknown): boolean {
  if (error instanceof BlobReadError) return error.retryable;
  if (!(error instanceof RegistryError)) return false;
  if (error.retryable) return true;
  if (["NETWORK_ERROR", "TIMEOUT", "REGISTRY_UNAVAILABLE", "TOOMANYREQUESTS", "BLOB_UPLOAD_UNKNOWN", "BLOB_UPLOAD_INVALID", "UPLOAD_STALLED"].includes(error.code)) return true;
  return error.status !== undefined && isRetryableStatus(error.status);
}
