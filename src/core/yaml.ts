/**
 * YAML text to a value, for the meter config, price files and mapping files. Loaded when first needed: most commands
 * (and the ingest worker, which imports modules that call this) read no YAML. A warning (an unknown tag such as
 * `!foo`, which the parser would pass over and print to stderr itself) is an error here, as a file meant otherwise.
 */
import { createRequire } from 'node:module';

export function parseYaml(text: string): unknown {
  const yaml = createRequire(import.meta.url)('yaml') as typeof import('yaml');
  const doc = yaml.parseDocument(text, { logLevel: 'silent' });
  const fault = doc.errors[0] ?? doc.warnings[0];
  if (fault !== undefined) throw fault;
  return doc.toJS({ maxAliasCount: 100 });
}
