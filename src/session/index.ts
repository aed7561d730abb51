// Sessions: the registry client with its vendors, and the builder that pushes through it, made
// from plain options (what the build and register commands, and library users, start from).
export {
  createSession,
  createRegistrySession,
  type Session,
  type SessionOptions,
  type RegistrySession,
  type RegistrySessionOptions,
  type SessionRegistryOptions,
} from "./session.js";
