// The public face of the registry package: one object holding the connection pools, the keychain
// and the token cache, with the operations the builder and the CLI need.
import { ImagespecError } from "../errors.js";
import { formatReference, parseReference, type Reference } from "../reference/index.js";
import { isImageIndex, type Image, type ImageIndex, type Platform } from "../oci/index.js";
import { readLayout, writeLayout, type LayoutWriteResult } from "../oci/layout.js";
import { Authenticator, TokenCache } from "./auth.js";
import type { BlobLocations } from "./blob-locations.js";
import { EarlyUploads, type GrowingSource } from "./early-upload.js";
import { repositoryScope } from "./scope.js";
import { DistributionClient, type FetchedManifest } from "./client.js";
import { manifestExists, type ExistsResult } from "./exists.js";
import { defaultKeychain, type Keychain } from "./keychain.js";
import { formatImageLocation, parseImageLocation, type ImageLocation } from "./location.js";
import { fetchManifest, pullAny, pullImage, pullIndex } from "./pull.js";
import { InflightBlobs, pushImage, type FailureDiagnosis, type PushEvent, type PushOptions, type PushResult } from "./push.js";
import { Transport, type TransportOptions } from "./transport.js";
import type { UploadSettings } from "./upload.js";
import { explainFailure, vendorFor, type RegistryVendor } from "./vendor.js";

export interface RegistryOptions extends TransportOptions {
  /**
   * Where credentials come from (default: defaultKeychain() with the vendors' credential sources
   * after explicit credentials; a keychain given here is used as it is).
   */
  readonly keychain?: Keychain;
  /**
   * Hosted registries' hooks (src/registry/vendor.ts): for a host a vendor claims, its repository
   * hook runs before each push, its diagnosis reads a dropped request, its hint explains a failure.
   */
  readonly vendors?: readonly RegistryVendor[];
  /** Blobs pushed at once (default 4). */
  readonly concurrency?: number;
  /** How blobs are uploaded (monolithic/streamed/chunked thresholds). */
  readonly upload?: UploadSettings;
  /** Share tokens between Registry objects that use the same keychain. */
  readonly tokenCache?: TokenCache;
  /**
   * Runs before each push to any registry, before any request and before the vendor's hook (and
   * before an upload started while a layer is compressed: uploadWhileWriting). A rejection fails
   * the push; for such an upload it only leaves the blob to the push.
   */
  readonly beforePush?: (ref: Reference) => Promise<void>;
  /**
   * A reading of a push request that failed without an HTTP answer, for every host (a vendor's
   * own is asked for its hosts only). Generic registry code draws no vendor conclusions.
   */
  readonly diagnose?: FailureDiagnosis;
  /**
   * Where blobs were seen (pushed, found, pulled), kept across runs: a push mounts a blob from a
   * repository of the same registry that holds it instead of uploading it again. Without it,
   * only the sources the blobs carry are tried (see rememberBlobLocations).
   */
  readonly blobLocations?: BlobLocations;
  /** Runs on close(): releases what the options brought along (a vendor's API clients). */
  readonly onClose?: () => void | Promise<void>;
}

export interface CopyOptions {
  /** Copy only this platform's image out of an index. */
  readonly platform?: Platform | string;
  readonly onProgress?: (event: PushEvent) => void;
  readonly signal?: AbortSignal;
}

export interface CopyResult {
  readonly source: string;
  readonly destination: string;
  readonly digest: string;
  readonly mediaType: string;
  /** Set when the destination is a registry. */
  readonly push?: PushResult;
  /** Set when the destination is a layout. */
  readonly layout?: LayoutWriteResult;
}

type RefInput = Reference | string;

/** The first diagnosis any of the hooks makes, asked in order. */
function firstDiagnosis(hooks: readonly (FailureDiagnosis | undefined)[]): FailureDiagnosis | undefined {
  const present = hooks.filter((hook): hook is FailureDiagnosis => hook !== undefined);
  if (present.length <= 1) return present[0];
  return async (failure) => {
    for (const hook of present) {
      const diagnosed = await hook(failure);
      if (diagnosed) return diagnosed;
    }
    return undefined;
  };
}

function toReference(ref: RefInput): Reference {
  return typeof ref === "string" ? parseReference(ref) : ref;
}

export class Registry {
  readonly keychain: Keychain;
  private readonly transport: Transport;
  private readonly tokens: TokenCache;
  private readonly clients = new Map<string, DistributionClient>();
  private readonly inflight = new InflightBlobs();
  private readonly early = new EarlyUploads();
  private locations: BlobLocations | undefined;

  private readonly vendors: readonly RegistryVendor[];

  constructor(private readonly options: RegistryOptions = {}) {
    this.transport = new Transport(options);
    this.vendors = options.vendors ?? [];
    this.keychain = options.keychain ?? defaultKeychain({ providers: this.vendors.flatMap((v) => (v.credentials ? [v.credentials] : [])) });
    this.tokens = options.tokenCache ?? new TokenCache();
    this.locations = options.blobLocations;
  }

  /**
   * Remember blob locations in `store` unless the options named one or one was lent before (the
   * first builder's cache dir wins): how a builder that knows its cache dir lends it to a
   * registry it was given.
   */
  rememberBlobLocations(store: BlobLocations): void {
    this.locations ??= store;
  }

  /** The low-level API client for one registry host. */
  client(registry: string): DistributionClient {
    let client = this.clients.get(registry);
    if (!client) {
      client = new DistributionClient(registry, this.transport, new Authenticator(registry, this.transport, this.keychain, this.tokens));
      this.clients.set(registry, client);
    }
    return client;
  }

  /** Present (with digest, media type, size) or absent; anything else throws. */
  exists(ref: RefInput, signal?: AbortSignal): Promise<ExistsResult> {
    const reference = toReference(ref);
    return manifestExists(this.client(reference.registry), reference, signal);
  }

  getManifest(ref: RefInput, signal?: AbortSignal): Promise<FetchedManifest> {
    const reference = toReference(ref);
    return fetchManifest(this.client(reference.registry), reference, signal);
  }

  /** The image or index as stored. */
  async get(ref: RefInput, signal?: AbortSignal): Promise<Image | ImageIndex> {
    const reference = toReference(ref);
    return this.noteBlobs(reference, await pullAny(this.client(reference.registry), reference, signal));
  }

  /** One image; an index is resolved for `platform` (default linux/amd64). */
  async getImage(ref: RefInput, platform?: Platform | string, signal?: AbortSignal): Promise<Image> {
    const reference = toReference(ref);
    return this.noteBlobs(reference, await pullImage(this.client(reference.registry), reference, platform, signal));
  }

  async getIndex(ref: RefInput, signal?: AbortSignal): Promise<ImageIndex> {
    const reference = toReference(ref);
    return this.noteBlobs(reference, await pullIndex(this.client(reference.registry), reference, signal));
  }

  /** A pulled image's blobs are in its repository: a later push elsewhere in that registry may mount them. */
  private async noteBlobs<T extends Image | ImageIndex>(reference: Reference, image: T): Promise<T> {
    const locations = this.locations;
    if (!locations) return image;
    const images: readonly Image[] = isImageIndex(image) ? image.images : [image as Image];
    for (const one of images) {
      for (const blob of [one.config, ...one.layers]) await locations.add(reference.registry, blob.descriptor.digest, reference.repository);
    }
    return image;
  }

  /**
   * What must happen before anything is pushed to the reference's repository: the beforePush
   * option, then the repository hook of the vendor serving the host. push() runs it itself; a
   * builder that pushes with another tool (buildx, buildah) runs it first.
   */
  async beforePush(ref: RefInput): Promise<void> {
    const reference = toReference(ref);
    await this.options.beforePush?.(reference);
    await vendorFor(this.vendors, reference.registry)?.beforePush?.(reference);
  }

  /** Whether uploadWhileWriting follows a blob being written (the upload mode may turn it off). */
  get uploadsWhileWriting(): boolean {
    const upload = this.options.upload;
    return upload?.whileWriting !== false && (upload?.mode === undefined || upload.mode === "auto");
  }

  /** Whether the reference's repository holds the blob (a HEAD); an answer other than yes or no throws. */
  async hasBlob(ref: RefInput, digest: string, signal?: AbortSignal): Promise<boolean> {
    const reference = toReference(ref);
    return this.client(reference.registry).hasBlob(reference.repository, digest, [repositoryScope(reference.repository, "pull")], signal);
  }

  /**
   * Starts sending a blob that is still being written (a layer being compressed) to the
   * reference's repository, so the upload overlaps the build; the push of an image holding it then
   * waits for that upload instead of sending the blob again. Only a head start: whatever it does
   * not finish, the push does (early-upload.ts). It streams one PATCH of unknown length, so it is
   * off when the upload mode is set (a registry that needs monolithic, known-length or chunked uploads).
   */
  uploadWhileWriting(ref: RefInput, blob: GrowingSource, signal?: AbortSignal): void {
    if (!this.uploadsWhileWriting) return;
    const reference = toReference(ref);
    this.early.start(this.client(reference.registry), reference, blob, { beforeUpload: () => this.beforePush(reference), ...(this.locations ? { locations: this.locations } : {}) }, signal);
  }

  async push(ref: RefInput, image: Image | ImageIndex, options: PushOptions = {}): Promise<PushResult> {
    const reference = toReference(ref);
    await this.beforePush(reference);
    const vendor = vendorFor(this.vendors, reference.registry);
    const diagnose = firstDiagnosis([this.options.diagnose, vendor?.diagnose]);
    try {
      return await pushImage(
        this.client(reference.registry),
        reference,
        image,
        {
          ...(this.options.concurrency !== undefined ? { concurrency: this.options.concurrency } : {}),
          ...(this.options.upload ? { upload: this.options.upload } : {}),
          ...(diagnose ? { diagnose } : {}),
          ...(this.locations ? { locations: this.locations } : {}),
          early: this.early,
          ...options,
        },
        this.inflight,
      );
    } catch (error) {
      throw explainFailure(vendor, error, reference);
    }
  }

  /** Every tag of the reference's repository (`pageSize` asks for pages of that many, following Link headers). */
  listTags(ref: RefInput, options: { pageSize?: number; signal?: AbortSignal } = {}): Promise<string[]> {
    const reference = toReference(ref);
    return this.client(reference.registry).listTags(reference.repository, options);
  }

  /** Deletes the manifest a reference names (by digest: every tag pointing at it goes too). */
  async delete(ref: RefInput, signal?: AbortSignal): Promise<void> {
    const reference = toReference(ref);
    let digest = reference.digest;
    if (digest === undefined) {
      const found = await this.exists(reference, signal);
      if (!found.present) {
        throw new ImagespecError("MANIFEST_UNKNOWN", `cannot delete ${formatReference(reference)}: it does not exist`, { hint: "check the tag; list tags to see what exists" });
      }
      digest = found.digest;
    }
    await this.client(reference.registry).deleteManifest(reference.repository, digest, signal);
  }

  /** Copies between registries and OCI layouts (`oci:DIR[:TAG]`), in any direction. */
  async copy(src: string | ImageLocation, dst: string | ImageLocation, options: CopyOptions = {}): Promise<CopyResult> {
    const from = typeof src === "string" ? parseImageLocation(src) : src;
    const to = typeof dst === "string" ? parseImageLocation(dst) : dst;
    const signal = options.signal;
    let image: Image | ImageIndex;
    if (from.kind === "layout") {
      image = await readLayout(from.layout.dir, {
        ...(from.layout.tag !== undefined ? { tag: from.layout.tag } : {}),
        ...(options.platform !== undefined ? { platform: options.platform } : {}),
      });
    } else {
      image = options.platform !== undefined ? await this.getImage(from.reference, options.platform, signal) : await this.get(from.reference, signal);
    }
    const common = { source: formatImageLocation(from), destination: formatImageLocation(to), digest: image.digest, mediaType: image.mediaType };
    if (to.kind === "layout") {
      const layout = await writeLayout(to.layout.dir, image, to.layout.tag !== undefined ? { tag: to.layout.tag } : {});
      return { ...common, layout };
    }
    const push = await this.push(to.reference, image, {
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
      ...(signal ? { signal } : {}),
    });
    return { ...common, push };
  }

  /** Closes pooled connections. */
  async close(): Promise<void> {
    this.early.close();
    await this.locations?.save();
    await this.transport.close();
    await this.options.onClose?.();
  }
}
