// Finds the front-server binaries (nginx, apache2, lighttpd, spawn-fcgi, cgi-fcgi); decides whether their e2e tests fail (CI) or are skipped (elsewhere).
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

export interface Binary {
  /** Absolute path, or undefined when not installed. */
  readonly path: string | undefined;
  /** True when the suite should be skipped: not installed and not running under CI. */
  readonly skip: boolean;
  /** Returns the path or throws the install hint; call it in beforeAll so CI fails loudly. */
  require(): string;
}

function findExecutable(names: string[]): string | undefined {
  // Debian keeps nginx, apache2 and lighttpd in /usr/sbin, which a non-root PATH often lacks.
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/local/sbin', '/sbin'];
  for (const name of names) {
    for (const dir of dirs) {
      if (!dir) continue;
      const candidate = join(dir, name);
      try {
        accessSync(candidate, constants.X_OK);
        return candidate;
      } catch {
        // not here; keep looking
      }
    }
  }
  return undefined;
}

function binary(label: string, names: string[], installHint: string): Binary {
  const path = findExecutable(names);
  return {
    path,
    skip: path === undefined && !process.env.CI,
    require() {
      if (path === undefined) throw new Error(`${label} not found: install it with ${installHint}`);
      return path;
    },
  };
}

export const NGINX = binary('nginx', ['nginx'], 'apt-get install nginx-light');
export const APACHE = binary('apache2', ['apache2', 'httpd'], 'apt-get install apache2');
export const LIGHTTPD = binary('lighttpd', ['lighttpd'], 'apt-get install lighttpd');
export const SPAWN_FCGI = binary('spawn-fcgi', ['spawn-fcgi'], 'apt-get install spawn-fcgi');
/** libfcgi's command-line FastCGI client (`cgi-fcgi -bind -connect host:port`). */
export const CGI_FCGI = binary('cgi-fcgi', ['cgi-fcgi'], 'apt-get install libfcgi-bin');
