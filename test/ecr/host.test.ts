import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { partition } from "@aws-sdk/util-endpoints";
import { checkEcrHost, EcrHostError, knownRegions, looksLikeEcrHost, parseEcrHost, partitionOfRegion } from "../../src/ecr/host.js";
import { AWS_PARTITIONS } from "../../src/ecr/regions.js";

void describe("parseEcrHost: every host form", () => {
  const cases: [string, Record<string, unknown>][] = [
    ["123456789012.dkr.ecr.us-east-1.amazonaws.com", { account: "123456789012", region: "us-east-1", partition: "aws", fips: false, dualStack: false, public: false }],
    ["123456789012.dkr.ecr-fips.us-west-2.amazonaws.com", { region: "us-west-2", partition: "aws", fips: true, dualStack: false }],
    ["123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn", { region: "cn-north-1", partition: "aws-cn" }],
    ["123456789012.dkr-ecr.eu-west-1.on.aws", { region: "eu-west-1", partition: "aws", dualStack: true, fips: false }],
    ["123456789012.dkr-ecr-fips.us-east-2.on.aws", { region: "us-east-2", partition: "aws", dualStack: true, fips: true }],
    ["123456789012.dkr-ecr.cn-northwest-1.on.amazonwebservices.com.cn", { region: "cn-northwest-1", partition: "aws-cn", dualStack: true }],
    ["123456789012.dkr.ecr.us-gov-west-1.amazonaws.com", { region: "us-gov-west-1", partition: "aws-us-gov" }],
    ["123456789012.dkr.ecr-fips.us-gov-east-1.amazonaws.com", { region: "us-gov-east-1", partition: "aws-us-gov", fips: true }],
    ["123456789012.dkr-ecr.us-gov-west-1.on.aws", { region: "us-gov-west-1", partition: "aws-us-gov", dualStack: true }],
    ["123456789012.dkr.ecr.us-iso-east-1.c2s.ic.gov", { region: "us-iso-east-1", partition: "aws-iso" }],
    ["123456789012.dkr.ecr.us-isob-east-1.sc2s.sgov.gov", { region: "us-isob-east-1", partition: "aws-iso-b" }],
    ["123456789012.dkr.ecr.eu-isoe-west-1.cloud.adc-e.uk", { region: "eu-isoe-west-1", partition: "aws-iso-e" }],
    ["123456789012.dkr.ecr.us-isof-south-1.csp.hci.ic.gov", { region: "us-isof-south-1", partition: "aws-iso-f" }],
    ["123456789012.dkr.ecr.eusc-de-east-1.amazonaws.eu", { region: "eusc-de-east-1", partition: "aws-eusc" }],
    ["public.ecr.aws", { public: true, region: "us-east-1", partition: "aws", dualStack: false }],
    ["ecr-public.aws.com", { public: true, dualStack: true }],
    // Upper case and a port do not change what the host names.
    ["123456789012.DKR.ECR.US-EAST-1.AMAZONAWS.COM:443", { host: "123456789012.dkr.ecr.us-east-1.amazonaws.com", region: "us-east-1" }],
  ];
  for (const [host, expected] of cases) {
    void it(host, () => {
      const ecr = parseEcrHost(host);
      assert.ok(ecr, "recognised as ECR");
      for (const [key, value] of Object.entries(expected)) assert.deepEqual(ecr[key as keyof typeof ecr], value, key);
      assert.equal(ecr.knownRegion, true);
      if (ecr.public) assert.equal(ecr.account, undefined);
    });
  }

  void it("returns undefined for registries that are not ECR", () => {
    for (const host of ["ghcr.io", "localhost:5000", "docker.io", "internal-reg-1.us-east-1.elb.amazonaws.com", "[::1]:5000"]) {
      assert.equal(parseEcrHost(host), undefined, host);
      assert.equal(looksLikeEcrHost(host), false, host);
    }
  });
});

void describe("parseEcrHost: errors say what to write", () => {
  const invalid: [string, RegExp, RegExp][] = [
    ["123456789012.dkr.ecr.us-eas-1.amazonaws.com", /unknown AWS region "us-eas-1"; did you mean us-east-1\?/, /^the aws partition's us- regions are: us-east-1, us-east-2, us-west-1, us-west-2$/],
    ["123456789012.dkr.ecr.eu-wset-1.amazonaws.com", /did you mean eu-west-1\?/, /eu-west-1/],
    ["123456789012.dkr.ecr.useast1.amazonaws.com", /did you mean us-east-1\?/, /us-east-1/],
    ["12345.dkr.ecr.us-east-1.amazonaws.com", /account id "12345" is not 12 digits/, /12-digit AWS account id/],
    ["1234567890123.dkr.ecr.us-east-1.amazonaws.com", /is not 12 digits/, /12-digit/],
    ["myaccount.dkr.ecr.us-east-1.amazonaws.com", /"myaccount" is not 12 digits/, /12-digit/],
    ["dkr.ecr.us-east-1.amazonaws.com", /account id is missing/, /123456789012\.dkr\.ecr\.us-east-1/],
    ["123456789012.dkr.ecr.cn-north-1.amazonaws.com", /cn-north-1 is in the aws-cn partition/, /\.cn-north-1\.amazonaws\.com\.cn/],
    ["123456789012.dkr.ecr.us-east-1.amazonaws.com.cn", /us-east-1 is in the aws partition/, /\.us-east-1\.amazonaws\.com$/],
    ["123456789012.dkr.ecr.us-east-1.on.aws", /dual-stack hosts \(\.on\.aws\) use "dkr-ecr"/, /dkr-ecr\.<region>\.on\.aws/],
    ["123456789012.dkr-ecr.us-east-1.amazonaws.com", /"dkr-ecr" is the dual-stack form/, /on\.aws/],
    ["api.ecr.us-east-1.amazonaws.com", /is it the ECR API endpoint/, /<account>\.dkr\.ecr\.<region>\.amazonaws\.com/],
    ["123456789012.dkr.ecr.us_east_1.amazonaws.com", /unknown AWS region "us_east_1"; did you mean us-east-1\?/, /us-east-1/],
    ["123456789012.dkr.ecr.x.amazonaws.com", /"x" is not an AWS region name/, /a region looks like us-east-1/],
  ];
  for (const [host, problem, hint] of invalid) {
    void it(host, () => {
      assert.throws(
        () => parseEcrHost(host),
        (error: unknown) => {
          assert.ok(error instanceof EcrHostError);
          assert.equal(error.code, "INVALID_ECR_HOST");
          assert.ok(error.message.includes(JSON.stringify(host)), "the message quotes the host");
          assert.match(error.message, problem);
          assert.match(error.hint ?? "", hint);
          return true;
        },
      );
    });
  }
});

void describe("unknown regions that are not typos", () => {
  void it("a well-formed region far from every known one is accepted with a warning", () => {
    const check = checkEcrHost("123456789012.dkr.ecr.xx-newplace-1.amazonaws.com");
    assert.equal(check.kind, "ecr");
    assert.ok(check.kind === "ecr");
    assert.equal(check.ecr.knownRegion, false);
    assert.equal(check.ecr.region, "xx-newplace-1");
    assert.match(check.warning ?? "", /"xx-newplace-1" is not among the aws regions/);
  });

  void it("a known region name with a new number is a new region, not a typo", () => {
    const check = checkEcrHost("123456789012.dkr.ecr.us-east-3.amazonaws.com");
    assert.ok(check.kind === "ecr");
    assert.equal(check.ecr.knownRegion, false);
    assert.match(check.warning ?? "", /us-east-3/);
  });

  void it("parseEcrHost returns such hosts (new regions launch before the table knows them)", () => {
    assert.equal(parseEcrHost("123456789012.dkr.ecr.xx-newplace-1.amazonaws.com")?.knownRegion, false);
  });

  void it("known regions give no warning", () => {
    const check = checkEcrHost("123456789012.dkr.ecr.eu-central-1.amazonaws.com");
    assert.ok(check.kind === "ecr");
    assert.equal(check.warning, undefined);
  });
});

void describe("region table", () => {
  void it("knows the partition of each region", () => {
    assert.equal(partitionOfRegion("us-east-1"), "aws");
    assert.equal(partitionOfRegion("us-gov-west-1"), "aws-us-gov");
    assert.equal(partitionOfRegion("us-isob-east-1"), "aws-iso-b");
    assert.equal(partitionOfRegion("nowhere-1"), undefined);
    assert.ok(knownRegions("aws-cn").includes("cn-north-1"));
    assert.ok(knownRegions().length > 40);
  });

  void it("agrees with the AWS SDK's endpoint resolution (public API)", () => {
    for (const p of AWS_PARTITIONS) {
      for (const region of p.regions) {
        const sdk = partition(region) as { name: string; description?: string; dnsSuffix: string };
        assert.equal(sdk.name, p.id, `${region} partition`);
        assert.equal(sdk.dnsSuffix, p.dnsSuffix, `${p.id} DNS suffix`);
        // The SDK describes exactly the regions its table lists; a region it only matches by pattern has no description.
        assert.ok(sdk.description, `the SDK lists ${region}`);
      }
    }
  });

  void it("lists every region the installed SDK lists (regenerate src/ecr/regions.ts when this fails)", async () => {
    const sdkData = await loadSdkPartitions();
    for (const sdkPartition of sdkData.partitions) {
      const ours = AWS_PARTITIONS.find((p) => p.id === sdkPartition.id);
      assert.ok(ours, `partition ${sdkPartition.id} is missing from src/ecr/regions.ts`);
      const sdkRegions = Object.keys(sdkPartition.regions).filter((r) => !r.endsWith("-global")).sort();
      assert.deepEqual([...ours.regions].sort(), sdkRegions, `regions of ${sdkPartition.id}`);
    }
  });
});

interface SdkPartitions {
  partitions: { id: string; regions: Record<string, unknown> }[];
}

/** The partitions data file inside @aws-sdk/core, the package util-endpoints resolves with. */
async function loadSdkPartitions(): Promise<SdkPartitions> {
  const require = createRequire(import.meta.url);
  const utilEndpoints = require.resolve("@aws-sdk/util-endpoints/package.json");
  const corePackage = createRequire(utilEndpoints).resolve("@aws-sdk/core/package.json");
  const file = join(dirname(corePackage), "dist-es/submodules/client/util-endpoints/lib/aws/partitions.js");
  assert.ok(readFileSync(file, "utf8").includes("partitionsInfo"), `expected the SDK's partitions data at ${file}`);
  const module = (await import(pathToFileURL(file).href)) as { partitionsInfo: SdkPartitions };
  return module.partitionsInfo;
}
