#!/usr/bin/env node
// A dcmjs-dimse SCU for the tests: one association with a C-ECHO and/or one C-STORE per file.
//
//   node scu.js '{"host": "127.0.0.1", "port": 11112, "calling_ae": "DCMJSSCU", "called_ae": "PACS",
//                 "echo": true, "files": ["a.dcm"]}'
//
// The last stdout line is {"summary": {"echo": status|null, "stores": [status...], "errors": [...],
// "rejected": {result, source, reason}|null}}; the exit code is 0 when every operation answered 0x0000.
'use strict';

const dimse = require('dcmjs-dimse');

const { Client } = dimse;
const { CEchoRequest, CStoreRequest } = dimse.requests;

const spec = JSON.parse(process.argv[2] || '{}');
const summary = { echo: null, stores: [], errors: [], rejected: null };
let finished = false;

function finish() {
  if (finished) {
    return;
  }
  finished = true;
  const ok =
    summary.errors.length === 0 &&
    summary.rejected === null &&
    (!spec.echo || summary.echo === 0) &&
    summary.stores.length === (spec.files || []).length &&
    summary.stores.every((s) => s === 0);
  process.stdout.write(JSON.stringify({ summary }) + '\n');
  process.exitCode = ok ? 0 : 1;
}

const client = new Client();
if (spec.echo) {
  const echo = new CEchoRequest();
  echo.on('response', (response) => {
    summary.echo = response.getStatus();
  });
  client.addRequest(echo);
}
(spec.files || []).forEach((file) => {
  const store = new CStoreRequest(file);
  store.on('response', (response) => {
    summary.stores.push(response.getStatus());
  });
  client.addRequest(store);
});
client.on('associationRejected', (reject) => {
  summary.rejected = reject;
});
client.on('networkError', (e) => {
  summary.errors.push(String(e && e.message ? e.message : e));
});
client.on('closed', finish);
process.on('exit', finish);
client.send(spec.host, spec.port, spec.calling_ae || 'DCMJSSCU', spec.called_ae || 'ANY-SCP', {
  connectTimeout: 20000,
  associationTimeout: 30000,
  pduTimeout: 30000,
});
