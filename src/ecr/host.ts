// Amazon ECR registry hosts: which account, region and partition a registry host names, and why a
// host that looks like ECR cannot be one (`us-eas-1` -> "did you mean us-east-1?").
//
// The ECR spec vendor (./spec-vendor.ts) uses this file to check a spec's `registry` field while the
// spec loads, so it imports only src/errors.ts and its own region data (./regions.ts) -- never the
// AWS SDK or the rest of src/ecr.
import { ImagespecError } from "../errors.js";
import { AWS_PARTITIONS, type AwsPartition } from "./regions.js";

/** What an ECR registry host says about the registry behind it. */
export interface EcrHost {
  /** The host, lower-cased, without a port. */
  readonly host: string;
  /** ECR Public (`public.ecr.aws`): no account in the host, API always in us-east-1. */
  readonly public: boolean;
  /** The 12-digit account id owning a private registry; absent for ECR Public. */
  readonly account?: string;
  readonly region: string;
  /** Partition id as in ARNs: aws, aws-cn, aws-us-gov, aws-iso, aws-iso-b, aws-iso-e, aws-iso-f, aws-eusc. */
  readonly partition: string;
  /** A FIPS endpoint (`dkr.ecr-fips` / `dkr-ecr-fips`). */
  readonly fips: boolean;
  /** A dual-stack (IPv4 and IPv6) endpoint (`dkr-ecr.<region>.on.aws`, `ecr-public.aws.com`). */
  readonly dualStack: boolean;
  /** False when the region is well-formed but missing from the SDK's region table (perhaps new). */
  readonly knownRegion: boolean;
}

/** The outcome of checking a host: not ECR at all, an ECR host (maybe with a warning), or a broken one. */
export type EcrHostCheck =
  | { readonly kind: "not-ecr" }
  | { readonly kind: "ecr"; readonly ecr: EcrHost; readonly warning?: string }
  | { readonly kind: "invalid"; readonly problem: string; readonly hint: string };

export class EcrHostError extends ImagespecError {
  constructor(host: string, problem: string, hint: string) {
    super("INVALID_ECR_HOST", `invalid Amazon ECR registry host ${JSON.stringify(host)}: ${problem}`, { hint });
  }
}

/** How private registry hosts end, per partition. The IPv4 form is `<account>.dkr.ecr[-fips].<region>.<suffix>`. */
interface HostSuffix {
  readonly suffix: string;
  /** Partitions served under this suffix; the first is the one an unknown region is checked against. */
  readonly partitions: readonly string[];
  readonly dualStack: boolean;
}

const HOST_SUFFIXES: readonly HostSuffix[] = [
  { suffix: "amazonaws.com", partitions: ["aws", "aws-us-gov"], dualStack: false },
  { suffix: "amazonaws.com.cn", partitions: ["aws-cn"], dualStack: false },
  { suffix: "amazonaws.eu", partitions: ["aws-eusc"], dualStack: false },
  { suffix: "c2s.ic.gov", partitions: ["aws-iso"], dualStack: false },
  { suffix: "sc2s.sgov.gov", partitions: ["aws-iso-b"], dualStack: false },
  { suffix: "cloud.adc-e.uk", partitions: ["aws-iso-e"], dualStack: false },
  { suffix: "csp.hci.ic.gov", partitions: ["aws-iso-f"], dualStack: false },
  // Dual-stack: `<account>.dkr-ecr[-fips].<region>.on.aws`, and the China form.
  { suffix: "on.aws", partitions: ["aws", "aws-us-gov"], dualStack: true },
  { suffix: "on.amazonwebservices.com.cn", partitions: ["aws-cn"], dualStack: true },
];

const PUBLIC_HOSTS: Readonly<Record<string, { dualStack: boolean }>> = {
  "public.ecr.aws": { dualStack: false },
  "ecr-public.aws.com": { dualStack: true },
};

// `[account.]service.region.suffix`; the account is optional here so that its absence gets its own message.
const PRIVATE_HOST = /^(?:(?<account>[^.]+)\.)?(?<service>dkr\.ecr|dkr\.ecr-fips|dkr-ecr|dkr-ecr-fips)\.(?<region>[^.]+)\.(?<suffix>.+)$/;
// Hosts that are clearly meant as ECR even though they do not match the registry form.
const ECR_LIKE = /(?:^|\.)(?:dkr[.-])?ecr(?:-fips)?\./;
const ACCOUNT = /^\d{12}$/;
// A region name's shape: `us-east-1`, `us-gov-west-1`, `us-isob-east-1`, `eusc-de-east-1`.
const WELL_FORMED_REGION = /^[a-z]{2,4}(?:-[a-z]+)+-\d{1,2}$/;
// How far (in edits) a misspelt region may be from a real one for us to call it a typo.
const TYPO_DISTANCE = 2;

function partitionById(id: string): AwsPartition {
  const partition = AWS_PARTITIONS.find((p) => p.id === id);
  if (!partition) throw new Error(`AWS partition ${id} is missing from src/ecr/regions.ts`);
  return partition;
}

/** The partition a known region belongs to, or undefined for a region the table does not list. */
export function partitionOfRegion(region: string): string | undefined {
  return AWS_PARTITIONS.find((p) => p.regions.includes(region))?.id;
}

/** The regions of one partition (default: all partitions), from the SDK-derived table. */
export function knownRegions(partition?: string): readonly string[] {
  return partition === undefined ? AWS_PARTITIONS.flatMap((p) => p.regions) : partitionById(partition).regions;
}

/** True when the host is, or is evidently meant to be, an ECR registry host (valid or not). */
export function looksLikeEcrHost(host: string): boolean {
  const name = stripPort(host.toLowerCase());
  if (name in PUBLIC_HOSTS) return true;
  return ECR_LIKE.test(name) && HOST_SUFFIXES.some((s) => name.endsWith(`.${s.suffix}`));
}

/**
 * Checks a registry host (with or without a port). Never throws: a host that is not ECR is
 * `not-ecr`, a host that means to be ECR but cannot be is `invalid` with what to write instead.
 */
export function checkEcrHost(input: string): EcrHostCheck {
  const host = stripPort(input.trim().toLowerCase());
  const publicHost = PUBLIC_HOSTS[host];
  if (publicHost) {
    const ecr: EcrHost = { host, public: true, region: "us-east-1", partition: "aws", fips: false, dualStack: publicHost.dualStack, knownRegion: true };
    return { kind: "ecr", ecr };
  }
  if (!looksLikeEcrHost(host)) return { kind: "not-ecr" };

  const match = PRIVATE_HOST.exec(host);
  if (!match?.groups) {
    return invalid(
      "it is not an ECR registry host (is it the ECR API endpoint?)",
      "a private registry host is <account>.dkr.ecr.<region>.amazonaws.com, e.g. 123456789012.dkr.ecr.us-east-1.amazonaws.com",
    );
  }
  const { account, service, region, suffix } = match.groups as { account?: string; service: string; region: string; suffix: string };
  const dualStackService = service.startsWith("dkr-ecr");
  const fips = service.endsWith("-fips");

  const hostSuffix = HOST_SUFFIXES.find((s) => s.suffix === suffix);
  if (!hostSuffix) {
    const known = HOST_SUFFIXES.filter((s) => s.dualStack === dualStackService).map((s) => s.suffix);
    return invalid(`unknown domain ${JSON.stringify(suffix)}`, `ECR hosts end in one of: ${known.join(", ")}`);
  }
  if (hostSuffix.dualStack !== dualStackService) {
    return invalid(
      hostSuffix.dualStack ? `dual-stack hosts (.${suffix}) use "dkr-ecr", not "${service}"` : `"${service}" is the dual-stack form, which ends in .on.aws`,
      "write <account>.dkr.ecr.<region>.amazonaws.com (IPv4) or <account>.dkr-ecr.<region>.on.aws (dual-stack)",
    );
  }
  if (account === undefined) {
    return invalid("the account id is missing", `start the host with your 12-digit account id: 123456789012.${host}`);
  }
  if (!ACCOUNT.test(account)) {
    return invalid(`account id ${JSON.stringify(account)} is not 12 digits`, "the registry host starts with the 12-digit AWS account id that owns the registry, e.g. 123456789012");
  }

  const regionCheck = checkRegion(region, hostSuffix);
  if (regionCheck.kind === "invalid") return regionCheck;
  const ecr: EcrHost = {
    host,
    public: false,
    account,
    region,
    partition: regionCheck.partition,
    fips,
    dualStack: hostSuffix.dualStack,
    knownRegion: regionCheck.known,
  };
  return regionCheck.warning === undefined ? { kind: "ecr", ecr } : { kind: "ecr", ecr, warning: regionCheck.warning };
}

/**
 * Parses an ECR registry host. Returns undefined for a host that is not ECR; throws EcrHostError
 * for one that means to be ECR but is malformed. A well-formed region missing from the table is
 * accepted (`knownRegion: false`): new regions appear before our table learns them.
 */
export function parseEcrHost(host: string): EcrHost | undefined {
  const check = checkEcrHost(host);
  if (check.kind === "invalid") throw new EcrHostError(host, check.problem, check.hint);
  return check.kind === "ecr" ? check.ecr : undefined;
}

type RegionCheck =
  | { kind: "ok"; partition: string; known: boolean; warning?: string }
  | { kind: "invalid"; problem: string; hint: string };

function checkRegion(region: string, hostSuffix: HostSuffix): RegionCheck {
  const served = hostSuffix.partitions.map(partitionById);
  const home = served.find((p) => p.regions.includes(region));
  if (home) return { kind: "ok", partition: home.id, known: true };

  const elsewhere = partitionOfRegion(region);
  if (elsewhere !== undefined) {
    const suffix = HOST_SUFFIXES.find((s) => s.partitions.includes(elsewhere) && s.dualStack === hostSuffix.dualStack)?.suffix;
    return invalid(
      `region ${region} is in the ${elsewhere} partition, whose ECR hosts do not end in .${hostSuffix.suffix}`,
      suffix ? `end the host with .${region}.${suffix}` : `check the registry host for region ${region}`,
    );
  }

  // Unknown region: check it against the partition it would belong to (GovCloud regions say so in their name).
  const partition = served.find((p) => p.id === "aws-us-gov" && region.startsWith("us-gov-")) ?? served[0]!;
  const stem = region.replace(/-\d+$/, "");
  if (WELL_FORMED_REGION.test(region) && partition.regions.some((r) => r.replace(/-\d+$/, "") === stem)) {
    // Same name as known regions but another number: how new regions are named (us-east-3), not a typo.
    return { kind: "ok", partition: partition.id, known: false, warning: unknownRegionWarning(region, partition) };
  }
  const nearest = nearestRegions(region, partition.regions);
  if (nearest.distance <= TYPO_DISTANCE) {
    // List the regions of the same area (us-, eu-, ...) when there are some: a short, useful hint.
    const area = nearest.regions[0]!.split("-")[0]!;
    return invalid(
      `unknown AWS region ${JSON.stringify(region)}; did you mean ${nearest.regions.join(" or ")}?`,
      `the ${partition.id} partition's ${area}- regions are: ${partition.regions.filter((r) => r.startsWith(`${area}-`)).join(", ")}`,
    );
  }
  if (WELL_FORMED_REGION.test(region)) {
    return { kind: "ok", partition: partition.id, known: false, warning: unknownRegionWarning(region, partition) };
  }
  return invalid(`${JSON.stringify(region)} is not an AWS region name`, `a region looks like us-east-1; ${partition.id} regions are: ${partition.regions.join(", ")}`);
}

function unknownRegionWarning(region: string, partition: AwsPartition): string {
  return `AWS region ${JSON.stringify(region)} is not among the ${partition.id} regions imagespec knows (from the AWS SDK's endpoint data); fine if it is a new region, otherwise check the spelling`;
}

function invalid(problem: string, hint: string): { kind: "invalid"; problem: string; hint: string } {
  return { kind: "invalid", problem, hint };
}

function stripPort(host: string): string {
  return host.replace(/:\d*$/, "");
}

/** The known regions closest to `region` by edit distance (all ties). */
function nearestRegions(region: string, candidates: readonly string[]): { distance: number; regions: string[] } {
  let best = Number.POSITIVE_INFINITY;
  let regions: string[] = [];
  for (const candidate of candidates) {
    const distance = editDistance(region, candidate);
    if (distance < best) {
      best = distance;
      regions = [candidate];
    } else if (distance === best) {
      regions.push(candidate);
    }
  }
  return { distance: best, regions };
}

/** Optimal string alignment distance: insertions, deletions, substitutions and adjacent swaps each cost 1. */
function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[] = new Array<number>(rows * cols).fill(0);
  const at = (i: number, j: number): number => d[i * cols + j]!;
  for (let i = 0; i < rows; i++) d[i * cols] = i;
  for (let j = 0; j < cols; j++) d[j] = j;
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let value = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) value = Math.min(value, at(i - 2, j - 2) + 1);
      d[i * cols + j] = value;
    }
  }
  return at(a.length, b.length);
}
