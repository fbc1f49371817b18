// Opens tests/interop/browser/upload.html (served from another origin than
// the server) in headless Chromium with puppeteer-core and runs its chunked
// upload with plain fetch: node browser.js PAGE_URL SERVER_URL TOKEN SIZE [CALLS].
// CALLS is a JSON list of [function, options] pairs run in turn on the page
// (default [["runUpload", {}]]); prints each result as one JSON line.
const puppeteer = require('puppeteer-core');

async function main() {
  const [pageUrl, server, token, size, calls] = process.argv.slice(2);
  const browser = await puppeteer.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    // Root in a container has no user namespaces for Chromium's sandbox.
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
  try {
    const page = await browser.newPage();
    const failed = [];
    page.on('requestfailed', (r) => failed.push(`${r.method()} ${r.url()}: ${r.failure()?.errorText}`));
    page.on('console', (m) => { if (m.type() === 'error') console.error(`page: ${m.text()}`); });
    await page.goto(pageUrl);
    for (const [fn, options] of JSON.parse(calls || '[["runUpload", {}]]')) {
      const result = await page.evaluate(
        (f, s, t, n, o) => window[f](s, t, n, o).catch((e) => ({ error: String(e) })),
        fn, server, token, Number(size), options);
      result.failed_requests = failed.splice(0);
      console.log(JSON.stringify(result));
    }
  } finally {
    await browser.close();
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
