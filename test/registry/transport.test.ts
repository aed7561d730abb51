// Behaviour that distribution 2.8 cannot be made to show on demand — 5xx and 429 with Retry-After,
// dropped connections, redirects to storage on another host, ECR's answers (403/500 for a missing
// repository, 201 on PATCH, no Location on manifest PUT), OCI-Chunk-Min-Length, partial Range,
// Link pagination — scripted with node:http on 127.0.0.1 speaking the distribution wire protocol.
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { Readable } from "node:stream";
import { after, describe, it } from "node:test";
import { bufferBlob, imageFromParts, MediaType, sha256 } from "../../src/oci/index.js";
import { defaultKeychain, Registry, RegistryError, type RegistryLogEvent } from "../../src/registry/index.js";
import { uploadBlob } from "../../src/registry/upload.js";
import { isolatedEnv } from "./util.js";

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage["headers"];
  body: Buffer;
}

interface Scripted {
  host: string;
  seen: Seen[];
  close(): Promise<void>;
}

const servers: Scripted[] = [];
after(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

/** An HTTP server answering `/v2/` with 200 and everything else with `handler`. */
async function serve(handler: (req: Seen, res: ServerResponse) => void): Promise<Scripted> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      if (req.url === "/v2/") {
        res.writeHead(200).end("{}");
        return;
      }
      const entry = { method: req.method ?? "", url: req.url ?? "", headers: req.headers, body: Buffer.concat(chunks) };
      seen.push(entry);
      handler(entry, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const scripted = {
    host: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  servers.push(scripted);
  return scripted;
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { "content-type": "application/json", ...headers }).end(JSON.stringify(body));
}

function registry(options: { credentials?: Record<string, { username: string; password: string }>; logs?: RegistryLogEvent[] } = {}): Registry {
  return new Registry({
    keychain: defaultKeychain({ credentials: options.credentials ?? {}, env: isolatedEnv() }),
    retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 20 },
    ...(options.logs ? { logger: (e: RegistryLogEvent) => options.logs!.push(e) } : {}),
  });
}

const manifestBytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciManifest, config: { mediaType: MediaType.OciConfig, digest: sha256("{}"), size: 2 }, layers: [] }));

describe("retries", () => {
  it("retries 503 and 429, honouring Retry-After, then succeeds", async () => {
    let calls = 0;
    const srv = await serve((_req, res) => {
      calls++;
      if (calls === 1) return json(res, 503, { errors: [{ code: "UNAVAILABLE", message: "busy" }] }, { "retry-after": "0" });
      if (calls === 2) return json(res, 429, { errors: [{ code: "TOOMANYREQUESTS", message: "slow down" }] }, { "retry-after": "0" });
      res.writeHead(200, { "content-type": MediaType.OciManifest, "docker-content-digest": sha256(manifestBytes) }).end(manifestBytes);
    });
    const logs: RegistryLogEvent[] = [];
    const r = registry({ logs });
    try {
      const got = await r.getManifest(`${srv.host}/app:v1`);
      assert.equal(got.digest, sha256(manifestBytes));
      assert.equal(calls, 3);
      assert.deepEqual(
        logs.filter((e) => e.type === "retry").map((e) => (e.type === "retry" ? e.reason : "")),
        ["HTTP 503", "HTTP 429"],
      );
    } finally {
      await r.close();
    }
  });

  it("gives up after the attempts and reports status, registry code and a hint", async () => {
    const srv = await serve((_req, res) => json(res, 503, { errors: [{ code: "UNAVAILABLE", message: "down for maintenance" }] }));
    const r = registry();
    try {
      await assert.rejects(r.getManifest(`${srv.host}/app:v1`), (e: unknown) => {
        assert.ok(e instanceof RegistryError);
        assert.equal(e.status, 503);
        assert.match(e.message, /GET http:\/\/127\.0\.0\.1:\d+\/v2\/app\/manifests\/v1: 503 Service Unavailable: UNAVAILABLE: down for maintenance/);
        assert.match(e.hint ?? "", /retry later/);
        return true;
      });
      assert.equal(srv.seen.length, 3);
    } finally {
      await r.close();
    }
  });

  it("retries a dropped connection", async () => {
    let calls = 0;
    const srv = await serve((_req, res) => {
      if (++calls === 1) {
        // Drop the connection without an answer.
        res.socket?.destroy();
        return;
      }
      res.writeHead(200, { "content-type": MediaType.OciManifest }).end(manifestBytes);
    });
    const r = registry();
    try {
      assert.equal((await r.getManifest(`${srv.host}/app:v1`)).digest, sha256(manifestBytes));
      assert.equal(calls, 2);
    } finally {
      await r.close();
    }
  });

  it("does not resend a streamed body the server already consumed", async () => {
    const srv = await serve((req, res) => {
      if (req.method === "POST") return res.writeHead(202, { location: "/v2/app/blobs/uploads/1" }).end();
      json(res, 503, { errors: [{ code: "UNAVAILABLE" }] });
    });
    const r = registry();
    try {
      const data = Buffer.alloc(3 << 20, 1);
      const blob = { descriptor: { mediaType: MediaType.OciLayerGzip, digest: sha256(data), size: data.length }, open: async () => Readable.from([data]) };
      await assert.rejects(uploadBlob({ client: r.client(srv.host), repository: "app", blob }), { status: 503 });
      assert.equal(srv.seen.filter((s) => s.method === "PATCH").length, 1);
    } finally {
      await r.close();
    }
  });
});

describe("restarting uploads", () => {
  it("restarts an upload from a reopened blob when the connection drops mid-stream", async () => {
    let patches = 0;
    const srv = await serve((req, res) => {
      if (req.method === "HEAD") return res.writeHead(404).end();
      if (req.method === "POST") return res.writeHead(202, { location: `/v2/app/blobs/uploads/s${srv.seen.length}` }).end();
      if (req.method === "PATCH" && ++patches === 1) {
        res.socket?.destroy(); // the body was sent; the answer never comes
        return;
      }
      res.writeHead(req.method === "PATCH" ? 202 : 201).end();
    });
    const r = registry();
    try {
      const data = Buffer.alloc(3 << 20, 9);
      let opened = 0;
      const layer = { descriptor: { mediaType: MediaType.OciLayerGzip, digest: sha256(data), size: data.length }, open: async () => (opened++, Readable.from([data])) };
      const img = imageFromParts({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] } }, [layer]);
      const result = await r.push(`${srv.host}/app:v1`, img);
      assert.equal(result.blobs.uploaded, 2);
      assert.equal(opened, 2, "the blob was reopened for the second session");
      const layerPosts = srv.seen.filter((s) => s.method === "POST").length;
      assert.equal(layerPosts, 3, "config once, layer twice");
      assert.equal(patches, 2);
    } finally {
      await r.close();
    }
  });
});

describe("registries that answer differently", () => {
  it("counts ECR-style 403 and 500 'does not exist' answers as absent, but a plain 403 as an error", async () => {
    const srv = await serve((req, res) => {
      if (req.method === "HEAD") return res.writeHead(req.url.includes("/denied/") ? 403 : req.url.includes("/five/") ? 500 : 403).end();
      if (req.url.includes("/missing/")) return json(res, 403, { errors: [{ code: "DENIED", message: "The repository with name 'missing' does not exist in the registry with id '123'" }] });
      if (req.url.includes("/five/")) return json(res, 500, { errors: [{ code: "NAME_UNKNOWN", message: "repository not found" }] });
      json(res, 403, { errors: [{ code: "DENIED", message: "not authorized to perform ecr:BatchGetImage" }] });
    });
    const r = registry();
    try {
      assert.deepEqual(await r.exists(`${srv.host}/missing/app:v1`), { present: false });
      assert.deepEqual(await r.exists(`${srv.host}/five/app:v1`), { present: false });
      await assert.rejects(r.exists(`${srv.host}/denied/app:v1`), (e: unknown) => {
        assert.ok(e instanceof RegistryError);
        assert.equal(e.code, "DENIED");
        assert.match(e.hint ?? "", /lack permission/);
        return true;
      });
    } finally {
      await r.close();
    }
  });

  it("falls back to GET when HEAD is not allowed or carries no digest, computing the digest", async () => {
    const srv = await serve((req, res) => {
      if (req.method === "HEAD") return res.writeHead(req.url.includes("nohead") ? 405 : 200, { "content-type": MediaType.OciManifest }).end();
      res.writeHead(200, { "content-type": MediaType.OciManifest }).end(manifestBytes);
    });
    const r = registry();
    try {
      const expected = { present: true, digest: sha256(manifestBytes), mediaType: MediaType.OciManifest, size: manifestBytes.length };
      assert.deepEqual(await r.exists(`${srv.host}/nohead:v1`), expected);
      assert.deepEqual(await r.exists(`${srv.host}/nodigest:v1`), expected);
      assert.deepEqual(
        srv.seen.map((s) => s.method),
        ["HEAD", "GET", "HEAD", "GET"],
      );
    } finally {
      await r.close();
    }
  });

  it("rejects a manifest whose bytes do not match the digest asked for", async () => {
    const srv = await serve((_req, res) => res.writeHead(200, { "content-type": MediaType.OciManifest }).end(manifestBytes));
    const r = registry();
    try {
      await assert.rejects(r.getManifest(`${srv.host}/app@${sha256("something else")}`), { code: "DIGEST_MISMATCH" });
    } finally {
      await r.close();
    }
  });

  it("pushes through ECR-like answers: absolute Location, 201 on PATCH without Location, bare manifest PUT", async () => {
    let srvHost = "";
    const srv = await serve((req, res) => {
      if (req.method === "HEAD") return res.writeHead(404).end();
      if (req.method === "POST") return res.writeHead(202, { location: `http://${srvHost}/v2/app/blobs/uploads/abc?_state=SECRET-STATE` }).end();
      if (req.method === "PATCH") return res.writeHead(201).end();
      res.writeHead(201).end();
    });
    srvHost = srv.host;
    const logs: RegistryLogEvent[] = [];
    const r = registry({ logs });
    try {
      const layer = bufferBlob(MediaType.OciLayerGzip, Buffer.alloc(2 << 20, 7));
      const img = imageFromParts({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] } }, [layer]);
      const result = await r.push(`${srv.host}/app:v1`, img);
      assert.equal(result.digest, img.digest);
      const puts = srv.seen.filter((s) => s.method === "PUT").map((s) => s.url);
      assert.ok(puts.includes(`/v2/app/blobs/uploads/abc?_state=SECRET-STATE&digest=${encodeURIComponent(layer.descriptor.digest)}`), puts.join("\n"));
      assert.equal(puts.at(-1), "/v2/app/manifests/v1");
      assert.ok(!JSON.stringify(logs).includes("SECRET-STATE"), "upload state is redacted from logs");
    } finally {
      await r.close();
    }
  });

  it("keeps query secrets out of error messages", async () => {
    const srv = await serve((req, res) => {
      if (req.method === "POST") return res.writeHead(202, { location: "/v2/app/blobs/uploads/abc?_state=SECRET-STATE&X-Amz-Signature=SIG" }).end();
      json(res, 404, { errors: [{ code: "BLOB_UPLOAD_UNKNOWN", message: "blob upload unknown to registry" }] });
    });
    const r = registry();
    try {
      const blob = bufferBlob(MediaType.OciLayerGzip, Buffer.from("small"));
      await assert.rejects(uploadBlob({ client: r.client(srv.host), repository: "app", blob }), (e: unknown) => {
        assert.ok(e instanceof RegistryError);
        assert.equal(e.code, "BLOB_UPLOAD_UNKNOWN");
        assert.match(e.message, /PUT http:\/\/127\.0\.0\.1:\d+\/v2\/app\/blobs\/uploads\/abc: 404/);
        assert.ok(!/SECRET|SIG/.test(`${e.message} ${e.hint} ${e.url}`), e.message);
        return true;
      });
    } finally {
      await r.close();
    }
  });

  it("chunked upload: raises the chunk size to OCI-Chunk-Min-Length and resends what Range says was not kept", async () => {
    let held = 0;
    let first = true;
    const srv = await serve((req, res) => {
      if (req.method === "POST") return res.writeHead(202, { location: "/v2/app/blobs/uploads/u1", "oci-chunk-min-length": String(1 << 20) }).end();
      if (req.method === "PATCH") {
        const [start] = String(req.headers["content-range"]).split("-").map(Number);
        assert.equal(start, held, "each PATCH starts where the registry's Range ended");
        // The first time, keep only half of what was sent.
        held += first ? req.body.length / 2 : req.body.length;
        first = false;
        return res.writeHead(202, { location: `/v2/app/blobs/uploads/u1?n=${held}`, range: `0-${held - 1}` }).end();
      }
      res.writeHead(201).end();
    });
    const r = registry();
    try {
      const data = Buffer.alloc(3 << 20, 3);
      const blob = { descriptor: { mediaType: MediaType.OciLayerGzip, digest: sha256(data), size: data.length }, open: async () => Readable.from([data.subarray(0, 1 << 19), data.subarray(1 << 19)]) };
      await uploadBlob({ client: r.client(srv.host), repository: "app", blob, settings: { mode: "chunked", chunkSize: 1000 } });
      const patches = srv.seen.filter((s) => s.method === "PATCH");
      assert.ok(patches.every((p) => p.body.length >= 1 << 19), patches.map((p) => p.body.length).join(","));
      assert.equal(held, data.length);
      assert.ok(srv.seen.at(-1)?.url.startsWith(`/v2/app/blobs/uploads/u1?n=${data.length}&digest=`));
    } finally {
      await r.close();
    }
  });

  it("follows Link pagination of tags", async () => {
    const srv = await serve((req, res) => {
      if (!req.url.includes("last=")) return json(res, 200, { name: "app", tags: ["a", "b"] }, { link: '</v2/app/tags/list?last=b&n=2>; rel="next"' });
      json(res, 200, { name: "app", tags: ["c"] });
    });
    const r = registry();
    try {
      assert.deepEqual(await r.listTags(`${srv.host}/app`, { pageSize: 2 }), ["a", "b", "c"]);
      assert.deepEqual(
        srv.seen.map((s) => s.url),
        ["/v2/app/tags/list?n=2", "/v2/app/tags/list?last=b&n=2"],
      );
    } finally {
      await r.close();
    }
  });
});

describe("redirects", () => {
  it("follows a blob redirect to storage, dropping Authorization when it leaves the registry's origin", async () => {
    const data = Buffer.from("layer bytes in object storage");
    const storage = await serve((_req, res) => res.writeHead(200).end(data));
    const srv = await serve((req, res) => {
      if (!req.headers.authorization) return res.writeHead(401, { "www-authenticate": 'Basic realm="test"' }).end();
      if (req.url.includes("/blobs/sha256:") && !req.url.includes("hop")) return res.writeHead(307, { location: `/v2/app/blobs/hop-${req.url.split("/").pop()}` }).end();
      res.writeHead(307, { location: `http://${storage.host}/bucket/obj?X-Amz-Signature=abc` }).end();
    });
    const r = registry({ credentials: { [srv.host]: { username: "u", password: "p" } } });
    try {
      const client = r.client(srv.host);
      const stream = await client.openBlob("app", { mediaType: MediaType.OciLayerGzip, digest: sha256(data), size: data.length });
      const chunks: Buffer[] = [];
      for await (const c of stream) chunks.push(c as Buffer);
      assert.deepEqual(Buffer.concat(chunks), data);
      const hop = srv.seen.find((s) => s.url.includes("hop-"));
      assert.ok(hop?.headers.authorization, "same-origin redirect keeps the credentials");
      assert.equal(storage.seen.length, 1);
      assert.equal(storage.seen[0]!.headers.authorization, undefined, "credentials never go to storage");
    } finally {
      await r.close();
    }
  });
});
