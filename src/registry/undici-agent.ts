// undici's Agent with its request API, without the package's index: that also loads fetch,
// WebSocket, EventSource, the caches, mocks and interceptors, and with them some 30 of node's
// modules (http2, dns, worker_threads, sqlite...): about 35 ms of CPU at every start of the CLI.
// The index attaches the request API (request, stream, pipeline, upgrade, connect) to Dispatcher's
// prototype; so does this module (the same functions, so loading both is harmless). The files are
// undici internals, so package.json takes undici patch releases only (~8.14.0): a minor release
// that moved them would fail at import, for the CLI bundle and the library alike.
import type { Agent as UndiciAgent } from "undici";
import api from "undici/lib/api/index.js";
import AgentClass from "undici/lib/dispatcher/agent.js";
import Dispatcher from "undici/lib/dispatcher/dispatcher.js";

Object.assign(Dispatcher.prototype, api);

export const Agent: typeof UndiciAgent = AgentClass;
export type Agent = UndiciAgent;
