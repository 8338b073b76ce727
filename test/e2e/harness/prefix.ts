// Gives each front server its own scratch directory, readable by Apache's www-data children (e2e harness).
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A fresh directory under the system temp dir. mkdtemp creates it 0700; Apache's children run as
 * www-data and must read configs, CGI scripts and the app copied into it, hence 0755.
 */
export async function makePrefix(name: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `tsgi-e2e-${name}-`));
  await chmod(dir, 0o755);
  return dir;
}

/** Removes a prefix unless TSGI_E2E_KEEP is set (to look at configs and logs after a run). */
export async function removePrefix(dir: string | undefined): Promise<void> {
  if (!dir || process.env.TSGI_E2E_KEEP) return;
  await rm(dir, { recursive: true, force: true });
}
