// Opens tests/interop/browser/upload.html (served from another origin than
// the server) in headless Chromium with puppeteer-core and runs its chunked
// upload with plain fetch: node browser.js PAGE_URL SERVER_URL TOKEN SIZE.
// Prints the page's result as one JSON line.
const puppeteer = require('puppeteer-core');

async function main() {
  const [pageUrl, server, token, size] = process.argv.slice(2);
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
    await page.goto(pageUrl);
    const result = await page.evaluate(
      (s, t, n) => window.runUpload(s, t, n).catch((e) => ({ error: String(e) })),
      server, token, Number(size));
    result.failed_requests = failed;
    console.log(JSON.stringify(result));
  } finally {
    await browser.close();
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
