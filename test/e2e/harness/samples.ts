// Turns a conf/ sample into a test config by plain string replacement, failing if the sample changed.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CONF_DIR } from './paths.js';

/**
 * Reads `conf/<relPath>` and replaces each key of `replacements` with its value (every occurrence).
 * A key that is not in the sample is an error: the sample was edited and the harness would
 * otherwise test something else than users copy (e.g. listen on port 80).
 */
export async function renderSample(relPath: string, replacements: Array<[from: string, to: string]>): Promise<string> {
  let text = await readFile(join(CONF_DIR, relPath), 'utf8');
  for (const [from, to] of replacements) {
    if (!text.includes(from)) throw new Error(`e2e: conf/${relPath} no longer contains ${JSON.stringify(from)}`);
    text = text.split(from).join(to);
  }
  return text;
}
