// The handle the e2e harness returns for a running front server (nginx or Apache).

export interface FrontServer {
  /** Base URL, `http://127.0.0.1:<port>`, no trailing slash. */
  readonly url: string;
  /** The server's private directory (configs, logs, temp files, CGI scripts). */
  readonly prefix: string;
  /** The server's error log plus its stdout/stderr: printed when a test fails. */
  logs(): Promise<string>;
  /** SIGTERM (SIGKILL after a bound), then removes the prefix. */
  stop(): Promise<void>;
}
