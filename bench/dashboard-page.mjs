// Keeps the dashboard open in headless Chromium while a benchmark runs and
// reports the page's JS heap and responsiveness (bench/dashboard.sh).
//
//   node bench/dashboard-page.mjs URL STOP_FILE
//
// Samples the heap (CDP Runtime.getHeapUsage) and the time of an
// evaluate round trip every 500 ms until STOP_FILE exists, then prints
// one JSON line: heap max / end (MB), slowest round trip (ms), tasks held.
import { createRequire } from 'node:module';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(here, '../tests/browser/package.json'));
const { chromium } = require('playwright-core');
const [url, stop] = process.argv.slice(2);
const profile = mkdtempSync(join(tmpdir(), 'geozarr-bench-chromium-'));
const ctx = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', headless: true,
  viewport: { width: 1280, height: 900 }, args: ['--no-sandbox', '--disable-gpu'],
});
try {
  const page = ctx.pages()[0] ?? (await ctx.newPage());
  await page.goto(url, { waitUntil: 'load' });
  const cdp = await ctx.newCDPSession(page);
  let heapMax = 0, heapEnd = 0, slowest = 0, tasks = 0;
  console.error('page open');
  while (!existsSync(stop)) {
    const t = Date.now();
    tasks = await page.evaluate(() => window.geozarr.tasks.length);
    slowest = Math.max(slowest, Date.now() - t);
    const h = await cdp.send('Runtime.getHeapUsage');
    heapEnd = h.usedSize; heapMax = Math.max(heapMax, h.usedSize);
    await new Promise(r => setTimeout(r, 500));
  }
  // let the page take in the run's last events
  await new Promise(r => setTimeout(r, 3000));
  tasks = await page.evaluate(() => window.geozarr.tasks.length);
  heapEnd = (await cdp.send('Runtime.getHeapUsage')).usedSize;
  heapMax = Math.max(heapMax, heapEnd);
  console.log(JSON.stringify({ heap_max_mb: +(heapMax / 1e6).toFixed(1), heap_end_mb: +(heapEnd / 1e6).toFixed(1),
    slowest_round_trip_ms: slowest, tasks_in_page: tasks }));
} finally {
  await ctx.close();
  rmSync(profile, { recursive: true, force: true });
}
