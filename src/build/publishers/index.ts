// The publisher for a destination: a registry, or an OCI image layout.
import type { Registry } from "../../registry/index.js";
import type { Destination } from "../destination.js";
import { LayoutPublisher } from "./layout.js";
import { RegistryPublisher } from "./registry.js";
import type { Publisher } from "./types.js";

export type { Published, PublishOptions, Publisher } from "./types.js";
export { LayoutPublisher } from "./layout.js";
export { RegistryPublisher } from "./registry.js";

export function publisherFor(destination: Destination, registry: Registry): Publisher {
  return destination.kind === "registry" ? new RegistryPublisher(registry, destination.reference) : new LayoutPublisher(destination.dir, destination.tag);
}
