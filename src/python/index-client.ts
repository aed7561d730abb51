// Reading a package index the way pip does, without pip: a project's files from its simple page
// (PEP 691 JSON when the index offers it, else PEP 503 HTML), and a wheel's METADATA from the PEP
// 658 / 714 sidecar (`<wheel>.metadata`) or, when there is none, from the wheel itself by HTTP
// range requests (the zip's end record, its central directory, then only the METADATA member).
// Every request goes through the proxy-aware dispatcher and carries the index's credentials.
import { createHash } from "node:crypto";
import { inflateRawSync } from "node:zlib";
import { fetch, type Response } from "undici";
import { indexCredentialsFor, proxyDispatcher } from "./download.js";
import { redactUrl } from "./errors.js";

/** One file on a project page. */
export interface IndexFile {
  readonly filename: string;
  /** Absolute, credentials as in the page (resolvers strip them before storing). */
  readonly url: string;
  readonly sha256?: string;
  readonly requiresPython?: string;
  readonly yanked: boolean;
  /** The PEP 658 sidecar exists; its sha256 when the index gave one. */
  readonly metadata: false | { readonly sha256?: string };
}

/** Why the index cannot be read natively: the caller falls back to pip. */
export class IndexUnsupported extends Error {}

export interface IndexClientOptions {
  /** Index URLs as configured (credentials included): requests to their origins carry them. */
  readonly indexUrls: readonly string[];
  readonly signal?: AbortSignal;
}

const SIMPLE_ACCEPT = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01";

/** Requests in flight at once: enough to hide latency, few enough not to hammer an index. */
const CONCURRENT_REQUESTS = 16;

export class IndexClient {
  /** Requests made, by kind, for measurements and tests. */
  readonly counts = { pages: 0, metadataFiles: 0, rangeRequests: 0 };
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly options: IndexClientOptions) {}

  /** A GET whose body the callback reads; at most CONCURRENT_REQUESTS run at once. */
  private async request<T>(url: string, headers: Record<string, string>, read: (response: Response) => Promise<T>): Promise<T> {
    // A finished request hands its slot straight to the next waiting one.
    if (this.active >= CONCURRENT_REQUESTS) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.active++;
    try {
      return await read(await this.get(url, headers));
    } finally {
      const next = this.waiting.shift();
      if (next !== undefined) next();
      else this.active--;
    }
  }

  private async get(url: string, headers: Record<string, string>): Promise<Response> {
    const target = new URL(url);
    const authorization = indexCredentialsFor(target, this.options.indexUrls);
    // Credentials in the URL itself are sent as Basic, as pip does; fetch refuses them in the URL.
    const inline = target.username !== "" || target.password !== "" ? `Basic ${Buffer.from(`${decodeURIComponent(target.username)}:${decodeURIComponent(target.password)}`).toString("base64")}` : undefined;
    target.username = "";
    target.password = "";
    return fetch(target, {
      headers: { "user-agent": "imagespec", ...headers, ...((inline ?? authorization) !== undefined ? { authorization: (inline ?? authorization)! } : {}) },
      redirect: "follow",
      dispatcher: proxyDispatcher(),
      ...(this.options.signal ? { signal: this.options.signal } : {}),
    });
  }

  /** A project's files on one index; empty when the index does not know the project (404). */
  async projectFiles(indexUrl: string, project: string): Promise<IndexFile[]> {
    const pageUrl = new URL(`${encodeURIComponent(project)}/`, indexUrl.endsWith("/") ? indexUrl : `${indexUrl}/`).toString();
    this.counts.pages++;
    const page = await this.request(pageUrl, { accept: SIMPLE_ACCEPT }, async (response) => {
      if (response.status === 404 || !response.ok) {
        await response.body?.cancel();
        return { status: response.status, type: "", body: "", base: pageUrl };
      }
      const type = (response.headers.get("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
      return { status: response.status, type, body: await response.text(), base: response.url || pageUrl };
    });
    if (page.status === 404) return [];
    if (page.status !== 200) throw new IndexUnsupported(`${redactUrl(pageUrl)} answered HTTP ${page.status}`);
    const { type, body, base } = page;
    if (type === "application/vnd.pypi.simple.v1+json") return parseJsonPage(body, base);
    if (type === "text/html" || type === "application/vnd.pypi.simple.v1+html" || type === "") return parseHtmlPage(body, base);
    throw new IndexUnsupported(`${redactUrl(pageUrl)} answered with ${type}, not a simple index page`);
  }

  /** A wheel's METADATA text: the sidecar when offered (checked against its hash), else by range requests. */
  async wheelMetadata(file: IndexFile): Promise<string> {
    if (file.metadata !== false) {
      this.counts.metadataFiles++;
      const bytes = await this.request(`${file.url.replace(/#.*$/, "")}.metadata`, {}, async (response) => {
        if (response.ok) return Buffer.from(await response.arrayBuffer());
        await response.body?.cancel();
        return undefined;
      });
      if (bytes !== undefined) {
        const expected = file.metadata.sha256;
        if (expected !== undefined) {
          const actual = createHash("sha256").update(bytes).digest("hex");
          if (actual !== expected.toLowerCase()) throw new IndexUnsupported(`the metadata of ${file.filename} has sha256 ${actual}, the index published ${expected}`);
        }
        return bytes.toString("utf8");
      }
    }
    return this.metadataByRange(file);
  }

  /** Reads `<dist>.dist-info/METADATA` out of the remote zip with at most three range requests. */
  private async metadataByRange(file: IndexFile): Promise<string> {
    const url = file.url.replace(/#.*$/, "");
    const tail = await this.range(url, `bytes=-${TAIL_BYTES}`);
    if (tail.whole) return metadataFromZip(tail.bytes, file.filename);
    const total = tail.total;
    const tailStart = total - tail.bytes.length;
    const end = findEndRecord(tail.bytes, file.filename);
    const directoryEnd = end.directoryOffset + end.directorySize;
    let directory: Buffer;
    if (end.directoryOffset >= tailStart) directory = tail.bytes.subarray(end.directoryOffset - tailStart, directoryEnd - tailStart);
    else directory = (await this.range(url, `bytes=${end.directoryOffset}-${directoryEnd - 1}`)).bytes;
    const entry = findMetadataEntry(directory, end.entries, file.filename);
    // The local header's name and extra field lengths are read from the fetched bytes; 1 KiB covers them.
    const localEnd = Math.min(total, entry.localOffset + 30 + entry.nameLength + entry.compressedSize + 1024);
    let local: Buffer;
    if (entry.localOffset >= tailStart && localEnd <= total) local = tail.bytes.subarray(entry.localOffset - tailStart, localEnd - tailStart);
    else local = (await this.range(url, `bytes=${entry.localOffset}-${localEnd - 1}`)).bytes;
    return inflateMember(local, entry, file.filename);
  }

  private async range(url: string, range: string): Promise<{ bytes: Buffer; total: number; whole: boolean }> {
    this.counts.rangeRequests++;
    return this.request(url, { range, "accept-encoding": "identity" }, (response) => this.rangeBody(url, response));
  }

  private async rangeBody(url: string, response: Response): Promise<{ bytes: Buffer; total: number; whole: boolean }> {
    if (response.status === 200) {
      // No range support: the whole wheel came (what pip would fetch too).
      const bytes = Buffer.from(await response.arrayBuffer());
      return { bytes, total: bytes.length, whole: true };
    }
    if (response.status !== 206) {
      await response.body?.cancel();
      throw new IndexUnsupported(`${redactUrl(url)} answered HTTP ${response.status} to a range request`);
    }
    const total = Number(/\/(\d+)\s*$/.exec(response.headers.get("content-range") ?? "")?.[1] ?? NaN);
    if (!Number.isSafeInteger(total)) throw new IndexUnsupported(`${redactUrl(url)} sent no usable Content-Range`);
    return { bytes: Buffer.from(await response.arrayBuffer()), total, whole: false };
  }
}

/** Enough for the end record and, in most wheels, the whole central directory. */
const TAIL_BYTES = 64 * 1024;

interface EndRecord {
  directoryOffset: number;
  directorySize: number;
  entries: number;
}

function findEndRecord(tail: Buffer, filename: string): EndRecord {
  for (let at = tail.length - 22; at >= 0; at--) {
    if (tail.readUInt32LE(at) !== 0x06054b50) continue;
    const entries = tail.readUInt16LE(at + 10);
    const directorySize = tail.readUInt32LE(at + 12);
    const directoryOffset = tail.readUInt32LE(at + 16);
    if (entries === 0xffff || directorySize === 0xffffffff || directoryOffset === 0xffffffff) throw new IndexUnsupported(`${filename} is a zip64 archive`);
    return { directoryOffset, directorySize, entries };
  }
  throw new IndexUnsupported(`${filename}: no zip end record in its last ${tail.length} bytes`);
}

interface DirectoryEntry {
  method: number;
  compressedSize: number;
  nameLength: number;
  localOffset: number;
}

function findMetadataEntry(directory: Buffer, entries: number, filename: string): DirectoryEntry {
  let at = 0;
  for (let i = 0; i < entries && at + 46 <= directory.length; i++) {
    if (directory.readUInt32LE(at) !== 0x02014b50) break;
    const nameLength = directory.readUInt16LE(at + 28);
    const extraLength = directory.readUInt16LE(at + 30);
    const commentLength = directory.readUInt16LE(at + 32);
    const name = directory.toString("utf8", at + 46, at + 46 + nameLength);
    // The top-level .dist-info's METADATA (PEP 427); nested dist-infos in vendored trees do not count.
    if (/^[^/]+\.dist-info\/METADATA$/.test(name)) {
      return { method: directory.readUInt16LE(at + 10), compressedSize: directory.readUInt32LE(at + 20), nameLength, localOffset: directory.readUInt32LE(at + 42) };
    }
    at += 46 + nameLength + extraLength + commentLength;
  }
  throw new IndexUnsupported(`${filename} has no .dist-info/METADATA`);
}

function inflateMember(local: Buffer, entry: DirectoryEntry, filename: string): string {
  if (local.length < 30 || local.readUInt32LE(0) !== 0x04034b50) throw new IndexUnsupported(`${filename}: the METADATA member's header is not where the directory says`);
  const start = 30 + local.readUInt16LE(26) + local.readUInt16LE(28);
  const data = local.subarray(start, start + entry.compressedSize);
  if (data.length < entry.compressedSize) throw new IndexUnsupported(`${filename}: the METADATA member is cut short`);
  if (entry.method === 0) return data.toString("utf8");
  if (entry.method === 8) return inflateRawSync(data).toString("utf8");
  throw new IndexUnsupported(`${filename}: METADATA is compressed with zip method ${entry.method}`);
}

/** METADATA from a whole zip in memory (an index without range support sent the file). */
export function metadataFromZip(zip: Buffer, filename: string): string {
  const end = findEndRecord(zip.subarray(Math.max(0, zip.length - TAIL_BYTES - 22)), filename);
  const entry = findMetadataEntry(zip.subarray(end.directoryOffset, end.directoryOffset + end.directorySize), end.entries, filename);
  return inflateMember(zip.subarray(entry.localOffset), entry, filename);
}

function metadataFlag(value: unknown): IndexFile["metadata"] {
  if (value === true) return {};
  if (value !== null && typeof value === "object") {
    const sha256 = (value as Record<string, unknown>).sha256;
    return typeof sha256 === "string" ? { sha256 } : {};
  }
  return false;
}

/** A PEP 691 JSON project page. */
export function parseJsonPage(body: string, base: string): IndexFile[] {
  let page: { files?: unknown };
  try {
    page = JSON.parse(body) as { files?: unknown };
  } catch (error) {
    throw new IndexUnsupported(`${redactUrl(base)} is not JSON: ${(error as Error).message}`);
  }
  if (!Array.isArray(page.files)) throw new IndexUnsupported(`${redactUrl(base)} has no files list`);
  return page.files.map((raw: Record<string, unknown>) => {
    if (typeof raw.filename !== "string" || typeof raw.url !== "string") throw new IndexUnsupported(`${redactUrl(base)} lists a file without filename or url`);
    const hashes = (raw.hashes ?? {}) as Record<string, unknown>;
    const requiresPython = typeof raw["requires-python"] === "string" && raw["requires-python"].trim() !== "" ? raw["requires-python"] : undefined;
    const yanked = raw.yanked !== undefined && raw.yanked !== false;
    return {
      filename: raw.filename,
      url: new URL(raw.url, base).toString(),
      ...(typeof hashes.sha256 === "string" ? { sha256: hashes.sha256.toLowerCase() } : {}),
      ...(requiresPython !== undefined ? { requiresPython } : {}),
      yanked,
      metadata: metadataFlag(raw["core-metadata"] ?? raw["dist-info-metadata"]),
    };
  });
}

const ANCHOR = /<a\s([^>]*)>([\s\S]*?)<\/a\s*>/gi;
const ATTRIBUTE = /([a-zA-Z_:][-a-zA-Z0-9_:.]*)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?/g;

function unescapeHtml(text: string): string {
  return text.replace(/&(#x[0-9a-f]+|#\d+|lt|gt|amp|quot|apos);/gi, (_, code: string) => {
    const lower = code.toLowerCase();
    if (lower.startsWith("#x")) return String.fromCodePoint(parseInt(lower.slice(2), 16));
    if (lower.startsWith("#")) return String.fromCodePoint(Number(lower.slice(1)));
    return { lt: "<", gt: ">", amp: "&", quot: '"', apos: "'" }[lower]!;
  });
}

/** A PEP 503 HTML project page (with PEP 592 yanks and PEP 658/714 metadata attributes). */
export function parseHtmlPage(body: string, base: string): IndexFile[] {
  const baseHref = /<base\s[^>]*href\s*=\s*["']([^"']+)["']/i.exec(body)?.[1];
  const root = baseHref !== undefined ? new URL(unescapeHtml(baseHref), base).toString() : base;
  const files: IndexFile[] = [];
  for (const anchor of body.matchAll(ANCHOR)) {
    const attributes = new Map<string, string>();
    for (const a of anchor[1]!.matchAll(ATTRIBUTE)) attributes.set(a[1]!.toLowerCase(), unescapeHtml(a[2] ?? a[3] ?? a[4] ?? ""));
    const href = attributes.get("href");
    if (href === undefined) continue;
    const url = new URL(href, root);
    const filename = decodeURIComponent(url.pathname.slice(url.pathname.lastIndexOf("/") + 1));
    const sha256 = /(?:^|&)sha256=([0-9a-f]{64})/i.exec(url.hash.slice(1))?.[1]?.toLowerCase();
    const metadataValue = attributes.get("data-core-metadata") ?? attributes.get("data-dist-info-metadata");
    const metadataHash = /^sha256=([0-9a-f]{64})$/i.exec(metadataValue ?? "")?.[1]?.toLowerCase();
    const requiresPython = attributes.get("data-requires-python")?.trim();
    files.push({
      filename,
      url: url.toString(),
      ...(sha256 !== undefined ? { sha256 } : {}),
      ...(requiresPython ? { requiresPython } : {}),
      yanked: attributes.has("data-yanked"),
      metadata: metadataValue === undefined || metadataValue === "false" ? false : metadataHash !== undefined ? { sha256: metadataHash } : {},
    });
  }
  return files;
}
