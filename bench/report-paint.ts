/**
 * Time to first paint of report pages in headless Chromium (Debian's /usr/bin/chromium through playwright-core):
 * the paint entries and the moment the page's script has built every table and chart (`meter-report-drawn`),
 * medians of --runs fresh page loads each.
 *
 *   node dist/bench/report-paint.js report.html [more.html...] [--runs 5]
 */
import path from 'node:path';
import { Browser } from '../test/browser.js';

const runsAt = process.argv.indexOf('--runs');
const runs = runsAt > 0 ? Number(process.argv[runsAt + 1]) : 5;
const files = process.argv.slice(2).filter((a, i, all) => a !== '--runs' && all[i - 1] !== '--runs');
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const browser = await Browser.launch();
try {
  for (const file of files) {
    const fp: number[] = [],
      fcp: number[] = [],
      drawn: number[] = [];
    for (let i = 0; i < runs; i++) {
      const { page, errors, requests } = await browser.open(path.resolve(file));
      // The page's content is built by its script: the first contentful paint comes after load.
      await page.waitForFunction(() => performance.getEntriesByName('first-contentful-paint').length > 0);
      const t = await page.evaluate(() => {
        const at = (name: string) => performance.getEntriesByName(name)[0]?.startTime ?? NaN;
        return { fp: at('first-paint'), fcp: at('first-contentful-paint'), drawn: at('meter-report-drawn') };
      });
      if (errors.length || requests.length) throw new Error(`${file}: ${[...errors, ...requests].join('; ')}`);
      fp.push(t.fp), fcp.push(t.fcp), drawn.push(t.drawn);
      await page.close();
    }
    const ms = (x: number) => `${Math.round(x)} ms`;
    console.log(
      `${file}: first paint ${ms(median(fp))}, first contentful paint ${ms(median(fcp))}, all drawn ${ms(median(drawn))} (median of ${runs})`,
    );
  }
} finally {
  await browser.close();
}
