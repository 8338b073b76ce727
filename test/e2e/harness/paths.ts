// Locates the repository, the built CLI, the fixture app and the conf/ samples for the e2e tests.
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
/** The bundle under test; TSGI_E2E_CLI points the tests at another build (e.g. an installed tsgi). */
export const CLI_PATH = process.env.TSGI_E2E_CLI ?? join(REPO_ROOT, 'dist/cli.cjs');
export const FIXTURE_APP = join(REPO_ROOT, 'test/fixtures/app.mjs');
export const CONF_DIR = join(REPO_ROOT, 'conf');

/** The e2e tests run the bundle, not the sources: fail with the command that builds it. */
export function requireCli(): string {
  if (!existsSync(CLI_PATH)) {
    throw new Error(`e2e: ${CLI_PATH} is missing: build it with \`npx tsup\` (npm run test:e2e does)`);
  }
  return CLI_PATH;
}
