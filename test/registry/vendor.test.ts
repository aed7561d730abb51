// Registry vendors: generic registry code draws no vendor conclusions; a vendor that claims a host
// adds its repository hook and its advice for that host only (src/registry/vendor.ts).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ImagespecError } from "../../src/errors.js";
import { EcrSupport } from "../../src/ecr/index.js";
import { parseReference, type Reference } from "../../src/reference/index.js";
import { Registry, RegistryError, type RegistryVendor } from "../../src/registry/index.js";
import { explainFailure } from "../../src/registry/vendor.js";

const ECR = "123456789012.dkr.ecr.eu-west-1.amazonaws.com";

function nameUnknown(host: string): RegistryError {
  return new RegistryError({ method: "PUT", url: `https://${host}/v2/team/app/manifests/v1`, status: 404, details: [{ code: "NAME_UNKNOWN", message: "repository name not known to registry" }] });
}

describe("registry vendors", () => {
  it("a generic NAME_UNKNOWN names no vendor; on an ECR host the ECR vendor's hint names the repository and the command to create it", () => {
    const generic = nameUnknown("registry.example.com");
    assert.doesNotMatch(generic.hint ?? "", /ECR|aws/);
    assert.match(generic.hint ?? "", /does not exist on registry\.example\.com/);

    const ecr = new EcrSupport();
    try {
      const error = nameUnknown(ECR);
      const explained = explainFailure(ecr, error, parseReference(`${ECR}/team/app:v1`));
      assert.ok(explained instanceof RegistryError);
      assert.equal(explained.code, "NAME_UNKNOWN");
      assert.equal(explained.message, error.message);
      assert.equal(explained.status, 404);
      assert.deepEqual(explained.registryCodes, ["NAME_UNKNOWN"]);
      assert.match(explained.hint ?? "", /ECR repositories must be created before a push: aws ecr create-repository --repository-name team\/app --region eu-west-1/);
      // The same failure from another host is left as it is.
      const elsewhere = nameUnknown("registry.example.com");
      assert.equal(explainFailure(ecr, elsewhere, parseReference("registry.example.com/team/app:v1")), elsewhere);
    } finally {
      ecr.close();
    }
  });

  it("an immutable tag on ECR gets the tagMutability advice after the generic hint", () => {
    const ecr = new EcrSupport();
    try {
      const error = new ImagespecError("TAG_IMMUTABLE", "cannot push: the tag is immutable", { hint: "push under another tag" });
      const explained = explainFailure(ecr, error, parseReference(`${ECR}/team/app:v1`));
      assert.ok(explained instanceof ImagespecError);
      assert.equal(explained.code, "TAG_IMMUTABLE");
      assert.equal(explained.hint, "push under another tag; on ECR, make the tag mutable with ecr.tagMutability: MUTABLE, or an *_WITH_EXCLUSION filter for this tag");
    } finally {
      ecr.close();
    }
  });

  it("the repository hook runs for the hosts the vendor claims, after the beforePush option", async () => {
    const calls: string[] = [];
    const vendor: RegistryVendor = {
      name: "test",
      matches: (host) => host === "vendor.example",
      beforePush: async (ref: Reference) => {
        calls.push(`vendor ${ref.registry}/${ref.repository}`);
      },
    };
    const registry = new Registry({ vendors: [vendor], beforePush: async (ref) => void calls.push(`option ${ref.registry}`) });
    try {
      await registry.beforePush("vendor.example/team/app:v1");
      await registry.beforePush("other.example/team/app:v1");
      assert.deepEqual(calls, ["option vendor.example", "vendor vendor.example/team/app", "option other.example"]);
    } finally {
      await registry.close();
    }
  });

  it("the vendors' credential sources join the default keychain after explicit credentials", () => {
    const source = { name: "vendor-tokens", resolve: async () => undefined };
    const registry = new Registry({ vendors: [{ name: "test", matches: () => false, credentials: source }] });
    try {
      const names = registry.keychain.sources.map((s) => s.name);
      assert.equal(names[0], "explicit");
      assert.equal(names[1], "vendor-tokens");
    } finally {
      void registry.close();
    }
  });
});
