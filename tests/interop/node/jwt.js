// Box's Node SDK (box-node-sdk 10) signs in to a box-chunked server with
// JWT server auth from a Box app config file (`JwtConfig.fromConfigFile`,
// `BoxJwtAuth`), for the service account and, with `withUserSubject`, for a
// user, and uploads FILE with `uploadBigFile` each time. Prints one JSON
// line: the two files' ids, SHA-1s and owners.
//
// Usage: node jwt.js URL CONFIG_FILE FILE USER_ID
'use strict';
const fs = require('fs');
const { BoxClient, BoxJwtAuth, JwtConfig } = require('box-node-sdk');

function client(url, auth) {
  return new BoxClient({ auth }).withCustomBaseUrls({
    baseUrl: url,
    uploadUrl: `${url}/api`,
    oauth2Url: `${url}/oauth2`,
  });
}

async function main() {
  const [url, configFile, file, userId] = process.argv.slice(2);
  const size = fs.statSync(file).size;
  const service = new BoxJwtAuth({ config: JwtConfig.fromConfigFile(configFile) });
  const out = {};
  for (const [label, auth] of [['service', service], ['user', service.withUserSubject(userId)]]) {
    const c = client(url, auth);
    const f = await c.chunkedUploads.uploadBigFile(fs.createReadStream(file), `node-jwt-${label}.bin`, size, '0');
    const full = await c.files.getFileById(f.id, { queryParams: { fields: ['owned_by', 'sha1', 'size'] } });
    out[label] = { id: f.id, sha1: f.sha1, size: f.size, owner: full.ownedBy.id };
  }
  console.log(JSON.stringify(out));
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : e);
  process.exit(1);
});
