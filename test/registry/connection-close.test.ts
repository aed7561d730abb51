// A server that answers with `Connection: close` and ends the socket right after the body, while
// imagespec has not read that body yet (a slow consumer: a busy event loop, a slow disk, a slower
// upload on the other side of a copy). HTTP/1.0 mirrors, proxies and CDNs do this. undici 7's
// HTTP/1 parser asserted `!paused` when the FIN arrived under backpressure and crashed the process
// with an error nothing could catch (nodejs/undici#5360); the blob must instead arrive whole.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { createServer, type Server } from "node:net";
import { after, before, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { Registry } from "../../src/registry/index.js";

// Sizes around the body stream's buffer: 64 KiB is the one undici 7 crashed on.
const blobs = new Map(
  [...Array(17).keys()].map((i) => (48 + 8 * i) << 10).concat([1 << 20]).map((size) => {
    const bytes = Buffer.alloc(size);
    for (let i = 0; i < size; i++) bytes[i] = (i * 7919 + size) & 0xff;
    return [`sha256:${createHash("sha256").update(bytes).digest("hex")}` as const, bytes] as const;
  }),
);
const blobOf = (path: string) => [...blobs].find(([digest]) => path === `/v2/team/blob/blobs/${digest}`)?.[1];
let server: Server;
let host = "";
let closedAfterBody = 0;

before(async () => {
  server = createServer((socket) => {
    let head = "";
    socket.on("data", (chunk) => {
      // A TLS hello (imagespec tries https first for an insecure host) gets what a plain HTTP server sends.
      if (head === "" && chunk[0] === 0x16) return void socket.end("HTTP/1.0 400 Bad Request\r\n\r\n");
      head += chunk.toString("latin1");
      if (!head.includes("\r\n\r\n")) return;
      const [method = "", path = ""] = head.split(" ");
      const send = (status: string, headers: Record<string, string>, body: Buffer) => {
        const lines = Object.entries({ ...headers, "content-length": String(body.length), connection: "close" }).map(([k, v]) => `${k}: ${v}\r\n`);
        socket.write(`HTTP/1.1 ${status}\r\n${lines.join("")}\r\n`);
        socket.end(method === "HEAD" ? Buffer.alloc(0) : body, () => (closedAfterBody += 1));
      };
      if (path === "/v2/") send("200 OK", { "content-type": "application/json" }, Buffer.from("{}"));
      else if (blobOf(path) !== undefined) send("200 OK", { "content-type": "application/octet-stream" }, blobOf(path)!);
      else send("404 Not Found", { "content-type": "application/json" }, Buffer.from('{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown"}]}'));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  assert.ok(address && typeof address === "object");
  host = `127.0.0.1:${address.port}`;
});

after(() => new Promise<void>((resolve) => server.close(() => resolve())));

test("a blob whose server closes the connection while the body is unread arrives whole", async () => {
  const registry = new Registry({ insecureRegistries: [host] });
  try {
    for (const [digest, blob] of blobs) {
      const stream = await registry.client(host).openBlob("team/blob", { mediaType: "application/octet-stream", digest, size: blob.length });
      // Do not read yet: the body fills the stream's buffer, the parser pauses, and the FIN arrives.
      await sleep(300);
      const chunks: Buffer[] = [];
      for await (const chunk of stream) chunks.push(chunk as Buffer);
      assert.equal(Buffer.concat(chunks).equals(blob), true, `${blob.length} bytes: the blob came back changed`);
    }
    assert.ok(closedAfterBody >= blobs.size, "the server ended each blob's connection after the body");
  } finally {
    await registry.close();
  }
});
