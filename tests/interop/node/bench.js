// Box's Node SDK (box-node-sdk 10) at its defaults, for `cargo xtask bench`:
// one `chunkedUploads.uploadBigFile` of FILE to a box-chunked server.
// Prints one JSON line: wall seconds, this process's CPU seconds and peak RSS.
//
// Usage: node bench.js URL TOKEN FILE
'use strict';
const fs = require('fs');
const { BoxClient, BoxDeveloperTokenAuth } = require('box-node-sdk');

async function main() {
  const [url, token, file] = process.argv.slice(2);
  const client = new BoxClient({ auth: new BoxDeveloperTokenAuth({ token }) }).withCustomBaseUrls({
    baseUrl: url,
    uploadUrl: `${url}/api`,
    oauth2Url: `${url}/oauth2`,
  });
  const size = fs.statSync(file).size;
  const started = process.hrtime.bigint();
  const name = `peer-node-${process.pid}.bin`;
  const f = await client.chunkedUploads.uploadBigFile(fs.createReadStream(file), name, size, '0');
  const secs = Number(process.hrtime.bigint() - started) / 1e9;
  if (Number(f.size) !== size) throw new Error(`uploaded ${f.size} bytes of ${size}`);
  const u = process.resourceUsage();
  console.log(JSON.stringify({
    kind: 'node', bytes: size, secs,
    cpu_secs: (u.userCPUTime + u.systemCPUTime) / 1e6, peak_rss: u.maxRSS * 1024,
  }));
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : String(e));
  process.exit(1);
});
