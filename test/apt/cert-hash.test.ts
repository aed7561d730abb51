import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { copyFile, readdir, readFile, readlink } from "node:fs/promises";
import { join } from "node:path";
import { subjectHash } from "../../src/apt/cert-hash.js";
import { runOk } from "../support/tools.js";
import { removeWork, tempWork } from "./helpers.js";

const DIR = "/usr/share/ca-certificates/mozilla";

describe("OpenSSL subject hash", () => {
  let work: string;
  before(async () => {
    work = await tempWork("imagespec-apt-certs-");
  });
  after(async () => removeWork(work));

  it("names the same <hash>.N links as `openssl rehash` for every Mozilla CA certificate on this machine", async () => {
    const files = (await readdir(DIR)).filter((f) => f.endsWith(".crt")).sort();
    assert.ok(files.length > 100, `${files.length} certificates in ${DIR}`);
    for (const f of files) await copyFile(join(DIR, f), join(work, f.replace(/\.crt$/, ".pem")));
    await runOk("openssl", ["rehash", work]);
    const expected = new Map<string, string>();
    for (const name of await readdir(work)) if (/^[0-9a-f]{8}\.\d+$/.test(name)) expected.set(await readlink(join(work, name)), name.slice(0, 8));
    assert.equal(expected.size, files.length);
    for (const f of files) {
      assert.equal(subjectHash(await readFile(join(DIR, f))), expected.get(f.replace(/\.crt$/, ".pem")), f);
    }
  });
});
