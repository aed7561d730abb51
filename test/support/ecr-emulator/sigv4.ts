// AWS Signature Version 4 verification for the emulated ECR API. Test code only: product code
// signs with the AWS SDK and never builds signatures itself. The point is to make a client with
// the wrong secret, region or service fail here as it would against AWS.
// Reference: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html
import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";

export type SigV4Failure =
  | { code: "MissingAuthenticationTokenException"; message: string }
  | { code: "IncompleteSignatureException"; message: string }
  | { code: "UnrecognizedClientException"; message: string }
  | { code: "InvalidSignatureException"; message: string };

export interface SigV4Request {
  method: string;
  /** Path and query as received. */
  url: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export const BAD_SIGNATURE_MESSAGE =
  "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";

const sha256Hex = (data: string | Buffer) => createHash("sha256").update(data).digest("hex");
const hmac = (key: string | Buffer, data: string) => createHmac("sha256", key).update(data, "utf8").digest();

/** RFC 3986 encoding as SigV4 wants it (unreserved characters stay, everything else %XX). */
function uriEncode(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase());
}

function canonicalUri(path: string): string {
  // Non-S3 services: each segment is normalised then encoded once more.
  const segments = path.split("/").map((seg) => uriEncode(uriEncode(decodeURIComponent(seg))));
  return segments.join("/") || "/";
}

function canonicalQuery(query: string): string {
  if (!query) return "";
  const pairs = query
    .split("&")
    .filter((p) => p !== "")
    .map((p) => {
      const i = p.indexOf("=");
      const k = decodeURIComponent((i < 0 ? p : p.slice(0, i)).replace(/\+/g, " "));
      const v = i < 0 ? "" : decodeURIComponent(p.slice(i + 1).replace(/\+/g, " "));
      return [uriEncode(k), uriEncode(v)] as const;
    });
  pairs.sort((a, b) => (a[0] === b[0] ? (a[1] < b[1] ? -1 : 1) : a[0] < b[0] ? -1 : 1));
  return pairs.map(([k, v]) => `${k}=${v}`).join("&");
}

function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  if (v === undefined) return undefined;
  return (Array.isArray(v) ? v.join(",") : v).trim().replace(/\s+/g, " ");
}

export function signingKey(secret: string, date: string, region: string, service: string): Buffer {
  return hmac(hmac(hmac(hmac("AWS4" + secret, date), region), service), "aws4_request");
}

export interface VerifiedCaller {
  accessKeyId: string;
  region: string;
  service: string;
}

/**
 * Checks the Authorization header of `req`. `secretFor` maps an access key id to its secret
 * (undefined: unknown key). Returns the caller, or the AWS error a real endpoint would answer.
 */
export function verifySigV4(
  req: SigV4Request,
  secretFor: (accessKeyId: string) => string | undefined,
  expected: { region: string; service: string },
): VerifiedCaller | SigV4Failure {
  const auth = headerValue(req.headers, "authorization");
  if (!auth) return { code: "MissingAuthenticationTokenException", message: "Missing Authentication Token" };
  const m = /^AWS4-HMAC-SHA256 (.*)$/.exec(auth);
  if (!m) return { code: "IncompleteSignatureException", message: `Authorization header requires 'Credential' parameter. Authorization=${auth}` };
  const params = new Map<string, string>();
  for (const part of m[1]!.split(/,\s*/)) {
    const i = part.indexOf("=");
    if (i > 0) params.set(part.slice(0, i).trim(), part.slice(i + 1).trim());
  }
  const credential = params.get("Credential");
  const signedHeaders = params.get("SignedHeaders");
  const signature = params.get("Signature");
  if (!credential || !signedHeaders || !signature) {
    return {
      code: "IncompleteSignatureException",
      message: `Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters. Authorization=${auth}`,
    };
  }
  const [accessKeyId, date, region, service, terminator] = credential.split("/");
  if (!accessKeyId || !date || !region || !service || terminator !== "aws4_request") {
    return { code: "IncompleteSignatureException", message: `Credential should be scoped to a valid region. ` };
  }
  const secret = secretFor(accessKeyId);
  if (secret === undefined) {
    return { code: "UnrecognizedClientException", message: "The security token included in the request is invalid." };
  }
  if (region !== expected.region) {
    return { code: "InvalidSignatureException", message: `Credential should be scoped to a valid region. ` };
  }
  if (service !== expected.service) {
    return { code: "InvalidSignatureException", message: `Credential should be scoped to correct service: '${expected.service}'. ` };
  }
  const amzDate = headerValue(req.headers, "x-amz-date");
  if (!amzDate || !/^\d{8}T\d{6}Z$/.test(amzDate) || amzDate.slice(0, 8) !== date) {
    return { code: "IncompleteSignatureException", message: "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header." };
  }
  const when = Date.parse(`${amzDate.slice(0, 4)}-${amzDate.slice(4, 6)}-${amzDate.slice(6, 8)}T${amzDate.slice(9, 11)}:${amzDate.slice(11, 13)}:${amzDate.slice(13, 15)}Z`);
  if (Math.abs(Date.now() - when) > 15 * 60 * 1000) {
    return { code: "InvalidSignatureException", message: `Signature expired: ${amzDate} is now earlier or later than 15 minutes from the current time.` };
  }
  const names = signedHeaders.split(";");
  if (!names.includes("host")) return { code: "InvalidSignatureException", message: BAD_SIGNATURE_MESSAGE };
  // A security token sent unsigned would let anyone swap it; AWS insists it be signed.
  if (req.headers["x-amz-security-token"] !== undefined && !names.includes("x-amz-security-token")) {
    return { code: "InvalidSignatureException", message: BAD_SIGNATURE_MESSAGE };
  }
  const q = req.url.indexOf("?");
  const path = q < 0 ? req.url : req.url.slice(0, q);
  const query = q < 0 ? "" : req.url.slice(q + 1);
  // The signature covers the body through its hash; a declared hash must be the real one.
  const payloadHash = sha256Hex(req.body);
  const declared = headerValue(req.headers, "x-amz-content-sha256");
  if (declared !== undefined && declared !== payloadHash) {
    return { code: "InvalidSignatureException", message: "The provided 'x-amz-content-sha256' header does not match what was computed." };
  }
  const canonicalRequest = [
    req.method.toUpperCase(),
    canonicalUri(path),
    canonicalQuery(query),
    names.map((n) => `${n}:${headerValue(req.headers, n) ?? ""}\n`).join(""),
    signedHeaders,
    payloadHash,
  ].join("\n");
  const scope = `${date}/${region}/${service}/aws4_request`;
  const stringToSign = ["AWS4-HMAC-SHA256", amzDate, scope, sha256Hex(canonicalRequest)].join("\n");
  const expectedSig = createHmac("sha256", signingKey(secret, date, region, service)).update(stringToSign, "utf8").digest();
  const given = Buffer.from(signature, "hex");
  if (given.length !== expectedSig.length || !timingSafeEqual(given, expectedSig)) {
    return { code: "InvalidSignatureException", message: BAD_SIGNATURE_MESSAGE };
  }
  return { accessKeyId, region, service };
}
