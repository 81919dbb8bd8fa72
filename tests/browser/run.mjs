// Generic headless-Chromium driver for end-to-end tests (Debian's chromium,
// driven by playwright-core; nothing is downloaded).
//
//   node tests/browser/run.mjs --url URL_OR_FILE --steps STEPS_JSON [--offline]
//
// STEPS_JSON is a JSON list of steps, run in order:
//   {"click": SELECTOR}                      click an element
//   {"wait": SELECTOR}                       wait until it is visible
//   {"visible": SELECTOR, "is": true|false}  assert visibility
//   {"expect": JS_EXPRESSION, "label": TEXT} assert the expression is truthy in the page
//   {"until": JS_EXPRESSION, "label": TEXT, "timeout": MS}
//                                            wait until the expression is truthy
//                                            (default 10 s)
//   {"clickAt": JS_EXPRESSION}               click at the viewport point {x, y}
//                                            the expression gives
//   {"screenshot": PATH}                     full-page PNG
// --offline aborts every request that is not file:, data: or about: and
// fails the run if the page tried any (a self-contained page makes none).
// Prints one JSON line per step; exits 1 on the first failed step.
import { chromium } from 'playwright-core';
import { pathToFileURL } from 'node:url';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

function arg(name) {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
}

const target = arg('--url');
const steps = JSON.parse(arg('--steps') ?? '[]');
const offline = process.argv.includes('--offline');
if (!target) {
  console.error('usage: run.mjs --url URL_OR_FILE --steps JSON [--offline]');
  process.exit(2);
}
const url = /^[a-z]+:/.test(target) ? target : pathToFileURL(resolve(target)).href;
const executablePath = process.env.CHROMIUM ?? '/usr/bin/chromium';
if (!existsSync(executablePath)) {
  console.error(`${executablePath} missing: install Debian's chromium (.ci/run does)`);
  process.exit(2);
}

const profile = mkdtempSync(join(tmpdir(), 'geozarr-chromium-'));
// a fresh, empty profile per run
const context = await chromium.launchPersistentContext(profile, {
  executablePath,
  headless: true,
  viewport: { width: 1280, height: 900 },
  args: [
    '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
});
let failed = false;
const blocked = [];
try {
  const page = context.pages()[0] ?? (await context.newPage());
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  if (offline) {
    await page.route('**/*', (route) => {
      const u = route.request().url();
      if (/^(file|data|about):/.test(u)) return route.continue();
      blocked.push(u);
      return route.abort();
    });
  }
  await page.goto(url, { waitUntil: 'load' });
  console.log(JSON.stringify({ step: 'load', ok: true, url, title: await page.title() }));
  for (const s of steps) {
    let ok = true;
    let detail = {};
    try {
      if (s.click) {
        await page.click(s.click, { timeout: 5000 });
      } else if (s.wait) {
        await page.waitForSelector(s.wait, { state: 'visible', timeout: 5000 });
      } else if (s.visible) {
        const v = await page.locator(s.visible).first().isVisible();
        detail.visible = v;
        ok = v === (s.is ?? true);
      } else if (s.expect) {
        const v = await page.evaluate(s.expect);
        detail.value = v;
        ok = Boolean(v);
      } else if (s.until) {
        await page.waitForFunction(s.until, null, { timeout: s.timeout ?? 10000, polling: 100 });
      } else if (s.clickAt) {
        const p = await page.evaluate(s.clickAt);
        detail.at = p;
        if (!p) throw new Error('no point to click');
        await page.mouse.click(p.x, p.y);
      } else if (s.screenshot) {
        await page.screenshot({ path: s.screenshot, fullPage: true });
      } else {
        throw new Error(`unknown step ${JSON.stringify(s)}`);
      }
    } catch (e) {
      ok = false;
      detail.error = String(e).split('\n')[0];
    }
    console.log(JSON.stringify({ step: s, ok, ...detail }));
    if (!ok) {
      failed = true;
      break;
    }
  }
  if (errors.length) {
    console.log(JSON.stringify({ step: 'page errors', ok: false, errors }));
    failed = true;
  }
  if (offline && blocked.length) {
    console.log(JSON.stringify({ step: 'offline', ok: false, requests: blocked }));
    failed = true;
  }
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
