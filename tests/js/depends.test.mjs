// The depends_on rule in the browser is the file the server runs (expr/depends.js, served at
// /assets/depends.js): evaluated here in Node on expr/testdata/cases.json, the cases the Go test
// checks on the server, it gives the same answers.
//
//   go build -o bin/livedoc ./cmd/livedoc && (cd tests/js && node --test depends.test.mjs)

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import vm from 'node:vm';

import { repoRoot, startLivedoc } from './lib/server.mjs';

let srv;
before(async () => {
  srv = await startLivedoc({ args: ['--sample=false'] });
});
after(async () => {
  await srv?.stop();
});

test('/assets/depends.js answers every shared case as the server does', async () => {
  const res = await fetch(srv.url + '/assets/depends.js');
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /javascript/);
  const source = await res.text();
  assert.equal(source, await readFile(path.join(repoRoot(), 'expr', 'depends.js'), 'utf8'));
  const sandbox = {};
  vm.runInNewContext(source, sandbox);
  const holds = sandbox.livedocDependsOn;
  const tc = JSON.parse(await readFile(path.join(repoRoot(), 'expr', 'testdata', 'cases.json'), 'utf8'));
  for (const [expression, want] of tc.cases) {
    assert.equal(holds(expression, tc.doc, tc.parent, tc.ctx), want, expression);
  }
});
