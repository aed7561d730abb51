// The three modules of undici that src/registry/undici-agent.ts loads instead of the package's index.
declare module "undici/lib/api/index.js" {
  const api: object;
  export default api;
}
declare module "undici/lib/dispatcher/agent.js" {
  import type { Agent } from "undici";
  const AgentClass: typeof Agent;
  export default AgentClass;
}
declare module "undici/lib/dispatcher/dispatcher.js" {
  const Dispatcher: { prototype: object };
  export default Dispatcher;
}
