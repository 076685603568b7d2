/** The report page's styles: quiet colours, tabular figures, tables that scroll inside their card, print-friendly. */
export const REPORT_CSS = `
:root { --ink: #1d2330; --muted: #5f6b7a; --line: #e3e7ee; --bg: #f5f7fa; --card: #fff; --accent: #4e79a7; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1120px; margin: 0 auto; padding: 28px 24px 40px; }
header h1 { font-size: 26px; margin: 0 0 6px; letter-spacing: -0.01em; }
header .range { margin: 0; font-size: 15px; }
header .rule { margin: 4px 0 18px; color: var(--muted); max-width: 80ch; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 18px 20px 16px; margin: 0 0 20px;
  box-shadow: 0 1px 2px rgba(20, 30, 50, 0.04); }
.card h2 { font-size: 18px; margin: 0 0 2px; display: flex; align-items: baseline; gap: 10px; }
.card h2 .agg { font-size: 11px; font-weight: 600; color: var(--muted); border: 1px solid var(--line); border-radius: 4px; padding: 1px 6px; }
.muted { color: var(--muted); margin: 2px 0 8px; }
.warn { color: #a4471b; }
.kpis { display: flex; gap: 36px; margin: 10px 0 6px; flex-wrap: wrap; }
.kpis > div { display: flex; flex-direction: column; min-width: 0; max-width: 100%; }
.kpis .k { font-size: 11px; text-transform: uppercase; letter-spacing: 0.06em; color: var(--muted); }
.kpis .v { font-size: 22px; font-weight: 600; font-variant-numeric: tabular-nums; overflow-wrap: anywhere; }
.kpis .sub { font-size: 12px; color: var(--muted); font-variant-numeric: tabular-nums; overflow-wrap: anywhere; }
.chart { position: relative; margin: 8px 0 4px; min-height: 300px; }
.legend { list-style: none; padding: 0; margin: 4px 0 12px; display: flex; flex-wrap: wrap; gap: 4px 18px; font-size: 12.5px; }
.legend li { display: flex; align-items: center; gap: 6px; min-width: 0; max-width: 100%; }
.legend .lab { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; max-width: 40ch; }
.legend .lv { overflow-wrap: anywhere; min-width: 0; }
.legend .lv { color: var(--muted); font-variant-numeric: tabular-nums; }
.sw { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 6px; vertical-align: -1px; }
.legend .sw { margin-right: 0; }
.tip { position: absolute; z-index: 10; pointer-events: none; background: rgba(255, 255, 255, 0.97); border: 1px solid var(--line);
  border-radius: 6px; padding: 8px 10px; box-shadow: 0 4px 14px rgba(20, 30, 50, 0.12); font-size: 12px; min-width: 200px; }
.tip-head { font-weight: 600; }
.tip-span { color: var(--muted); font-size: 11px; margin-bottom: 4px; }
.tip table { border-collapse: collapse; width: 100%; }
.tip td { padding: 1px 0; }
.tip td.n { padding-left: 14px; }
.tip .tip-total td { font-weight: 600; border-bottom: 1px solid var(--line); }
.table-wrap + .table-wrap { margin-top: 14px; }
.table-wrap { max-height: 480px; overflow: auto; border-top: 1px solid var(--line); margin-top: 6px; }
table.rows { border-collapse: collapse; width: 100%; font-size: 13px; }
table.rows th { position: sticky; top: 0; background: #fafbfc; text-align: left; font-weight: 600; color: var(--muted);
  font-size: 11.5px; text-transform: uppercase; letter-spacing: 0.04em; padding: 7px 10px; border-bottom: 1px solid var(--line); }
table.rows td { padding: 5px 10px; border-bottom: 1px solid #f0f2f5; white-space: nowrap; }
table.rows tr:hover td { background: #f7f9fc; }
.n { text-align: right !important; font-variant-numeric: tabular-nums; }
td.rank { color: var(--muted); width: 3em; }
td.who { font-weight: 500; max-width: 22em; overflow: hidden; text-overflow: ellipsis; }
td.spark { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; color: var(--accent); letter-spacing: -0.5px; font-size: 12px; }
tr.sum td { font-weight: 600; border-top: 1px solid var(--line); }
tr.unpriced td { color: #a4471b; }
.find { margin: 10px 0 4px; }
.find input { font: inherit; padding: 5px 10px; width: 260px; border: 1px solid var(--line); border-radius: 6px; }
button { margin: 10px; font: inherit; padding: 4px 12px; border: 1px solid var(--line); background: #fff; border-radius: 6px; cursor: pointer; }
footer { color: var(--muted); font-size: 12px; text-align: center; margin-top: 8px; }
@media print { body { background: #fff; } .card { break-inside: avoid; box-shadow: none; } .table-wrap { max-height: none; overflow: visible; } button, .find { display: none; } }
`;
