// Repository names (the spec's registry path plus its name, checked against ECR's rules) and the
// CreateRepository request the spec's ecr settings make.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { checkEcrRepositoryName, ecrRepositoryOf, EcrRepositories } from "../../src/ecr/index.js";
import { createRepositoryInput } from "../../src/ecr/repositories.js";
import { ecrSchema } from "../../src/ecr/index.js";
import { EcrError } from "../../src/ecr/errors.js";
import { checkRepositorySettings, validateRepositorySettings } from "../../src/ecr/settings.js";

describe("ECR repository names", () => {
  it("joins the registry path and the name", () => {
    assert.deepEqual(ecrRepositoryOf("111111111111.dkr.ecr.us-east-1.amazonaws.com/team", "img"), { host: "111111111111.dkr.ecr.us-east-1.amazonaws.com", repository: "team/img" });
    assert.deepEqual(ecrRepositoryOf("111111111111.dkr.ecr.us-east-1.amazonaws.com", "img"), { host: "111111111111.dkr.ecr.us-east-1.amazonaws.com", repository: "img" });
  });

  it("applies ECR's rules", () => {
    for (const ok of ["ab", "team/img", "a.b_c-d/e1", "x/".repeat(20) + "y"]) assert.equal(checkEcrRepositoryName(ok), undefined, ok);
    for (const bad of ["a", "Team/img", "team//img", "team/img/", "-team", "team/-img", "a..b", "x".repeat(257)]) assert.ok(checkEcrRepositoryName(bad), bad);
  });

  it("refuses two different settings for one repository", () => {
    const repos = new EcrRepositories();
    repos.register("111111111111.dkr.ecr.us-east-1.amazonaws.com/team/img", ecrSchema.parse({}));
    repos.register("111111111111.dkr.ecr.us-east-1.amazonaws.com/team/img", ecrSchema.parse({}));
    assert.throws(() => repos.register("111111111111.dkr.ecr.us-east-1.amazonaws.com/team/img", ecrSchema.parse({ scanOnPush: true })), /different ecr settings/);
    assert.equal(repos.settingsFor("111111111111.dkr.ecr.us-east-1.amazonaws.com/other").tagMutability, "IMMUTABLE_WITH_EXCLUSION", "unknown repositories get the defaults");
    repos.close();
  });
});

describe("createRepositoryInput", () => {
  const host = { account: "111111111111" };

  it("defaults: immutable tags except imagespec-cache-*, no scan, AES256, no tags", () => {
    assert.deepEqual(createRepositoryInput(host, "team/img", ecrSchema.parse({})), {
      registryId: "111111111111",
      repositoryName: "team/img",
      imageTagMutability: "IMMUTABLE_WITH_EXCLUSION",
      imageTagMutabilityExclusionFilters: [{ filterType: "WILDCARD", filter: "imagespec-cache-*" }],
      imageScanningConfiguration: { scanOnPush: false },
      encryptionConfiguration: { encryptionType: "AES256" },
    });
  });

  it("carries mutability, scan on push, KMS and resource tags", () => {
    const input = createRepositoryInput(host, "team/img", ecrSchema.parse({ tagMutability: "MUTABLE", scanOnPush: true, encryption: { type: "KMS", kmsKey: "alias/k" }, tags: { team: "ml", cost: 7 } }));
    assert.equal(input.imageTagMutability, "MUTABLE");
    assert.equal(input.imageTagMutabilityExclusionFilters, undefined);
    assert.deepEqual(input.imageScanningConfiguration, { scanOnPush: true });
    assert.deepEqual(input.encryptionConfiguration, { encryptionType: "KMS", kmsKey: "alias/k" });
    assert.deepEqual(input.tags, [
      { Key: "team", Value: "ml" },
      { Key: "cost", Value: "7" },
    ]);
  });
});

describe("repository settings checked as CreateRepository checks them", () => {
  it("refuses tags and exclusion filters ECR would refuse, naming each, in the spec and before any call", () => {
    const tags = Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`k${i}`, "v"]));
    const problems = checkRepositorySettings({ tags: { ...tags, "aws:team": "ml", "team#1": "x" }, tagMutabilityExclusions: ["release/*", "a", "b", "c", "d", "e"] });
    assert.deepEqual(
      problems.map((p) => p.path.join(".")),
      ["tags", "tags.aws:team", "tags.team#1", "tagMutabilityExclusions", "tagMutabilityExclusions.0"],
    );
    assert.deepEqual(checkRepositorySettings({ tags: { team: "ml", "cost-center": "a/b:c=d+e@f g" }, tagMutabilityExclusions: ["imagespec-cache-*", "latest"] }), []);

    const parsed = ecrSchema.safeParse({ tags: { "aws:team": "ml" } });
    assert.equal(parsed.success, false);
    assert.deepEqual(parsed.error!.issues.map((i) => i.path), [["tags", "aws:team"]]);
    assert.throws(
      () => validateRepositorySettings({ tagMutabilityExclusions: ["release/*"] }),
      (e: unknown) => e instanceof EcrError && e.code === "INVALID_ECR_SETTINGS" && /ecr\.tagMutabilityExclusions\.0: "release\/\*" is not an ECR tag filter/.test(e.message),
    );
  });
});
