// "Is this image in the registry?" has three answers: yes (with its digest), no, or an error that
// says why we cannot tell. An auth failure, a 5xx or a TLS problem is never read as yes — that
// is the bug that makes other tools skip a build and deploy an image that does not exist.
import { referenceIdentifier, type Reference } from "../reference/index.js";
import { isIndexMediaType, isManifestMediaType, MANIFEST_ACCEPT } from "../oci/media-types.js";
import { readManifest, type DistributionClient } from "./client.js";
import { parseErrorBody, saysNotFound } from "./errors.js";
import { repositoryScope } from "./scope.js";
import type { HttpResponse } from "./transport.js";

export type ExistsResult =
  | { readonly present: true; readonly digest: string; readonly mediaType: string; readonly size: number }
  | { readonly present: false };

export async function manifestExists(client: DistributionClient, ref: Reference, signal?: AbortSignal): Promise<ExistsResult> {
  const id = referenceIdentifier(ref);
  const head = await client.headManifest(ref.repository, id, undefined, signal);
  await head.discard();
  if (head.status === 404) return { present: false };
  if (head.status === 200) {
    const digest = head.header("docker-content-digest");
    const mediaType = head.header("content-type")?.split(";")[0]?.trim().toLowerCase();
    const size = Number(head.header("content-length"));
    // HEAD proves a manifest only with a manifest media type and its digest; anything less (an
    // HTML page, a generic JSON type, no digest) is settled by GET, which reads and checks the bytes.
    const known = isManifestMediaType(mediaType) || isIndexMediaType(mediaType);
    if (known && /^sha256:[a-f0-9]{64}$/.test(digest ?? "") && Number.isSafeInteger(size) && size > 0) {
      if (ref.digest !== undefined && digest !== ref.digest) return { present: false };
      return { present: true, digest: digest!, mediaType: mediaType!, size };
    }
  }
  // HEAD has no body: a 405, a 403 or a 5xx only tells us something with GET, whose body may say
  // "repository not found" (some registries answer a missing repository that way).
  const url = await client.url(`/v2/${ref.repository}/manifests/${id}`, {}, signal);
  const get = await client.send(
    { method: "GET", url, headers: { accept: MANIFEST_ACCEPT }, followRedirects: true, ...(signal ? { signal } : {}) },
    [repositoryScope(ref.repository, "pull")],
  );
  if (get.status === 200) {
    const fetched = await readManifest(get, id);
    return { present: true, digest: fetched.digest, mediaType: fetched.mediaType, size: fetched.size };
  }
  if (await isAbsent(get)) return { present: false };
  return get.fail();
}

async function isAbsent(res: HttpResponse): Promise<boolean> {
  if (res.status === 404) {
    await res.discard();
    return true;
  }
  if (res.status !== 403 && res.status < 500) return false;
  const body = await res.text(1 << 20).catch(() => "");
  return saysNotFound(parseErrorBody(body), body);
}
