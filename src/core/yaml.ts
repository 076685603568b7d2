/**
 * YAML text to a value, for the meter config, price files and mapping files. Loaded when first needed: most commands
 * (and the ingest worker, which imports modules that call this) read no YAML. A warning (an unknown tag such as
 * `!foo`, which the parser would pass over and print to stderr itself) is an error here, as a file meant otherwise.
 */
import { createRequire } from 'node:module';
import type { Document } from 'yaml';

/** A parsed YAML file: its value, and the line of a node of the document (for messages that name the line). */
export interface YamlFile {
  value: unknown;
  document: Document;
  /** The 1-based line of the node at a path (`['prices', 0, 'price']`), or of its nearest parent; null if none. */
  lineOf(path: Array<string | number>): number | null;
}

export function parseYamlFile(text: string): YamlFile {
  const yaml = createRequire(import.meta.url)('yaml') as typeof import('yaml');
  const lines = new yaml.LineCounter();
  // Merge keys (`<<: *base`), which Go's YAML parser (OpenMeter's config) reads too.
  const document = yaml.parseDocument(text, { lineCounter: lines, logLevel: 'silent', merge: true });
  const fault = document.errors[0] ?? document.warnings[0];
  if (fault !== undefined) throw fault;
  // A second document (after `---`, or after `...` ends the first) would be passed over in silence: the parser
  // says so only when it may log. An empty one (a file that ends with `---`) holds nothing to miss.
  const all = yaml.parseAllDocuments(text, { logLevel: 'silent', merge: true });
  const empty = (d: Document) => d.errors.length === 0 && (d.contents === null || (yaml.isScalar(d.contents) && d.contents.source === ''));
  const second = Array.isArray(all) ? all.slice(1).find((d) => !empty(d)) : undefined;
  if (second !== undefined)
    throw new Error(`a second YAML document starts at line ${lines.linePos(second.range[0]).line}; a file holds one`);
  const lineAt = (offset: number) => lines.linePos(offset).line;
  const lineOf = (path: Array<string | number>) => {
    for (let n = path.length; n > 0; n--) {
      const node = document.getIn(path.slice(0, n), true) as { range?: [number, number, number] } | undefined;
      if (node?.range !== undefined) return lineAt(node.range[0]);
    }
    return null;
  };
  return { value: document.toJS({ maxAliasCount: 100 }), document, lineOf };
}

export function parseYaml(text: string): unknown {
  return parseYamlFile(text).value;
}
