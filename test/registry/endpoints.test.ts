// Registry endpoint mapping: `host=url` pairs from the env or flags, checked; requests go to the
// endpoint while the reference keeps the logical host.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseRegistryEndpoints } from "../../src/registry/index.js";
import { Transport } from "../../src/registry/transport.js";

describe("registry endpoints", () => {
  it("parses host=url lists (env form and flag form), keeping only the origin", () => {
    assert.deepEqual(parseRegistryEndpoints("111111111111.dkr.ecr.us-east-1.amazonaws.com=http://127.0.0.1:5123, Mirror.example:5000=https://m.internal/"), {
      "111111111111.dkr.ecr.us-east-1.amazonaws.com": "http://127.0.0.1:5123",
      "mirror.example:5000": "https://m.internal",
    });
    assert.deepEqual(parseRegistryEndpoints(["a.example=https://b.example:8443"]), { "a.example": "https://b.example:8443" });
    assert.deepEqual(parseRegistryEndpoints(""), {});
  });

  it("refuses what cannot be an endpoint", () => {
    for (const bad of ["nohost", "=http://x", "a.example=ftp://x", "a.example=https://x/path", "a.example=not a url", "bad host=https://x"]) {
      assert.throws(() => parseRegistryEndpoints(bad), (e: unknown) => (e as { code?: string }).code === "INVALID_REGISTRY_ENDPOINT", bad);
    }
  });

  it("sends a mapped host's requests to its endpoint, without probing the host", async () => {
    const transport = new Transport({ endpoints: { "111111111111.dkr.ecr.us-east-1.amazonaws.com": "http://127.0.0.1:5123" } });
    try {
      assert.equal((await transport.baseUrl("111111111111.dkr.ecr.us-east-1.amazonaws.com")).href, "http://127.0.0.1:5123/");
      assert.equal((await transport.baseUrl("other.example")).href, "https://other.example/");
    } finally {
      await transport.close();
    }
  });
});
