// The Apache modules conf/apache/tsgi-authorizer.conf needs beyond those harness/apache.ts loads:
// finds them, and decides like harness/binaries.ts whether their absence fails (CI) or skips.
import { existsSync } from 'node:fs';
import { join } from 'node:path';

/** The same search order as harness/apache.ts. */
const MODULE_DIRS = ['/usr/lib/apache2/modules', '/usr/lib64/httpd/modules', '/usr/local/apache2/modules'];

/**
 * authn_core: AuthnzFcgiCheckAuthnProvider runs in its check_user_id phase (and it owns AuthType);
 * authz_user: `Require valid-user`; authnz_fcgi: the FastCGI authorizer client (Apache >= 2.4.10).
 */
const AUTHORIZER_MODULES: Array<[name: string, file: string]> = [
  ['authn_core_module', 'mod_authn_core.so'],
  ['authz_user_module', 'mod_authz_user.so'],
  ['authnz_fcgi_module', 'mod_authnz_fcgi.so'],
];

const INSTALL_HINT =
  'apt-get install apache2 (mod_authnz_fcgi, mod_authn_core and mod_authz_user ship in apache2-bin; Apache >= 2.4.10)';

function moduleDir(): string | undefined {
  return MODULE_DIRS.find((dir) => AUTHORIZER_MODULES.every(([, file]) => existsSync(join(dir, file))));
}

export const AUTHORIZER_APACHE_MODULES = {
  /** True when the modules are missing and the suite should be skipped (not under CI). */
  skip: moduleDir() === undefined && !process.env.CI,
  /**
   * `LoadModule` lines to put before the site config (the main config written by harness/apache.ts
   * does not load these). Throws the install hint when a module is missing, so CI fails loudly.
   */
  require(): string {
    const dir = moduleDir();
    if (!dir) {
      throw new Error(`Apache modules ${AUTHORIZER_MODULES.map(([, file]) => file).join(', ')} not found in ${MODULE_DIRS.join(', ')}: install them with ${INSTALL_HINT}`);
    }
    return AUTHORIZER_MODULES.map(([name, file]) => `LoadModule ${name} "${join(dir, file)}"`).join('\n');
  },
};
