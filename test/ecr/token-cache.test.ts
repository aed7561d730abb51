// The ECR token cache: keys that never hold the access key id, reuse for half a token's life
// (with an injected clock), 0600 files a second instance reads, and refusal to trust loose files.
import assert from "node:assert/strict";
import { chmod, readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { defaultTokenCacheDir, EcrTokenCache, parseEcrHost } from "../../src/ecr/index.js";
import { decodeToken } from "../../src/ecr/login.js";
import { tokenCacheKey } from "../../src/ecr/token-cache.js";
import { removeDir, tempDir } from "../support/tools.js";

const HOUR = 3_600_000;
let dir: string;

before(async () => {
  dir = await tempDir("imagespec-token-cache-");
});
after(async () => {
  await removeDir(dir);
});

describe("ECR token cache", () => {
  it("keys by region, account and a hash of the access key id", () => {
    const key = tokenCacheKey("us-east-1", "111111111111", "AKIAEXAMPLEKEY000001");
    assert.match(key, /^us-east-1_111111111111_[0-9a-f]{32}$/);
    assert.ok(!key.includes("AKIA"));
    assert.notEqual(key, tokenCacheKey("us-east-1", "111111111111", "AKIAEXAMPLEKEY000002"), "another identity, another entry");
    assert.notEqual(key, tokenCacheKey("eu-west-1", "111111111111", "AKIAEXAMPLEKEY000001"));
    assert.notEqual(key, tokenCacheKey("us-east-1", "222222222222", "AKIAEXAMPLEKEY000001"));
  });

  it("lives under XDG_CACHE_HOME, else ~/.cache", () => {
    assert.equal(defaultTokenCacheDir({ XDG_CACHE_HOME: "/x/cache", HOME: "/home/u" }), "/x/cache/imagespec/ecr-tokens");
    assert.equal(defaultTokenCacheDir({ HOME: "/home/u" }), "/home/u/.cache/imagespec/ecr-tokens");
  });

  it("reuses a token until half its lifetime, from memory and from disk (0600), then asks for a new one", async () => {
    let now = 1_000_000;
    const cache = new EcrTokenCache({ dir, now: () => now });
    const key = tokenCacheKey("us-east-1", "111111111111", "AKIAEXAMPLEKEY000001");
    await cache.set(key, { password: "secret-1", fetchedAt: now, expiresAt: now + 12 * HOUR });
    const file = join(dir, `${key}.json`);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.equal((await stat(dir)).mode & 0o777, 0o700);

    now += 6 * HOUR - 1;
    assert.equal((await cache.get(key))?.password, "secret-1");
    // A second instance (another process) reads the file.
    const other = new EcrTokenCache({ dir, now: () => now });
    assert.equal((await other.get(key))?.password, "secret-1");
    now += 2;
    assert.equal(await cache.get(key), undefined, "past half its life");
    assert.equal(await other.get(key), undefined);
    assert.deepEqual((await readdir(dir)).filter((f) => f.endsWith(".tmp")), [], "no temporary files left behind");
  });

  it("drops a refused token from memory and disk", async () => {
    const now = 5_000_000;
    const cache = new EcrTokenCache({ dir, now: () => now });
    const key = tokenCacheKey("us-west-2", "111111111111", "AKIAEXAMPLEKEY000003");
    await cache.set(key, { password: "refused", fetchedAt: now, expiresAt: now + HOUR });
    await cache.delete(key);
    assert.equal(await cache.get(key), undefined);
    assert.equal(await new EcrTokenCache({ dir, now: () => now }).get(key), undefined);
  });

  it("removes other entries whose token has expired when it writes one", async () => {
    let now = 20_000_000;
    const cache = new EcrTokenCache({ dir, now: () => now });
    const old = tokenCacheKey("ap-south-1", "111111111111", "ASIAOLDSESSIONKEY001");
    const live = tokenCacheKey("ap-south-1", "111111111111", "ASIALIVESESSIONKEY01");
    await cache.set(old, { password: "old", fetchedAt: now, expiresAt: now + HOUR });
    await cache.set(live, { password: "live", fetchedAt: now, expiresAt: now + 24 * HOUR });
    now += 2 * HOUR;
    const fresh = tokenCacheKey("ap-south-1", "111111111111", "ASIANEWSESSIONKEY001");
    await cache.set(fresh, { password: "new", fetchedAt: now, expiresAt: now + HOUR });
    const files = await readdir(dir);
    assert.ok(!files.includes(`${old}.json`), "expired entry removed");
    assert.ok(files.includes(`${live}.json`), "a live entry of another identity is kept");
    assert.ok(files.includes(`${fresh}.json`));
  });

  it("ignores a cache file that others can read", async () => {
    const now = 9_000_000;
    const key = tokenCacheKey("us-east-2", "111111111111", "AKIAEXAMPLEKEY000004");
    await new EcrTokenCache({ dir, now: () => now }).set(key, { password: "loose", fetchedAt: now, expiresAt: now + HOUR });
    await chmod(join(dir, `${key}.json`), 0o644);
    assert.equal(await new EcrTokenCache({ dir, now: () => now }).get(key), undefined);
    assert.match(await readFile(join(dir, `${key}.json`), "utf8"), /loose/, "the file is there, just not trusted");
  });
});

describe("decodeToken", () => {
  const host = parseEcrHost("111111111111.dkr.ecr.us-east-1.amazonaws.com")!;

  it("takes the password out of base64(AWS:password), with the expiry", () => {
    const token = decodeToken(host, Buffer.from("AWS:pa:ss").toString("base64"), new Date(2_000_000), 1_000_000);
    assert.deepEqual(token, { password: "pa:ss", fetchedAt: 1_000_000, expiresAt: 2_000_000 });
  });

  it("refuses a token that is not AWS:<password>, without echoing it", () => {
    assert.throws(
      () => decodeToken(host, Buffer.from("root:hunter2").toString("base64"), undefined, 0),
      (e: unknown) => e instanceof Error && (e as { code?: string }).code === "ECR_TOKEN_INVALID" && !e.message.includes("hunter2"),
    );
  });
});
