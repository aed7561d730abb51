// The OCI distribution API (spec 1.1) for one registry: manifests, blobs, upload sessions, mounts,
// tags, deletes. Each call names the token scope it needs; auth, retries and TLS live below.
// Tolerates what real registries do: relative or absolute Locations, 201 instead of 202, a missing
// Docker-Content-Digest (we compute digests ourselves anyway).
import type { Readable } from "node:stream";
import { ImagespecError } from "../errors.js";
import { DigestingStream, DigestMismatchError, isIndexMediaType, isManifestMediaType, sha256, type Descriptor } from "../oci/index.js";
import { MANIFEST_ACCEPT } from "../oci/media-types.js";
import type { Authenticator } from "./auth.js";
import { isTransientNetworkError, networkError, parseErrorBody, RegistryError } from "./errors.js";
import { redactUrl, type RegistryLogger } from "./log.js";
import { backoffDelay, mayRetry, sleep, type RetryPolicy } from "./retry.js";
import { repositoryScope } from "./scope.js";
import { describeAnswer, resolveLocation, type HttpRequest, type HttpResponse, type Transport } from "./transport.js";

export interface ManifestDescriptor {
  readonly digest: string;
  readonly mediaType: string;
  readonly size: number;
}

export interface FetchedManifest extends ManifestDescriptor {
  /** The exact bytes the digest is computed over. */
  readonly bytes: Buffer;
}

/** An upload session, or a blob that a mount made present without one. */
export type UploadStart =
  | { readonly mounted: true }
  | {
      readonly mounted: false;
      readonly location: URL;
      /** `OCI-Chunk-Min-Length`: the smallest PATCH the registry accepts in a chunked upload. */
      readonly minChunkLength?: number;
    };

const MANIFEST_LIMIT = 8 << 20;

export class DistributionClient {
  constructor(
    readonly registry: string,
    private readonly transport: Transport,
    private readonly auth: Authenticator,
  ) {}

  /** The one retry policy (the transport's), for steps that retry above a single request. */
  get retryPolicy(): RetryPolicy {
    return this.transport.retryPolicy;
  }

  /** The --verbose hook, for steps above a single request (an upload started again). */
  get logger(): RegistryLogger | undefined {
    return this.transport.logger;
  }

  /** An absolute URL on this registry for an API path (`/v2/...`). */
  async url(path: string, query: Record<string, string> = {}, signal?: AbortSignal): Promise<URL> {
    const url = new URL(path, await this.transport.baseUrl(this.registry, signal));
    for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
    return url;
  }

  /** Sends one request with the auth these scopes need. Any HTTP status comes back; a final 401 throws. */
  send(req: HttpRequest, scopes: readonly string[]): Promise<HttpResponse> {
    return this.auth.request(req, scopes);
  }

  async headManifest(repository: string, reference: string, scopes = [repositoryScope(repository, "pull")], signal?: AbortSignal): Promise<HttpResponse> {
    const url = await this.url(`/v2/${repository}/manifests/${reference}`, {}, signal);
    return this.send({ method: "HEAD", url, headers: { accept: MANIFEST_ACCEPT }, followRedirects: true, ...(signal ? { signal } : {}) }, scopes);
  }

  /** GETs a manifest or index, verifying its bytes against the digest asked for or announced. */
  async getManifest(repository: string, reference: string, signal?: AbortSignal): Promise<FetchedManifest> {
    const url = await this.url(`/v2/${repository}/manifests/${reference}`, {}, signal);
    return this.readWhole(url, signal, async () => {
      const res = await this.send({ method: "GET", url, headers: { accept: MANIFEST_ACCEPT }, followRedirects: true, ...(signal ? { signal } : {}) }, [repositoryScope(repository, "pull")]);
      if (res.status !== 200) return res.fail();
      return readManifest(res, reference);
    });
  }

  /**
   * A small answer read whole (a manifest, a config), asked for again from the start when its body
   * broke off or its bytes did not match their digest: the transport retries only up to the headers.
   */
  private async readWhole<T>(url: URL, signal: AbortSignal | undefined, read: () => Promise<T>): Promise<T> {
    const policy = this.retryPolicy;
    let stalls = 0;
    for (let attempt = 1; ; attempt++) {
      try {
        return await read();
      } catch (error) {
        const broken = error instanceof DigestMismatchError || (error instanceof RegistryError && error.retryable);
        if (error instanceof RegistryError && error.code === "TIMEOUT") stalls++;
        if (!broken || signal?.aborted || !mayRetry(policy, attempt, stalls)) throw error;
        const delayMs = backoffDelay(policy, attempt);
        this.logger?.({ type: "retry", method: "GET", url: redactUrl(url), attempt, delayMs, reason: (error as ImagespecError).code });
        await sleep(delayMs, signal);
      }
    }
  }

  /** PUTs manifest bytes under a tag or digest. Returns the digest of the bytes (not trusting a header). */
  async putManifest(repository: string, reference: string, bytes: Buffer, mediaType: string, signal?: AbortSignal): Promise<string> {
    const url = await this.url(`/v2/${repository}/manifests/${reference}`, {}, signal);
    const res = await this.send(
      { method: "PUT", url, headers: { "content-type": mediaType }, body: bytes, ...(signal ? { signal } : {}) },
      [repositoryScope(repository, "pull", "push")],
    );
    if (res.status !== 201 && res.status !== 200 && res.status !== 202) return res.fail({ expected: "201 Created" });
    await res.discard();
    return sha256(bytes);
  }

  async deleteManifest(repository: string, digest: string, signal?: AbortSignal): Promise<void> {
    const url = await this.url(`/v2/${repository}/manifests/${digest}`, {}, signal);
    const res = await this.send({ method: "DELETE", url, ...(signal ? { signal } : {}) }, [repositoryScope(repository, "delete")]);
    if (res.status !== 202 && res.status !== 200 && res.status !== 204) return res.fail();
    await res.discard();
  }

  /** True when the repository holds the blob; throws for anything but yes or no. */
  async hasBlob(repository: string, digest: string, scopes: readonly string[], signal?: AbortSignal): Promise<boolean> {
    const url = await this.url(`/v2/${repository}/blobs/${digest}`, {}, signal);
    const res = await this.send({ method: "HEAD", url, followRedirects: true, ...(signal ? { signal } : {}) }, scopes);
    await res.discard();
    if (res.status === 200) return true;
    if (res.status === 404) return false;
    return res.fail();
  }

  /** A stream of a blob that fails at its end unless the content matches the descriptor's digest and size. */
  async openBlob(repository: string, descriptor: Descriptor, signal?: AbortSignal): Promise<Readable> {
    const url = await this.url(`/v2/${repository}/blobs/${descriptor.digest}`, {}, signal);
    const res = await this.send({ method: "GET", url, followRedirects: true, ...(signal ? { signal } : {}) }, [repositoryScope(repository, "pull")]);
    if (res.status !== 200) return res.fail();
    const verified = new DigestingStream({ digest: descriptor.digest, size: descriptor.size, what: `${this.registry}/${repository}@${descriptor.digest}` });
    const body = res.body;
    // A dropped connection mid-body becomes a registry error naming the blob, not a bare socket error.
    body.on("error", (error) => verified.destroy(error instanceof ImagespecError ? error : networkError("GET", url, error, isTransientNetworkError(error))));
    verified.on("close", () => {
      if (!body.destroyed && !body.readableEnded) body.destroy();
    });
    body.pipe(verified);
    return verified;
  }

  /** A small blob (a config) read whole and verified. */
  async fetchBlob(repository: string, descriptor: Descriptor, limit = 64 << 20, signal?: AbortSignal): Promise<Buffer> {
    if (descriptor.size > limit) {
      throw new ImagespecError("BLOB_TOO_LARGE", `${this.registry}/${repository}@${descriptor.digest} is ${descriptor.size} bytes; refusing to read it into memory`, {
        hint: "this blob is expected to be small (an image config); the image may be malformed",
      });
    }
    const url = await this.url(`/v2/${repository}/blobs/${descriptor.digest}`, {}, signal);
    return this.readWhole(url, signal, async () => {
      const res = await this.send({ method: "GET", url, followRedirects: true, ...(signal ? { signal } : {}) }, [repositoryScope(repository, "pull")]);
      if (res.status !== 200) return res.fail();
      const bytes = await res.buffer(limit);
      const digest = sha256(bytes);
      if (digest !== descriptor.digest || bytes.length !== descriptor.size) {
        throw new DigestMismatchError(`${this.registry}/${repository}@${descriptor.digest}`, descriptor.digest, `${digest} (${bytes.length} bytes)`);
      }
      return bytes;
    });
  }

  /**
   * Starts an upload (POST). With `mount`, asks for a cross-repository mount first: 201 means the
   * blob is now present, 202 means the registry declined and opened an ordinary upload session.
   */
  async startUpload(repository: string, options: { mount?: { digest: string; from: string }; signal?: AbortSignal } = {}): Promise<UploadStart> {
    const { mount, signal } = options;
    const query: Record<string, string> = mount ? { mount: mount.digest, from: mount.from } : {};
    const url = await this.url(`/v2/${repository}/blobs/uploads/`, query, signal);
    const scopes = [repositoryScope(repository, "pull", "push"), ...(mount ? [repositoryScope(mount.from, "pull")] : [])];
    const res = await this.send({ method: "POST", url, headers: { "content-length": "0" }, ...(signal ? { signal } : {}) }, scopes);
    // A refusal's body carries the registry's error codes (DENIED, NAME_UNKNOWN): fail() reads it.
    if (res.status !== 202 && res.status !== 201) return res.fail({ expected: "202 Accepted" });
    await res.discard();
    if (mount && res.status === 201) return { mounted: true };
    const location = res.header("location");
    if (!location) {
      throw new RegistryError({ method: "POST", url, status: res.status, code: "UPLOAD_INVALID", problem: "the registry opened an upload without a Location", hint: "the registry is not following the distribution spec; tell its operator" });
    }
    const min = Number(res.header("oci-chunk-min-length"));
    return { mounted: false, location: resolveLocation(location, url, "POST"), ...(Number.isFinite(min) && min > 0 ? { minChunkLength: min } : {}) };
  }

  /**
   * Whether the repository exists, judged from its tag list: registries (distribution among them)
   * answer a manifest request in a missing repository with MANIFEST_UNKNOWN, which hides the cause.
   * Undefined when the registry will not say.
   */
  async repositoryExists(repository: string, signal?: AbortSignal): Promise<boolean | undefined> {
    const url = await this.url(`/v2/${repository}/tags/list`, { n: "1" }, signal);
    const res = await this.send({ method: "GET", url, ...(signal ? { signal } : {}) }, [repositoryScope(repository, "pull")]);
    if (res.status === 200) {
      await res.discard();
      return true;
    }
    const details = parseErrorBody(await res.text(1 << 20).catch(() => ""));
    return details.some((d) => d.code === "NAME_UNKNOWN") ? false : undefined;
  }

  /** Every tag of a repository, following `Link: <...>; rel="next"` pages. */
  async listTags(repository: string, options: { pageSize?: number; signal?: AbortSignal } = {}): Promise<string[]> {
    const { signal } = options;
    let url: URL | undefined = await this.url(`/v2/${repository}/tags/list`, options.pageSize ? { n: String(options.pageSize) } : {}, signal);
    const tags: string[] = [];
    for (let page = 0; url && page < 10_000; page++) {
      const res = await this.send({ method: "GET", url, ...(signal ? { signal } : {}) }, [repositoryScope(repository, "pull")]);
      if (res.status !== 200) return res.fail();
      let body: { tags?: string[] | null };
      try {
        body = JSON.parse(await res.text(MANIFEST_LIMIT)) as typeof body;
      } catch {
        throw new RegistryError({ method: "GET", url, status: res.status, code: "TAGS_INVALID", problem: "the tag list is not JSON", hint: "the registry is misbehaving; retry, or tell its operator" });
      }
      tags.push(...(body.tags ?? []));
      const next = /<([^>]+)>\s*;\s*rel="?next"?/i.exec(res.header("link") ?? "")?.[1];
      url = next ? resolveLocation(next, url, "GET") : undefined;
    }
    return tags;
  }
}

/**
 * Reads a 200 manifest response: bytes, media type, digest. It counts as a manifest only when it is
 * one: a known manifest or index media type (from Content-Type, or from the body when the type is
 * generic JSON), a body that parses as that kind of document, and a digest that matches the one
 * asked for or announced. Anything else (an HTML page, `{}`, junk) is an error naming what came back.
 */
export async function readManifest(res: HttpResponse, reference: string): Promise<FetchedManifest> {
  const bytes = await res.buffer(MANIFEST_LIMIT);
  const contentType = res.header("content-type");
  const notAManifest = (why: string): never => {
    throw new RegistryError({
      method: res.method,
      url: res.url,
      status: res.status,
      code: "NOT_A_MANIFEST",
      problem: `${describeAnswer(contentType, bytes, "an image manifest or index")} (${why})`,
      hint: `a registry answers with a manifest; this looks like something else (a proxy, a captive portal, a misconfigured registry) answering for ${res.url.host}: check the host, port and any HTTP proxy`,
    });
  };
  const document = parseDocument(bytes);
  if (document === undefined) return notAManifest("the body is not a JSON object");
  const mediaType = manifestMediaType(contentType, document);
  if (mediaType === undefined) {
    const type = contentType?.split(";")[0]?.trim() || "no content type";
    // Docker's schema 1 is a manifest, but one imagespec does not read (nor asks for).
    return notAManifest(type.startsWith("application/vnd.docker.distribution.manifest.v1") ? "a Docker schema 1 manifest, which imagespec does not read; push the image again with a current tool" : `${type} is not a manifest media type`);
  }
  const shapeProblem = manifestShapeProblem(mediaType, document);
  if (shapeProblem) return notAManifest(shapeProblem);
  const digest = sha256(bytes);
  const expected = reference.includes(":") ? reference : res.header("docker-content-digest");
  if (expected !== undefined && expected.startsWith("sha256:") && expected !== digest) {
    throw new DigestMismatchError(`manifest ${res.url.pathname}`, expected, digest);
  }
  return { bytes, digest, size: bytes.length, mediaType };
}

function parseDocument(bytes: Buffer): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(bytes.toString("utf8"));
    return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

const GENERIC_TYPES = new Set(["application/json", "text/plain", "application/octet-stream", ""]);

/** The Content-Type when it is a manifest type; when it is generic, the document's own mediaType (or its shape). */
function manifestMediaType(contentType: string | undefined, document: Record<string, unknown>): string | undefined {
  const header = contentType?.split(";")[0]?.trim().toLowerCase() ?? "";
  if (isManifestMediaType(header) || isIndexMediaType(header)) return header;
  if (!GENERIC_TYPES.has(header)) return undefined;
  const own = document.mediaType;
  if (typeof own === "string") return isManifestMediaType(own) || isIndexMediaType(own) ? own : undefined;
  if (Array.isArray(document.manifests)) return "application/vnd.oci.image.index.v1+json";
  if (Array.isArray(document.layers)) return "application/vnd.oci.image.manifest.v1+json";
  return undefined;
}

/** Why the document is not the kind its media type says, or undefined when it is. */
function manifestShapeProblem(mediaType: string, document: Record<string, unknown>): string | undefined {
  if (document.schemaVersion !== 2) return "schemaVersion is not 2";
  if (typeof document.mediaType === "string" && document.mediaType !== mediaType) return `its mediaType ${document.mediaType} contradicts the Content-Type ${mediaType}`;
  const isDescriptor = (d: unknown): boolean => typeof d === "object" && d !== null && typeof (d as { digest?: unknown }).digest === "string" && typeof (d as { size?: unknown }).size === "number";
  if (isIndexMediaType(mediaType)) {
    return Array.isArray(document.manifests) && document.manifests.every(isDescriptor) ? undefined : "an index needs a manifests list of descriptors";
  }
  if (!isDescriptor(document.config)) return "a manifest needs a config descriptor";
  return Array.isArray(document.layers) && document.layers.every(isDescriptor) ? undefined : "a manifest needs a layers list of descriptors";
}
