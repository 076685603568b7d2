/**
 * The report page: one HTML file with everything inline (uPlot's script and styles, read from node_modules when the
 * page is made, the page's own script and styles, and the data), so it opens from disk with no network and can be
 * mailed to a customer. `reportShell` is the same page fed by a JSON URL instead, for a server to answer at `/`.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { reportClient } from './report-client.js';
import type { Report } from '../core/report.js';
import { reportDoc, type ReportDoc } from './report-doc.js';
import type { Sink } from './sink.js';
import { REPORT_CSS } from './report-style.js';

const require = createRequire(import.meta.url);

let uplotCache: { js: string; css: string } | null = null;

/** uPlot's minified browser build and its styles, as shipped in its package. */
function uplotAssets(): { js: string; css: string } {
  if (uplotCache === null) {
    const js = fs.readFileSync(require.resolve('uplot/dist/uPlot.iife.min.js'), 'utf8');
    const css = fs.readFileSync(require.resolve('uplot/dist/uPlot.min.css'), 'utf8');
    uplotCache = { js: scriptSafe(js), css: css.replace(/<\//g, '<\\/') };
  }
  return uplotCache;
}

/**
 * Text that can sit inside a <script> element: `</script`, `<!--` and `<script` would end or confuse it, so every
 * `<` becomes `\u003c` in JSON and `<\/` in script source. U+2028 and U+2029 are escaped too (old JS parsers).
 */
export function scriptSafe(js: string): string {
  return js.replace(/<(\/|!--|script)/gi, (_m, rest: string) => `<\\${rest}`);
}

/** JSON for a <script type="application/json"> element: no `<`, `>` or `&` left to end it or be read as markup. */
export function jsonForScript(value: unknown): string {
  return JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * The page around a boot script; `head` is the page title. `connect` is its policy's connect-src: 'none' for a
 * file (it fetches nothing), 'self' for the page a server answers, which fetches its data from there.
 */
function page(title: string, body: string, connect: "'none'" | "'self'"): string {
  const { js, css } = uplotAssets();
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; connect-src ${connect}">
<title>${escapeHtml(title)}</title>
<style>${css}</style>
<style>${REPORT_CSS}</style>
</head>
<body>
<main id="report"></main>
<script>${js}</script>
<script>const reportClient = ${scriptSafe(reportClient.toString())};</script>
${body}
</body>
</html>
`;
}

/** The self-contained report: data inline, drawn when the page opens. */
/** `meter report`: the report as one self-contained HTML page. */
export async function renderReport(report: Report, sink: Sink): Promise<void> {
  await sink.write(renderReportHtml(reportDoc(report, 'meter report')));
}

export function renderReportHtml(doc: ReportDoc): string {
  return page(
    doc.title,
    `<script type="application/json" id="report-data">${jsonForScript(doc)}</script>
<script>reportClient(uPlot, JSON.parse(document.getElementById('report-data').textContent), document.getElementById('report')); performance.mark('meter-report-drawn');</script>`,
    "'none'",
  );
}

/**
 * The same page fed by a URL that answers with a report document (reportDoc's JSON), fetched when the page opens:
 * for `meter serve` to answer at `/` (same origin: the page's policy allows fetches to its own origin only). The
 * page's own query string (the report's parameters) goes along, and a `token` in its fragment is sent as a bearer
 * token: a fragment never reaches a server, so the page itself needs none.
 */
export function reportShell(dataUrl: string, title = 'Usage report'): string {
  return page(
    title,
    `<script>
// Read as written: URLSearchParams would turn the + of a base64 token into a space. A % escape is decoded where valid.
const pair = location.hash.slice(1).split('&').find((p) => p.startsWith('token='));
let token = pair === undefined ? null : pair.slice(6);
try { token = token && decodeURIComponent(token); } catch {}
fetch(${jsonForScript(dataUrl)} + location.search, { headers: token ? { accept: 'application/json', authorization: 'Bearer ' + token } : { accept: 'application/json' } })
  .then((r) => { if (!r.ok) throw new Error(r.status + ' ' + r.statusText); return r.json(); })
  .then((doc) => { document.title = doc.title; reportClient(uPlot, doc, document.getElementById('report')); performance.mark('meter-report-drawn'); })
  .catch((e) => { document.getElementById('report').textContent = 'The report could not be loaded: ' + e.message; });
</script>`,
    "'self'",
  );
}
