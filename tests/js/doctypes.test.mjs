// Frappe's DocTypes as they are (issue 12), through the real frappe-js-sdk: the DocTypes of
// tests/apps/fieldtypes (Frappe's export shape, unchanged) are loaded with --apps, and a document
// of each is created, read, updated, submitted (when submittable) and deleted through the SDK.
//
//   go build -o bin/livedoc ./cmd/livedoc && (cd tests/js && node --test doctypes.test.mjs)

import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { FrappeApp } from 'frappe-js-sdk';
import { io } from 'socket.io-client';

import { apiKeysFor, login, repoRoot, startLivedoc } from './lib/server.mjs';

let srv;
let admin;
let adminToken;

before(async () => {
  srv = await startLivedoc({ args: ['--sample=false', '--apps', path.join(repoRoot(), 'tests', 'apps', 'fieldtypes')] });
  const session = await login(srv.url, 'Administrator', srv.adminPassword);
  const keys = await apiKeysFor(srv.url, session, 'Administrator');
  adminToken = `${keys.api_key}:${keys.api_secret}`;
  admin = new FrappeApp(srv.url, { useToken: true, token: () => adminToken, type: 'token' });
});

after(async () => {
  await srv?.stop();
});

const year = String(new Date().getUTCFullYear());

// One document per DocType: what to create it with, what its name must look like, a change.
const cases = [
  { dt: 'LD Category', doc: { category_name: 'garden tools', description: 'Spades', discount: 10 }, name: /^Garden Tools$/, change: { discount: 15 } },
  { dt: 'LD Series', doc: { subject: 's' }, name: new RegExp(`^SER-${year}-\\d{5}$`), change: { subject: 't' } },
  { dt: 'LD Prompt', doc: { __newname: 'prompted', subject: 's' }, name: /^PROMPTED$/, change: { subject: 't' } },
  { dt: 'LD Auto', doc: { subject: 's' }, name: /^\d+$/, change: { subject: 't' } },
  { dt: 'LD Hash', doc: { subject: 's' }, name: /^[0-9a-f]{10}$/, change: { subject: 't' } },
  {
    dt: 'LD All Fields',
    doc: {
      title: 'Everything', kind: 'Simple', hidden_reqd: 'x', category: 'Garden Tools', start_time: '08:05', spent: 90.5,
      ratio: 1.23456, price: 9.999, stars: 0.6, done: 1, payload: { k: [1, 2] }, colour: '#00ff00',
      place: '{"type":"FeatureCollection","features":[]}', rows: [{ item: 'spade', qty: 1.005 }], tags: [{ category: 'Garden Tools' }],
      ref_type: 'LD Category', ref_name: 'Garden Tools', notes: '<p>hi</p>', script: 'x = 1\n  y = 2', mobile: '+44 20 7946 0000',
    },
    name: new RegExp(`^ALL-${year}-\\d{4}$`),
    change: { remarks: 'changed' },
    submittable: true,
    check: (d) => {
      assert.equal(d.start_time, '08:05:00');
      assert.equal(d.ratio, 1.235);
      assert.equal(d.price, 10);
      assert.equal(d.category_description, 'Spades', 'fetch_from');
      assert.equal(d.discount, 15, 'fetch_if_empty on an empty field: the category\u2019s current discount');
      assert.deepEqual(d.payload, { k: [1, 2] });
      assert.equal(d.rows[0].qty, 1, 'precision 2, half to even');
      assert.equal(d.tags[0].category, 'Garden Tools');
      assert.equal(d.script, 'x = 1\n  y = 2', 'Code keeps its indentation');
    },
  },
];

describe('every test DocType through frappe-js-sdk', () => {
  for (const c of cases) {
    test(`${c.dt}: create, read, update${c.submittable ? ', submit, cancel' : ''}, delete`, async () => {
      const db = admin.db();
      const created = await db.createDoc(c.dt, c.doc);
      assert.match(created.name, c.name);
      const read = await db.getDoc(c.dt, created.name);
      assert.equal(read.name, created.name);
      c.check?.(read);
      const updated = await db.updateDoc(c.dt, created.name, c.change);
      for (const [k, v] of Object.entries(c.change)) assert.equal(updated[k], v);
      if (c.submittable) {
        const submitted = await db.submit({ ...updated, doctype: c.dt });
        assert.equal(submitted.docstatus, 1);
        await admin.call().post('frappe.client.cancel', { doctype: c.dt, name: created.name });
        assert.equal((await db.getDoc(c.dt, created.name)).docstatus, 2);
      }
      if (c.dt !== 'LD Category') { // other documents link to it
        await db.deleteDoc(c.dt, created.name);
        await assert.rejects(db.getDoc(c.dt, created.name), (err) => err.httpStatus === 404);
      }
    });
  }

  test('a Single: read before any save, update, read again', async () => {
    const db = admin.db();
    assert.equal((await db.getDoc('LD Settings', 'LD Settings')).company_name, 'ACME');
    await db.updateDoc('LD Settings', 'LD Settings', { max_items: 7 });
    assert.equal((await db.getDoc('LD Settings', 'LD Settings')).max_items, 7);
  });

  test('depends_on: a field shown by kind=Detailed is then mandatory', async () => {
    await assert.rejects(admin.db().createDoc('LD All Fields', { title: 'd', kind: 'Detailed' }), (err) => err.httpStatus === 417 && err.exc_type === 'MandatoryError');
    const ok = await admin.db().createDoc('LD All Fields', { title: 'd', kind: 'Detailed', detail: 'given' });
    assert.match(ok.name, /^ALL-/);
  });

  test('a DocType read back has what was loaded: field_order, actions, links, engine', async () => {
    const dt = await admin.db().getDoc('DocType', 'LD All Fields');
    assert.equal(dt.engine, 'InnoDB');
    assert.equal(dt.track_changes, 1);
    assert.equal(dt.field_order[0], 'details_tab');
    assert.equal(dt.actions[0].label, 'Categories');
    assert.equal(dt.links[0].link_doctype, 'LD Series');
    assert.equal(dt.fields.find((f) => f.fieldname === 'internal_note').permlevel, 1);
  });

  test('permlevel: a user without level 1 neither sees nor sets internal_note', async () => {
    await admin.db().createDoc('User', { email: 'lduser@example.com', first_name: 'L', new_password: 'ld-user-pw-1', roles: [{ role: 'LD User' }] });
    const session = await login(srv.url, 'lduser@example.com', 'ld-user-pw-1');
    const keys = await apiKeysFor(srv.url, session, 'lduser@example.com');
    const user = new FrappeApp(srv.url, { useToken: true, token: () => `${keys.api_key}:${keys.api_secret}`, type: 'token' });
    const d = await admin.db().createDoc('LD All Fields', { title: 'p', kind: 'Simple', hidden_reqd: 'x', internal_note: 'managers only' });
    const seen = await user.db().getDoc('LD All Fields', d.name);
    assert.equal(seen.title, 'p');
    assert.equal('internal_note' in seen, false);
    await user.db().updateDoc('LD All Fields', d.name, { internal_note: 'mine now', remarks: 'r' });
    const after = await admin.db().getDoc('LD All Fields', d.name);
    assert.equal(after.internal_note, 'managers only');
    assert.equal(after.remarks, 'r');
  });

  test('track_changes: a save writes a Version with the field-level diff', async () => {
    const d = await admin.db().createDoc('LD All Fields', { title: 'v1', kind: 'Simple', hidden_reqd: 'x' });
    await admin.db().updateDoc('LD All Fields', d.name, { title: 'v2' });
    const got = await admin.call().get('frappe.desk.form.load.getdoc', { doctype: 'LD All Fields', name: d.name });
    const diffs = got.docinfo.versions.map((v) => JSON.parse(v.data));
    assert.ok(diffs.some((x) => x.changed.some(([f, from, to]) => f === 'title' && from === 'v1' && to === 'v2')), JSON.stringify(diffs));
  });

  test('a file uploaded into an Attach field downloads; a comment reaches a second socket as docinfo_update', async () => {
    const d = await admin.db().createDoc('LD All Fields', { title: 'files', kind: 'Simple', hidden_reqd: 'x' });
    const socket = io(srv.url + '/livedoc', { auth: { token: adminToken }, transports: ['websocket'], reconnection: false });
    try {
      await new Promise((resolve, reject) => (socket.on('connect', resolve), socket.on('connect_error', reject)));
      const ack = await socket.timeout(5000).emitWithAck('doc_subscribe', 'LD All Fields', d.name);
      assert.deepEqual(ack, { ok: true });
      const updates = [];
      const got = (key) => new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no docinfo_update ${key}: ${JSON.stringify(updates)}`)), 5000);
        socket.on('docinfo_update', (m) => {
          updates.push(m);
          if (m.key === key) (clearTimeout(timer), resolve(m));
        });
      });
      const attached = got('attachment_logs');
      const up = await admin.file().uploadFile(new File(['ld attachment'], 'ld.txt'), {
        isPrivate: false, doctype: 'LD All Fields', docname: d.name, fieldname: 'attachment',
      });
      const file = up.data.message;
      await attached;
      assert.equal((await db().getDoc('LD All Fields', d.name)).attachment, file.file_url);
      const res = await fetch(srv.url + file.file_url);
      assert.equal(await res.text(), 'ld attachment');
      const commented = got('comments');
      await admin.call().post('frappe.desk.form.utils.add_comment', {
        reference_doctype: 'LD All Fields', reference_name: d.name, content: 'looks right', comment_email: 'admin@localhost', comment_by: 'Administrator',
      });
      const m = await commented;
      assert.equal(m.action, 'add');
      assert.equal(m.doc.content, 'looks right');
    } finally {
      socket.close();
    }
  });
});

const db = () => admin.db();
