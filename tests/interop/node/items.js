// The calls around an upload that Box's Node SDKs make, against a
// box-chunked server: box-node-sdk 10 (`copyFile`, `updateFolderById`,
// `getFileVersions`, `getDownloadFileUrl`, `createFolder`, `uploadFile`,
// `uploadFileVersion`) and the legacy box-node-sdk 3 (`getReadStream`,
// `getDownloadURL`, `uploadNewFileVersion` with no attributes part). Prints
// one JSON line of what each call gave; test_node_sdk.py checks it.
//
// Usage: node items.js URL TOKEN
'use strict';
const crypto = require('crypto');
const { Readable } = require('stream');
const { BoxClient, BoxDeveloperTokenAuth } = require('box-node-sdk');
const BoxSDK3 = require('box-node-sdk-v3');

const sha1 = (b) => crypto.createHash('sha1').update(b).digest('hex');

async function readAll(stream) {
  const chunks = [];
  for await (const c of stream) chunks.push(Buffer.from(c));
  return Buffer.concat(chunks);
}

async function main() {
  const [url, token] = process.argv.slice(2);
  const client = new BoxClient({ auth: new BoxDeveloperTokenAuth({ token }) }).withCustomBaseUrls({
    baseUrl: url,
    uploadUrl: `${url}/api`,
    oauth2Url: `${url}/oauth2`,
  });
  const out = {};
  const first = Buffer.from('first version of notes\n');
  const second = Buffer.from('second version, longer than the first\n');
  const folder = await client.folders.createFolder({ name: 'inbox', parent: { id: '0' } });
  const up = await client.uploads.uploadFile({
    attributes: { name: 'notes.txt', parent: { id: folder.id } },
    file: Readable.from([first]),
  });
  const file = up.entries[0];
  await client.uploads.uploadFileVersion(file.id, {
    attributes: { name: 'notes.txt' },
    file: Readable.from([second]),
  });

  // Node SDK 10.
  const versions = await client.fileVersions.getFileVersions(file.id);
  out.versions = versions.entries.map((v) => ({ id: v.id, sha1: v.sha1, size: v.size }));
  const archive = await client.folders.createFolder({ name: 'archive', parent: { id: '0' } });
  const moved = await client.folders.updateFolderById(folder.id, {
    requestBody: { name: 'inbox-2026', parent: { id: archive.id } },
  });
  out.moved = { id: moved.id, name: moved.name, parent: moved.parent.id };
  const copy = await client.files.copyFile(file.id, { parent: { id: '0' }, name: 'notes-copy.txt' });
  out.copy = { id: copy.id, name: copy.name, sha1: copy.sha1, parent: copy.parent.id };
  try {
    await client.files.copyFile(file.id, { parent: { id: '0' }, name: 'NOTES-COPY.TXT' });
    out.copy_conflict = 'none';
  } catch (e) {
    out.copy_conflict = e.responseInfo ? e.responseInfo.code : String(e);
  }
  const link = await client.downloads.getDownloadFileUrl(file.id);
  out.download_url = link;
  out.download_sha1 = sha1(Buffer.from(await (await fetch(link)).arrayBuffer()));

  // The legacy Node SDK 3.
  const sdk3 = new BoxSDK3({
    clientID: 'unused',
    clientSecret: 'unused',
    apiRootURL: url,
    uploadAPIRootURL: `${url}/api`,
    authorizeRootURL: `${url}/api`,
  });
  const legacy = sdk3.getBasicClient(token);
  out.read_stream_sha1 = sha1(await readAll(await legacy.files.getReadStream(copy.id)));
  out.download_url_3 = await legacy.files.getDownloadURL(copy.id);
  const third = Buffer.from('third version, sent by Node SDK 3 with no attributes part\n');
  const v3 = await legacy.files.uploadNewFileVersion(file.id, third);
  out.legacy_version = { name: v3.entries[0].name, sha1: v3.entries[0].sha1 };
  out.expected = { first: sha1(first), second: sha1(second), third: sha1(third) };
  console.log(JSON.stringify(out));
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : e);
  process.exit(1);
});
