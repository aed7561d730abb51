// AWS partitions and their regions as the AWS SDK for JavaScript v3 knows them: the partitions data
// of @aws-sdk/core 3.981.0 (what @aws-sdk/util-endpoints resolves with), "*-global" pseudo-regions left out.
// A copy, not an import, because src/ecr/host.ts is imported by src/spec and must not pull in the SDK.
// test/ecr/host.test.ts compares this table with the installed SDK and fails, naming the regions to
// add or remove, when the two drift apart.

export interface AwsPartition {
  /** Partition id as it appears in ARNs: aws, aws-cn, aws-us-gov, aws-iso, ... */
  readonly id: string;
  /** DNS suffix of the partition's regional endpoints, e.g. amazonaws.com. */
  readonly dnsSuffix: string;
  readonly regions: readonly string[];
}

export const AWS_PARTITIONS: readonly AwsPartition[] = [
  {
    id: "aws",
    dnsSuffix: "amazonaws.com",
    regions: [
      "af-south-1",
      "ap-east-1",
      "ap-east-2",
      "ap-northeast-1",
      "ap-northeast-2",
      "ap-northeast-3",
      "ap-south-1",
      "ap-south-2",
      "ap-southeast-1",
      "ap-southeast-2",
      "ap-southeast-3",
      "ap-southeast-4",
      "ap-southeast-5",
      "ap-southeast-6",
      "ap-southeast-7",
      "ca-central-1",
      "ca-west-1",
      "eu-central-1",
      "eu-central-2",
      "eu-north-1",
      "eu-south-1",
      "eu-south-2",
      "eu-west-1",
      "eu-west-2",
      "eu-west-3",
      "il-central-1",
      "me-central-1",
      "me-south-1",
      "me-west-1",
      "mx-central-1",
      "sa-east-1",
      "sa-west-1",
      "us-east-1",
      "us-east-2",
      "us-west-1",
      "us-west-2",
    ],
  },
  {
    id: "aws-cn",
    dnsSuffix: "amazonaws.com.cn",
    regions: [
      "cn-north-1",
      "cn-northwest-1",
    ],
  },
  {
    id: "aws-eusc",
    dnsSuffix: "amazonaws.eu",
    regions: [
      "eusc-de-east-1",
    ],
  },
  {
    id: "aws-iso",
    dnsSuffix: "c2s.ic.gov",
    regions: [
      "us-iso-east-1",
      "us-iso-west-1",
    ],
  },
  {
    id: "aws-iso-b",
    dnsSuffix: "sc2s.sgov.gov",
    regions: [
      "us-isob-east-1",
      "us-isob-west-1",
    ],
  },
  {
    id: "aws-iso-e",
    dnsSuffix: "cloud.adc-e.uk",
    regions: [
      "eu-isoe-west-1",
    ],
  },
  {
    id: "aws-iso-f",
    dnsSuffix: "csp.hci.ic.gov",
    regions: [
      "us-isof-east-1",
      "us-isof-south-1",
    ],
  },
  {
    id: "aws-us-gov",
    dnsSuffix: "amazonaws.com",
    regions: [
      "us-gov-east-1",
      "us-gov-west-1",
    ],
  },
];
