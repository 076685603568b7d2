/**
 * Headless Chromium for the report tests: Debian's /usr/bin/chromium driven by playwright-core (no browser
 * download), a fresh profile per launch, every request other than the page's own file aborted and recorded, and
 * console errors and page errors collected. `close()` ends the browser and removes the profile; call it in a
 * finally (or an `after`), so a failed test leaves no browser behind.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = process.env.METER_CHROMIUM ?? '/usr/bin/chromium';

export interface OpenedPage {
  page: Page;
  /** Requests for anything but the file itself (each was aborted). */
  requests: string[];
  /** Console messages of type error, and uncaught page errors. */
  errors: string[];
}

export class Browser {
  private constructor(
    private readonly context: BrowserContext,
    private readonly profile: string,
  ) {}

  static async launch(): Promise<Browser> {
    const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'meter-chromium-'));
    try {
      const context = await chromium.launchPersistentContext(profile, {
        executablePath: CHROMIUM,
        headless: true,
        viewport: { width: 1200, height: 900 },
        args: [
          '--no-sandbox',
          '--disable-gpu',
          '--disable-quic',
          '--no-first-run',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
        ],
      });
      return new Browser(context, profile);
    } catch (e) {
      fs.rmSync(profile, { recursive: true, force: true });
      throw e;
    }
  }

  /**
   * Opens a local HTML file (or an http URL) and waits until it has loaded. Requests for anything else are
   * aborted and recorded, except for the URLs in `allow`.
   */
  async open(file: string, allow: string[] = []): Promise<OpenedPage> {
    const url = /^https?:/.test(file) ? file : pathToFileURL(file).href;
    const allowed = new Set([url, ...allow]);
    const page = await this.context.newPage();
    const requests: string[] = [],
      errors: string[] = [];
    page.on('request', (r) => !allowed.has(r.url()) && requests.push(r.url()));
    page.on('console', (m) => m.type() === 'error' && errors.push(`console: ${m.text()}`));
    page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
    await page.route('**/*', (route) => (allowed.has(route.request().url()) ? route.continue() : route.abort()));
    await page.goto(url, { waitUntil: 'load' });
    return { page, requests, errors };
  }

  async close(): Promise<void> {
    try {
      await this.context.close();
    } finally {
      fs.rmSync(this.profile, { recursive: true, force: true });
    }
  }
}
