// The public surface of tsgi: each export named (no `export *`), everything else stays internal.

export type { App, Body, Chunk, Environ, ErrorStream, ExcInfo, HeaderList, InputStream, StartResponse, Write } from './core/types.js';
export { TsgiError, RequestAbortedError, ProtocolError } from './core/errors.js';
export { runApp, type ResponseSink, type Outcome, type DriverOptions } from './core/driver.js';
export { buildEnviron, type EnvironContext } from './core/environ.js';
export { BodyInput, type BodyInputOptions, type InputSource } from './core/input.js';
export { validator, ValidationError, type ValidatorOptions, type Violation } from './middleware/validator.js';
export { runCgi, type CgiOptions } from './cgi/runner.js';
export { FastCgiServer, type FastCgiServerOptions } from './daemon/server.js';
export { parseListenAddress, type ListenAddress } from './daemon/listen.js';
export { FastCgiClient, type FastCgiResponse, type FastCgiRequestOptions } from './fastcgi/client.js';
export { TestClient, type TestResponse } from './testing/client.js';
export { makeEnviron, requestParams, type TestRequest, type BuiltEnviron } from './testing/environ-builder.js';
export { fromFetch, toFetch, type FetchHandler, type ToFetchOptions } from './adapters/fetch.js';
export { fromNodeHttp, environOf, type NodeListener, type NodeHttpOptions } from './adapters/node-http.js';
export { nodeListenerOf, type NodeTarget } from './adapters/node-target.js';
export { toApp, detectApp, type AppType, type DetectedApp } from './adapters/detect.js';
export { startDevServer, type DevServerOptions, type DevServer } from './dev/server.js';
