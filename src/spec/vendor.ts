// Registry vendors as the spec sees them: a hosted registry (Amazon ECR) may add a block of
// settings to the spec (`ecr:`), check the registry hosts it claims ("did you mean us-east-1?"),
// and check a spec pushing there. The spec knows only this interface; src/ecr implements it and
// registers itself when imported, as the package's entry points (src/index.ts, src/spec-entry.ts
// for `imagespec/spec`, the CLI) do.
//
// A vendor's settings are typed by augmenting VendorSettings (and VendorSettingsInput):
//   declare module "../spec/vendor.js" { interface VendorSettings { ecr: EcrOptions } }
import type { z } from "zod";

/** The settings blocks vendors add to a parsed spec, by field; vendors augment this interface. */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface VendorSettings {}
/** The same blocks as code writes them (before defaults); vendors augment this interface. */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface VendorSettingsInput {}

/** One problem a vendor finds, at a path from the spec's root (`["ecr", "catalogData"]`). */
export interface VendorProblem {
  readonly path: readonly (string | number)[];
  readonly message: string;
  readonly hint?: string | undefined;
}

export interface SpecVendor {
  /** The spec field holding the vendor's settings (`ecr`). */
  readonly key: string;
  /** Who the vendor is, for messages: `registry "ghcr.io/org" is not Amazon ECR`. */
  readonly title: string;
  /** The settings block's schema; parsing `{}` gives the defaults a spec without the block gets. */
  readonly settings: z.ZodType;
  /** Whether a registry host (with or without a port) is, or evidently means to be, the vendor's. */
  claims(host: string): boolean;
  /**
   * The `registry` field (`host[:port][/path]`, whose host is given) checked by the vendor: a
   * problem (a misspelt region), a warning (a region newer than the vendor's table), or nothing.
   */
  checkRegistry(registry: string, host: string): { readonly problem?: { message: string; hint?: string }; readonly warning?: string };
  /** A spec pushing to one of the vendor's registries: the name and settings checked against that registry. */
  checkSpec(spec: { readonly name: string; readonly registry: string; readonly settings: unknown }): VendorProblem[];
}

const vendors: SpecVendor[] = [];
let version = 0;

/** Adds a vendor (once per key: a second copy of the same module replaces the first). */
export function registerSpecVendor(vendor: SpecVendor): void {
  const index = vendors.findIndex((v) => v.key === vendor.key);
  if (index >= 0) vendors[index] = vendor;
  else vendors.push(vendor);
  version++;
}

/** The registered vendors, in registration order. */
export function specVendors(): readonly SpecVendor[] {
  return vendors;
}

/** Changes whenever a vendor is registered, for schemas built from the vendors. */
export function specVendorsVersion(): number {
  return version;
}
