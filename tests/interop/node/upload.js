// Box's Node SDK (box-node-sdk 10, the generated TypeScript SDK) against a
// box-chunked server: `chunkedUploads.uploadBigFile` for a new file (every
// part streamed, `Transfer-Encoding: chunked`), then a new version through
// the manual calls (session for an existing file, parts by the session's
// URLs, list, commit). Prints one JSON line with both results.
//
// Usage: node upload.js URL TOKEN FILE NAME
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const { Readable } = require('stream');
const { BoxClient, BoxDeveloperTokenAuth } = require('box-node-sdk');

async function main() {
  const [url, token, file, name] = process.argv.slice(2);
  const client = new BoxClient({ auth: new BoxDeveloperTokenAuth({ token }) }).withCustomBaseUrls({
    baseUrl: url,
    uploadUrl: `${url}/api`,
    oauth2Url: `${url}/oauth2`,
  });
  const size = fs.statSync(file).size;
  const first = await client.chunkedUploads.uploadBigFile(fs.createReadStream(file), name, size, '0');

  // A new version with every byte reversed, by the manual calls.
  const data = Buffer.from(fs.readFileSync(file)).reverse();
  const cu = client.chunkedUploads;
  const session = await cu.createFileUploadSessionForExistingFile(first.id, { fileSize: data.length });
  const parts = [];
  for (let offset = 0; offset < data.length; offset += session.partSize) {
    const chunk = data.subarray(offset, Math.min(offset + session.partSize, data.length));
    const digest = 'sha=' + crypto.createHash('sha1').update(chunk).digest('base64');
    const contentRange = `bytes ${offset}-${offset + chunk.length - 1}/${data.length}`;
    const up = await cu.uploadFilePartByUrl(session.sessionEndpoints.uploadPart, Readable.from([chunk]), {
      digest,
      contentRange,
    });
    parts.push(up.part);
  }
  const listed = await cu.getFileUploadSessionPartsByUrl(session.sessionEndpoints.listParts);
  if (listed.totalCount !== parts.length) throw new Error(`listed ${listed.totalCount} parts, sent ${parts.length}`);
  const whole = 'sha=' + crypto.createHash('sha1').update(data).digest('base64');
  const committed = await cu.createFileUploadSessionCommitByUrl(session.sessionEndpoints.commit, { parts }, { digest: whole });
  const version = committed.entries[0];
  console.log(JSON.stringify({
    id: first.id,
    sha1: first.sha1,
    size: first.size,
    version_id: version.id,
    version_sha1: version.sha1,
    version_expected_sha1: crypto.createHash('sha1').update(data).digest('hex'),
  }));
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : e);
  process.exit(1);
});
