// A "simple" package index on 127.0.0.1 (node:http), serving the wheels in a directory the way
// PyPI (warehouse) does, so resolution and download tests never touch the public index: PEP 503
// HTML pages, or PEP 691 JSON pages to a client whose Accept header prefers them (q-values
// weighed, HTML when nothing is said); files answer Range requests with 206 and Content-Range.
//
//   const index = await startPypiIndex({ dir });   // index.url = "http://127.0.0.1:PORT/simple/"
//   index.requests();                              // [{ method, path, status }]
//   index.downloads();                             // wheel file names fetched, in order
//   index.peakConcurrentDownloads();               // with fileDelayMs: how many were fetched at once
//   await index.stop();
//
// Project pages list each wheel as `<a href="/files/<name>#sha256=<hex>" data-requires-python=...>`
// (the hash and Requires-Python read from the files at request time, so a test may change a
// file between requests). With `metadata` (default on) a wheel's `<wheel>.metadata` sidecar is
// offered as PEP 658 / PEP 714 metadata, and pip resolves without fetching wheels. `json: false`
// serves HTML only and `ranges: false` ignores Range headers (a plain file server), to exercise
// the fallbacks. `auth` turns on HTTP Basic authentication for every path.
import { createHash } from "node:crypto";
import { readFile, readdir } from "node:fs/promises";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";

export interface PypiIndexOptions {
  dir: string;
  /** Offer `.metadata` sidecars as PEP 658 metadata (default true). */
  metadata?: boolean;
  /** Put `#sha256=` fragments on file links (default true). */
  hashes?: boolean;
  /** Answer `Accept: application/vnd.pypi.simple.v1+json` with PEP 691 JSON (default true). */
  json?: boolean;
  /** Files marked yanked (PEP 592), with the reason (may be ""). */
  yanked?: Record<string, string>;
  /** Honour Range requests on files with 206 (default true). */
  ranges?: boolean;
  auth?: { username: string; password: string };
  /** Hold each wheel response this long before sending it (to observe parallel downloads). */
  fileDelayMs?: number;
  /** Hold each project page this long before sending it (a slow index: resolution that a live view can show). */
  pageDelayMs?: number;
}

export interface IndexRequest {
  method: string;
  path: string;
  status: number;
}

export interface PypiIndex {
  /** `http://127.0.0.1:PORT/simple/` */
  url: string;
  /** `http://127.0.0.1:PORT` */
  origin: string;
  /** The index URL with the Basic credentials in it, as users write it in pip options. */
  urlWithCredentials: string;
  requests(): IndexRequest[];
  /** Wheel file names served with 200, in order. */
  downloads(): string[];
  /** Most wheel responses that were in progress at one time. */
  peakConcurrentDownloads(): number;
  resetRequests(): void;
  stop(): Promise<void>;
}

function normalize(name: string): string {
  return name.toLowerCase().replace(/[-_.]+/g, "-");
}

function escapeHtml(text: string): string {
  return text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;").replaceAll('"', "&quot;");
}

async function wheelsByProject(dir: string): Promise<Map<string, string[]>> {
  const projects = new Map<string, string[]>();
  for (const file of (await readdir(dir)).sort()) {
    if (!file.endsWith(".whl")) continue;
    const project = normalize(file.split("-")[0]!);
    projects.set(project, [...(projects.get(project) ?? []), file]);
  }
  return projects;
}

async function readOptional(path: string): Promise<Buffer | undefined> {
  try {
    return await readFile(path);
  } catch {
    return undefined;
  }
}

const JSON_TYPE = "application/vnd.pypi.simple.v1+json";
const HTML_TYPES = ["application/vnd.pypi.simple.v1+html", "text/html"];

/** The page format the Accept header prefers (highest q, earlier on ties); HTML without one. */
function negotiate(accept: string | undefined, json: boolean): "json" | "html" | undefined {
  if (accept === undefined || accept.trim() === "") return "html";
  let best: { format: "json" | "html"; q: number } | undefined;
  for (const part of accept.split(",")) {
    const [type, ...params] = part.split(";").map((p) => p.trim().toLowerCase());
    const q = Number(/^q=([\d.]+)$/.exec(params.find((p) => p.startsWith("q=")) ?? "q=1")?.[1] ?? 1);
    const format = type === JSON_TYPE && json ? "json" : HTML_TYPES.includes(type ?? "") || type === "*/*" || type === "text/*" ? "html" : undefined;
    if (format !== undefined && q > 0 && (best === undefined || q > best.q)) best = { format, q };
  }
  return best?.format;
}

/** A single byte range of a file of `size` bytes; undefined for no (or a multi-part) range, "unsatisfiable" past the end. */
function byteRange(header: string | undefined, size: number): { start: number; end: number } | "unsatisfiable" | undefined {
  const m = /^bytes=(\d*)-(\d*)$/.exec(header?.trim() ?? "");
  if (!m || (m[1] === "" && m[2] === "")) return undefined;
  if (m[1] === "") {
    const suffix = Number(m[2]);
    return suffix === 0 ? "unsatisfiable" : { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1);
  return start >= size || end < start ? "unsatisfiable" : { start, end };
}

const sha256 = (data: Buffer) => createHash("sha256").update(data).digest("hex");

export async function startPypiIndex(options: PypiIndexOptions): Promise<PypiIndex> {
  const log: IndexRequest[] = [];
  let inFlight = 0;
  let peak = 0;
  const offerMetadata = options.metadata ?? true;
  const offerHashes = options.hashes ?? true;
  const offerJson = options.json ?? true;
  const offerRanges = options.ranges ?? true;
  const expectedAuth = options.auth ? `Basic ${Buffer.from(`${options.auth.username}:${options.auth.password}`).toString("base64")}` : undefined;

  const send = (res: ServerResponse, status: number, body: string | Buffer, type = "text/html; charset=utf-8", headers: Record<string, string> = {}) => {
    res.writeHead(status, { "content-type": type, "content-length": String(Buffer.byteLength(body)), ...headers });
    res.end(res.req.method === "HEAD" ? undefined : body);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = decodeURIComponent(new URL(req.url ?? "/", "http://index").pathname);
    if (expectedAuth !== undefined && req.headers.authorization !== expectedAuth) {
      return send(res, 401, "unauthorized\n", "text/plain", { "www-authenticate": 'Basic realm="test index"' });
    }
    if (req.method !== "GET" && req.method !== "HEAD") return send(res, 405, "method not allowed\n", "text/plain");

    if (path === "/simple/" || path === "/simple") {
      const projects = [...(await wheelsByProject(options.dir)).keys()];
      const links = projects.map((p) => `<a href="/simple/${p}/">${p}</a>`).join("\n");
      return send(res, 200, `<!DOCTYPE html>\n<html><body>\n${links}\n</body></html>\n`);
    }
    const project = /^\/simple\/([^/]+)\/?$/.exec(path);
    if (project) {
      const name = normalize(project[1]!);
      if (!path.endsWith("/") || name !== project[1]) return send(res, 301, "", "text/plain", { location: `/simple/${name}/` });
      const files = (await wheelsByProject(options.dir)).get(name);
      if (!files) return send(res, 404, "not found\n", "text/plain");
      const format = negotiate(req.headers.accept, offerJson);
      if (format === undefined) return send(res, 406, "not acceptable\n", "text/plain");
      if (options.pageDelayMs) await new Promise((resolve) => setTimeout(resolve, options.pageDelayMs));
      const entries: { file: string; sha256: string; requiresPython?: string; metadataSha256?: string; size: number }[] = [];
      for (const file of files) {
        const wheel = await readFile(join(options.dir, file));
        const metadata = await readOptional(join(options.dir, `${file}.metadata`));
        const requiresPython = /^Requires-Python: (.+)$/m.exec(metadata?.toString("utf8") ?? "")?.[1]?.trim();
        entries.push({
          file,
          sha256: sha256(wheel),
          size: wheel.length,
          ...(requiresPython ? { requiresPython } : {}),
          ...(offerMetadata && metadata ? { metadataSha256: sha256(metadata) } : {}),
        });
      }
      if (format === "json") {
        // PEP 691 as warehouse writes it (api-version 1.1: sizes and versions, PEP 714's core-metadata
        // key, and warehouse's historical "data-dist-info-metadata"). Never "dist-info-metadata" with a
        // dict: pip up to 23.2 crashes on it (TypeError: unhashable type: 'dict'), which is why PEP 714
        // renamed the key and PyPI does not serve it; Debian 12's pip (23.0.1) is one of those.
        const body = {
          meta: { "api-version": "1.1" },
          name,
          versions: [...new Set(entries.map((e) => e.file.split("-")[1]!))],
          files: entries.map((e) => ({
            filename: e.file,
            url: `/files/${encodeURIComponent(e.file)}`,
            hashes: offerHashes ? { sha256: e.sha256 } : {},
            "requires-python": e.requiresPython ?? null,
            yanked: options.yanked?.[e.file] === undefined ? false : options.yanked[e.file] || true,
            size: e.size,
            "core-metadata": e.metadataSha256 !== undefined ? { sha256: e.metadataSha256 } : false,
            "data-dist-info-metadata": e.metadataSha256 !== undefined ? { sha256: e.metadataSha256 } : false,
          })),
        };
        return send(res, 200, JSON.stringify(body), JSON_TYPE, { vary: "Accept" });
      }
      const anchors = entries.map((e) => {
        const attributes = [
          `href="/files/${encodeURIComponent(e.file)}${offerHashes ? `#sha256=${e.sha256}` : ""}"`,
          ...(e.requiresPython ? [`data-requires-python="${escapeHtml(e.requiresPython)}"`] : []),
          ...(options.yanked?.[e.file] !== undefined ? [`data-yanked="${escapeHtml(options.yanked[e.file]!)}"`] : []),
          ...(e.metadataSha256 !== undefined ? [`data-dist-info-metadata="sha256=${e.metadataSha256}"`, `data-core-metadata="sha256=${e.metadataSha256}"`] : []),
        ];
        return `<a ${attributes.join(" ")}>${escapeHtml(e.file)}</a><br/>`;
      });
      return send(res, 200, `<!DOCTYPE html>\n<html><body>\n<h1>Links for ${name}</h1>\n${anchors.join("\n")}\n</body></html>\n`, "text/html; charset=utf-8", { vary: "Accept" });
    }
    const file = /^\/files\/([^/]+)$/.exec(path)?.[1];
    if (file !== undefined && (file.endsWith(".whl") || (offerMetadata && file.endsWith(".whl.metadata")))) {
      const data = await readOptional(join(options.dir, file));
      if (data === undefined) return send(res, 404, "not found\n", "text/plain");
      if (file.endsWith(".metadata")) return send(res, 200, data, "text/plain");
      const range = offerRanges ? byteRange(req.headers.range, data.length) : undefined;
      if (range === "unsatisfiable") return send(res, 416, "", "text/plain", { "content-range": `bytes */${data.length}` });
      if (range !== undefined) {
        return send(res, 206, data.subarray(range.start, range.end + 1), "application/octet-stream", {
          "content-range": `bytes ${range.start}-${range.end}/${data.length}`,
          "accept-ranges": "bytes",
        });
      }
      inFlight++;
      peak = Math.max(peak, inFlight);
      try {
        if (options.fileDelayMs) await new Promise((resolve) => setTimeout(resolve, options.fileDelayMs));
        return send(res, 200, data, "application/octet-stream", offerRanges ? { "accept-ranges": "bytes" } : {});
      } finally {
        inFlight--;
      }
    }
    return send(res, 404, "not found\n", "text/plain");
  };

  const server = createServer((req, res) => {
    res.on("finish", () => log.push({ method: req.method ?? "", path: req.url ?? "", status: res.statusCode }));
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) send(res, 500, `${String(error)}\n`, "text/plain");
      else res.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const origin = `http://127.0.0.1:${port}`;
  const credentials = options.auth ? `${encodeURIComponent(options.auth.username)}:${encodeURIComponent(options.auth.password)}@` : "";
  return {
    url: `${origin}/simple/`,
    origin,
    urlWithCredentials: `http://${credentials}127.0.0.1:${port}/simple/`,
    requests: () => [...log],
    downloads: () =>
      log.filter((r) => r.method === "GET" && r.status === 200 && /^\/files\/[^/]+\.whl$/.test(r.path)).map((r) => decodeURIComponent(r.path.slice("/files/".length))),
    peakConcurrentDownloads: () => peak,
    resetRequests: () => {
      log.length = 0;
      peak = 0;
    },
    stop: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}
