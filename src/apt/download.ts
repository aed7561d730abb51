// Downloading the resolved packages: several at once, each checked against the sha256 and size
// of the signed index, into the content-addressed cache (a package already there is not fetched).
import { mapLimited } from "../concurrency.js";
import { AptError } from "./errors.js";
import { fetchByHash, type FetchOptions } from "./fetch.js";
import type { IndexPackage } from "./packages-index.js";

export interface DownloadedDeb {
  readonly pkg: IndexPackage;
  /** Host path of the cached .deb. */
  readonly path: string;
  readonly fromCache: boolean;
}

export interface DownloadDebsOptions extends FetchOptions {
  readonly cacheDir: string;
  /** Packages fetched at once (default 6). */
  readonly concurrency?: number;
}

export async function downloadDebs(packages: readonly IndexPackage[], options: DownloadDebsOptions): Promise<DownloadedDeb[]> {
  // The first failure cancels the downloads still running (through the signal each one gets).
  return mapLimited(
    packages,
    options.concurrency ?? 6,
    async (pkg, signal) => {
      if (!/^[0-9a-f]{64}$/.test(pkg.sha256)) throw new AptError("APT_BAD_CONTROL", `${pkg.name} ${pkg.version}: the index gives no usable SHA256`);
      const url = `${pkg.archive}/${pkg.filename}`;
      const what = `${pkg.name} ${pkg.version} (${pkg.filename.slice(pkg.filename.lastIndexOf("/") + 1)})`;
      const got = await fetchByHash([url], { sha256: pkg.sha256, size: pkg.size, what }, options.cacheDir, { ...options, signal });
      return { pkg, path: got.path, fromCache: got.fromCache };
    },
    { signal: options.signal },
  );
}
