// An archive's `InRelease`: fetched, its OpenPGP signature checked against the keys apt would use
// (the entry's Signed-By, else the base's trusted.gpg(.d), else the host's archive keyring), and
// only the signed text parsed: suite, architectures, components, and the SHA256 list of index
// files, which is what makes every later download verifiable. A missing or bad signature, or an
// expired Valid-Until, is an error; nothing is ever used unverified.
import { readFile } from "node:fs/promises";
import type * as Pgp from "openpgp";

/** openpgp, loaded on first use: it is slow to load, and only builds with apt packages need it. */
let pgpModule: Promise<typeof Pgp> | undefined;
function loadOpenpgp(): Promise<typeof Pgp> {
  pgpModule ??= import("openpgp");
  return pgpModule;
}
import type { BaseFiles } from "./base-files.js";
import { baseFile } from "./base-files.js";
import { field, parseParagraphs } from "./control.js";
import { AptError } from "./errors.js";
import { fetchBytes, type FetchOptions } from "./fetch.js";
import type { SourceEntry } from "./sources.js";

export interface ReleaseFile {
  readonly path: string;
  readonly sha256: string;
  readonly size: number;
}

export interface Release {
  /** Where the index paths of `files` are relative to: `URI/dists/SUITE` (or the flat repository's folder). */
  readonly base: string;
  readonly suite?: string;
  readonly codename?: string;
  readonly date?: string;
  readonly architectures: readonly string[];
  readonly components: readonly string[];
  readonly acquireByHash: boolean;
  /** `No-Support-for-Architecture-all: Packages`: arch-all packages are listed in each binary-ARCH index. */
  readonly allInArchIndexes: boolean;
  readonly files: ReadonlyMap<string, ReleaseFile>;
  /** Fingerprints of the keys whose signatures verified. */
  readonly signedBy: readonly string[];
}

/** Where a source entry's release files are. */
export function releaseBase(entry: Pick<SourceEntry, "uri" | "suite">): string {
  return entry.suite.endsWith("/") ? `${entry.uri}/${entry.suite.replace(/^\.?\/+/, "").replace(/\/+$/, "")}`.replace(/\/$/, "") : `${entry.uri}/dists/${entry.suite}`;
}

/** Parses a keyring file: binary OpenPGP packets (`.gpg`) or an armored key block (`.asc`). Unreadable files give no keys. */
export async function readKeyring(content: Buffer | string): Promise<Pgp.Key[]> {
  const text = typeof content === "string" ? content : content.toString("latin1");
  try {
    if (text.includes("-----BEGIN PGP PUBLIC KEY BLOCK-----")) return await (await loadOpenpgp()).readKeys({ armoredKeys: typeof content === "string" ? content : content.toString("utf8") });
    return await (await loadOpenpgp()).readKeys({ binaryKeys: typeof content === "string" ? Buffer.from(content, "latin1") : content });
  } catch {
    return [];
  }
}

const HOST_KEYRINGS = ["/usr/share/keyrings/debian-archive-keyring.gpg", "/usr/share/keyrings/ubuntu-archive-keyring.gpg"];

/** The keys apt would check this entry's signature with, and where they came from. */
export async function keysFor(entry: SourceEntry, base: BaseFiles | undefined): Promise<{ keys: Pgp.Key[]; from: string[] }> {
  const keys: Pgp.Key[] = [];
  const from: string[] = [];
  const add = async (content: Buffer | string | undefined, where: string) => {
    if (content === undefined) return;
    const read = await readKeyring(content);
    if (read.length > 0) {
      keys.push(...read);
      from.push(where);
    }
  };
  if (entry.signedByKey !== undefined) {
    await add(entry.signedByKey, `${entry.origin} Signed-By`);
    return { keys, from };
  }
  if (entry.signedBy !== undefined) {
    for (const path of entry.signedBy) {
      const inBase = base && baseFile(base, path);
      await add(inBase ?? (await readFile(path).catch(() => undefined)), inBase ? `image:${path}` : `host:${path}`);
    }
    return { keys, from };
  }
  if (base !== undefined) {
    await add(baseFile(base, "/etc/apt/trusted.gpg"), "image:/etc/apt/trusted.gpg");
    const parts = [...base.files.keys()].filter((p) => p.startsWith("/etc/apt/trusted.gpg.d/") && /\.(gpg|asc)$/.test(p)).sort();
    for (const path of parts) await add(base.files.get(path), `image:${path}`);
  }
  if (keys.length === 0) {
    for (const path of HOST_KEYRINGS) await add(await readFile(path).catch(() => undefined), `host:${path}`);
  }
  return { keys, from };
}

function noKeys(what: string): AptError {
  return new AptError("APT_NO_KEYRING", `no OpenPGP key to check ${what} with`, {
    hint: "the base image has no apt keyring (/etc/apt/trusted.gpg.d, or the source's Signed-By) and this machine has none either; install debian-archive-keyring on the host or use a base that has its keyring",
  });
}

/**
 * At least one signature must be by one of the keys and verify; a signature by one of the keys
 * that does not verify is an error even when another does (the text was altered).
 */
async function checkSignatures(signatures: Awaited<ReturnType<typeof Pgp.verify>>["signatures"], keys: readonly Pgp.Key[], what: string): Promise<string[]> {
  const good: string[] = [];
  const bad: string[] = [];
  for (const signature of signatures) {
    const known = keys.find((k) => k.getKeys(signature.keyID).length > 0);
    try {
      await signature.verified;
      good.push(known?.getFingerprint().toUpperCase() ?? signature.keyID.toHex());
    } catch (error) {
      if (known !== undefined) bad.push(`${signature.keyID.toHex().toUpperCase()}: ${(error as Error).message}`);
    }
  }
  if (bad.length > 0) {
    throw new AptError("APT_SIGNATURE_INVALID", `${what}: bad OpenPGP signature (${bad.join("; ")})`, {
      hint: "the file was altered after signing or in transit; it was not used. Try again, or set another mirror",
    });
  }
  if (good.length === 0) {
    const ids = signatures.map((s) => s.keyID.toHex().toUpperCase()).join(", ") || "none";
    throw new AptError("APT_SIGNATURE_INVALID", `${what} is not signed by a trusted key (signed by: ${ids})`, {
      hint: "add the archive's key to the base image (/etc/apt/trusted.gpg.d or the source's Signed-By)",
    });
  }
  return good;
}

/** Verifies a cleartext-signed InRelease and returns the signed text. */
export async function verifyInRelease(text: string, keys: readonly Pgp.Key[], what: string): Promise<{ text: string; signedBy: string[] }> {
  if (keys.length === 0) throw noKeys(what);
  let message: Pgp.CleartextMessage;
  try {
    message = await (await loadOpenpgp()).readCleartextMessage({ cleartextMessage: text });
  } catch (error) {
    throw new AptError("APT_SIGNATURE_INVALID", `${what} is not an OpenPGP-signed document: ${(error as Error).message}`, {
      hint: "the mirror did not serve a signed InRelease; check the mirror URL",
      cause: error,
    });
  }
  const result = await (await loadOpenpgp()).verify({ message, verificationKeys: [...keys], expectSigned: false });
  return { text: message.getText(), signedBy: await checkSignatures(result.signatures, keys, what) };
}

/** Verifies a Release file against its detached Release.gpg signature. */
export async function verifyDetached(release: Buffer, signature: Buffer, keys: readonly Pgp.Key[], what: string): Promise<{ text: string; signedBy: string[] }> {
  if (keys.length === 0) throw noKeys(what);
  let parsed: Pgp.Signature;
  try {
    const text = signature.toString("latin1");
    parsed = text.includes("-----BEGIN PGP SIGNATURE-----")
      ? await (await loadOpenpgp()).readSignature({ armoredSignature: signature.toString("utf8") })
      : await (await loadOpenpgp()).readSignature({ binarySignature: signature });
  } catch (error) {
    throw new AptError("APT_SIGNATURE_INVALID", `${what}: Release.gpg is not an OpenPGP signature: ${(error as Error).message}`, { cause: error });
  }
  const message = await (await loadOpenpgp()).createMessage({ binary: release });
  const result = await (await loadOpenpgp()).verify({ message, signature: parsed, verificationKeys: [...keys], expectSigned: false, format: "binary" });
  return { text: release.toString("utf8"), signedBy: await checkSignatures(result.signatures, keys, what) };
}

/** Parses the signed text of a Release file. */
export function parseRelease(text: string, base: string, signedBy: readonly string[]): Release {
  const p = parseParagraphs(text)[0];
  if (p === undefined) throw new AptError("APT_NO_INDEX", `${base}/InRelease is empty`);
  const files = new Map<string, ReleaseFile>();
  for (const line of (field(p, "SHA256") ?? "").split("\n")) {
    const m = /^\s*([0-9a-f]{64})\s+(\d+)\s+(\S+)\s*$/i.exec(line);
    if (m) files.set(m[3]!, { path: m[3]!, sha256: m[1]!.toLowerCase(), size: Number(m[2]) });
  }
  const words = (name: string) => (field(p, name) ?? "").split(/\s+/).filter(Boolean);
  const suite = field(p, "Suite");
  const codename = field(p, "Codename");
  const date = field(p, "Date");
  return {
    base,
    ...(suite !== undefined ? { suite } : {}),
    ...(codename !== undefined ? { codename } : {}),
    ...(date !== undefined ? { date } : {}),
    architectures: words("Architectures"),
    components: words("Components"),
    acquireByHash: (field(p, "Acquire-By-Hash") ?? "").toLowerCase() === "yes",
    allInArchIndexes: words("No-Support-for-Architecture-all").includes("Packages"),
    files,
    signedBy,
  };
}

function checkValidUntil(text: string, what: string, now: Date): void {
  const p = parseParagraphs(text)[0];
  const until = p && field(p, "Valid-Until");
  if (until === undefined) return;
  const time = Date.parse(until);
  if (!Number.isNaN(time) && time < now.getTime()) {
    throw new AptError("APT_RELEASE_EXPIRED", `${what} expired on ${until}`, { hint: "the mirror is out of date; use another mirror" });
  }
}

/** Fetches and verifies the entry's InRelease (or, where an archive has none, Release with Release.gpg). */
export async function fetchRelease(entry: SourceEntry, base: BaseFiles | undefined, options: FetchOptions & { now?: Date } = {}): Promise<Release> {
  const root = releaseBase(entry);
  const url = `${root}/InRelease`;
  const { keys } = await keysFor(entry, base);
  let verified: { text: string; signedBy: string[] };
  const body = await fetchBytes(url, options);
  if (body !== undefined) {
    verified = await verifyInRelease(body.toString("utf8"), keys, url);
  } else {
    const release = await fetchBytes(`${root}/Release`, options);
    const signature = release === undefined ? undefined : await fetchBytes(`${root}/Release.gpg`, options);
    if (release === undefined) {
      throw new AptError("APT_NO_INDEX", `${url} does not exist (from ${entry.origin})`, {
        hint: `check the suite ${JSON.stringify(entry.suite)} and the mirror`,
      });
    }
    if (signature === undefined) {
      throw new AptError("APT_SIGNATURE_INVALID", `${root}/Release is not signed: there is neither an InRelease nor a Release.gpg`, {
        hint: "imagespec installs only from signed archives",
      });
    }
    verified = await verifyDetached(release, signature, keys, `${root}/Release`);
  }
  checkValidUntil(verified.text, url, options.now ?? new Date());
  return parseRelease(verified.text, root, verified.signedBy);
}
