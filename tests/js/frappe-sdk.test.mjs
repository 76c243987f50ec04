// frappe-js-sdk 1.14.1 (the real npm package, unmodified) against a real livedoc server serving the
// sample invoice app (examples/invoice). No mocks: every assertion is about what the SDK sends and
// what livedoc answers over HTTP.
//
//   go build -o bin/livedoc ./cmd/livedoc && (cd tests/js && node --test frappe-sdk.test.mjs)
//
// Notes on the SDK (node_modules/frappe-js-sdk/lib):
// - every call rejects with getFrappeError(): the response body spread, plus httpStatus,
//   httpStatusText, message and exception; so err.exc_type is Frappe's exception class.
// - in Node there is no cookie jar and no window.csrf_token: a cookie session works only by passing
//   Cookie and X-Frappe-CSRF-Token as the FrappeApp's custom headers.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { FrappeApp } from 'frappe-js-sdk';

import { apiKeysFor, login, startLivedoc } from './lib/server.mjs';

let srv; // the livedoc server for this file
let adminSession; // {cookie, csrf} of Administrator
let adminKeys; // {api_key, api_secret} of Administrator
let admin; // FrappeApp with Administrator's API token

const runId = Date.now().toString(36);
let seq = 0;
/** A name no other test uses. */
const uniq = (prefix) => `${prefix} ${runId}-${++seq}`;

function tokenApp(keys) {
  return new FrappeApp(srv.url, {
    useToken: true,
    token: () => `${keys.api_key}:${keys.api_secret}`,
    type: 'token',
  });
}

/** Asserts that promise rejects with a FrappeError of the given HTTP status (and exc_type). */
async function rejectsWith(promise, httpStatus, excType) {
  await assert.rejects(promise, (err) => {
    const seen = JSON.stringify(err);
    assert.equal(err.httpStatus, httpStatus, `expected HTTP ${httpStatus}, got: ${seen}`);
    if (excType) assert.equal(err.exc_type, excType, `expected exc_type ${excType}, got: ${seen}`);
    return true;
  });
}

async function newCustomer(app = admin, extra = {}) {
  return app.db().createDoc('Customer', { customer_name: uniq('Customer'), ...extra });
}

async function newInvoice(customer, items = [{ item: 'Widget', qty: 2, rate: 10 }], app = admin, extra = {}) {
  return app.db().createDoc('Invoice', { customer, items, ...extra });
}

before(async () => {
  srv = await startLivedoc();
  adminSession = await login(srv.url, 'Administrator', srv.adminPassword);
  adminKeys = await apiKeysFor(srv.url, adminSession, 'Administrator');
  admin = tokenApp(adminKeys);
});

after(async () => {
  await srv?.stop();
});

describe('auth()', () => {
  test('loginWithUsernamePassword resolves with "Logged In"', async () => {
    const res = await new FrappeApp(srv.url).auth().loginWithUsernamePassword({
      username: 'Administrator',
      password: srv.adminPassword,
    });
    assert.equal(res.message, 'Logged In');
  });

  test('loginWithUsernamePassword with a wrong password rejects with 401', async () => {
    await rejectsWith(
      new FrappeApp(srv.url).auth().loginWithUsernamePassword({ username: 'Administrator', password: 'not-the-password' }),
      401,
    );
  });

  test('token auth: getLoggedInUser is Administrator', async () => {
    assert.equal(await admin.auth().getLoggedInUser(), 'Administrator');
  });

  test('token auth with a wrong secret or an unknown key rejects with 401', async () => {
    const wrongSecret = tokenApp({ api_key: adminKeys.api_key, api_secret: adminKeys.api_secret + 'x' });
    await rejectsWith(wrongSecret.auth().getLoggedInUser(), 401);
    const unknownKey = tokenApp({ api_key: 'no-such-key', api_secret: adminKeys.api_secret });
    await rejectsWith(unknownKey.auth().getLoggedInUser(), 401);
  });

  test('cookie session with the CSRF header can createDoc', async () => {
    const app = new FrappeApp(srv.url, undefined, undefined, {
      Cookie: adminSession.cookie,
      'X-Frappe-CSRF-Token': adminSession.csrf,
    });
    assert.equal(await app.auth().getLoggedInUser(), 'Administrator');
    const name = uniq('Cookie Customer');
    const c = await app.db().createDoc('Customer', { customer_name: name });
    assert.equal(c.name, name);
    assert.equal(c.owner, 'Administrator');
  });

  test('cookie session without the CSRF header gets 400 CSRFTokenError on createDoc', async () => {
    const app = new FrappeApp(srv.url, undefined, undefined, { Cookie: adminSession.cookie });
    const name = uniq('No CSRF Customer');
    await rejectsWith(app.db().createDoc('Customer', { customer_name: name }), 400, 'CSRFTokenError');
    // …and nothing was written
    assert.equal(await admin.db().getCount('Customer', [['name', '=', name]]), 0);
    // reads (GET) need no CSRF token
    assert.equal(await app.auth().getLoggedInUser(), 'Administrator');
  });
});

describe('db()', () => {
  test('createDoc Customer and Invoice: named, totals computed by the validate hook', async () => {
    const customer = await newCustomer(admin, { email: 'buyer@example.com' });
    assert.match(customer.name, new RegExp(`^Customer ${runId}-\\d+$`)); // autoname field:customer_name
    assert.equal(customer.email, 'buyer@example.com');
    assert.equal(customer.docstatus, 0);

    const inv = await newInvoice(customer.name, [
      { item: 'Widget', qty: 3, rate: 12.5 },
      { item: 'Gadget', qty: 2, rate: 7.25 },
    ]);
    assert.match(inv.name, /^INV-\d{5}$/);
    assert.equal(inv.doctype, 'Invoice');
    assert.equal(inv.customer, customer.name);
    assert.equal(inv.status, 'Draft');
    assert.equal(inv.docstatus, 0);
    assert.equal(inv.owner, 'Administrator');
    assert.equal(inv.total, 3 * 12.5 + 2 * 7.25);
    assert.deepEqual(
      inv.items.map((r) => [r.idx, r.item, r.qty, r.rate, r.amount, r.parent, r.parentfield, r.parenttype]),
      [
        [1, 'Widget', 3, 12.5, 37.5, inv.name, 'items', 'Invoice'],
        [2, 'Gadget', 2, 7.25, 14.5, inv.name, 'items', 'Invoice'],
      ],
    );

    const next = await newInvoice(customer.name);
    assert.match(next.name, /^INV-\d{5}$/);
    assert.equal(Number(next.name.slice(4)), Number(inv.name.slice(4)) + 1, 'the series counts up by one');
  });

  test('createDoc Invoice without its mandatory customer rejects with 417 MandatoryError', async () => {
    await rejectsWith(admin.db().createDoc('Invoice', { items: [{ item: 'X', qty: 1, rate: 1 }] }), 417, 'MandatoryError');
  });

  test('createDoc Invoice linking a missing Customer rejects with 417 LinkValidationError', async () => {
    await rejectsWith(newInvoice(uniq('Nobody')), 417, 'LinkValidationError');
  });

  test('getDoc returns the whole document with its child rows', async () => {
    const customer = await newCustomer();
    const created = await newInvoice(customer.name, [{ item: 'Bolt', qty: 4, rate: 2.5 }], admin, { remarks: 'first' });
    const got = await admin.db().getDoc('Invoice', created.name);
    assert.equal(got.name, created.name);
    assert.equal(got.customer, customer.name);
    assert.equal(got.remarks, 'first');
    assert.equal(got.total, 10);
    assert.equal(got.modified, created.modified);
    assert.equal(got.items.length, 1);
    assert.equal(got.items[0].item, 'Bolt');
    assert.equal(got.items[0].amount, 10);
  });

  test('getDoc of a missing document rejects with 404 DoesNotExistError', async () => {
    await rejectsWith(admin.db().getDoc('Invoice', 'INV-99999'), 404, 'DoesNotExistError');
  });

  test('updateDoc with a partial body changes only the given fields', async () => {
    const customer = await newCustomer();
    const created = await newInvoice(customer.name, [{ item: 'Nut', qty: 5, rate: 3 }]);
    const updated = await admin.db().updateDoc('Invoice', created.name, { remarks: 'call before delivery' });
    assert.equal(updated.name, created.name);
    assert.equal(updated.remarks, 'call before delivery');
    assert.equal(updated.customer, customer.name, 'fields not sent are kept');
    assert.equal(updated.items.length, 1, 'child rows not sent are kept');
    assert.equal(updated.total, 15);
    assert.notEqual(updated.modified, created.modified, 'modified moves on save');

    // changing the rows re-runs the validate hook
    const rows = await admin.db().updateDoc('Invoice', created.name, {
      items: [
        { item: 'Nut', qty: 5, rate: 3 },
        { item: 'Washer', qty: 10, rate: 0.5 },
      ],
    });
    assert.equal(rows.total, 20);
    assert.equal(rows.remarks, 'call before delivery');

    const got = await admin.db().getDoc('Invoice', created.name);
    assert.equal(got.total, 20);
    assert.deepEqual(got.items.map((r) => r.item), ['Nut', 'Washer']);
  });

  test('updateDoc with a stale modified rejects with 417 TimestampMismatchError', async () => {
    const customer = await newCustomer();
    const created = await newInvoice(customer.name);
    const first = await admin.db().updateDoc('Invoice', created.name, { remarks: 'saved by someone else' });
    assert.notEqual(first.modified, created.modified);

    await rejectsWith(
      admin.db().updateDoc('Invoice', created.name, { remarks: 'my stale edit', modified: created.modified }),
      417,
      'TimestampMismatchError',
    );
    const got = await admin.db().getDoc('Invoice', created.name);
    assert.equal(got.remarks, 'saved by someone else', 'the stale save changed nothing');

    // sending the current modified is fine
    const ok = await admin.db().updateDoc('Invoice', created.name, { remarks: 'fresh edit', modified: got.modified });
    assert.equal(ok.remarks, 'fresh edit');
  });

  describe('getDocList and getCount over one customer\'s 7 invoices', () => {
    let customer;
    let invoices; // as created, in creation order; invoice i has total (i+1)*10

    before(async () => {
      customer = (await newCustomer()).name;
      invoices = [];
      for (let i = 0; i < 7; i++) {
        invoices.push(await newInvoice(customer, [{ item: `Line ${i}`, qty: i + 1, rate: 10 }], admin, { remarks: `r${i}` }));
      }
    });

    test('fields are exactly the ones asked for', async () => {
      const rows = await admin.db().getDocList('Invoice', {
        fields: ['name', 'total', 'customer'],
        filters: [['customer', '=', customer]],
      });
      assert.equal(rows.length, 7);
      for (const r of rows) assert.deepEqual(Object.keys(r).sort(), ['customer', 'name', 'total']);
      assert.deepEqual(new Set(rows.map((r) => r.name)), new Set(invoices.map((d) => d.name)));
    });

    test('without fields, only name is returned', async () => {
      const rows = await admin.db().getDocList('Invoice', { filters: [['customer', '=', customer]] });
      assert.equal(rows.length, 7);
      for (const r of rows) assert.deepEqual(Object.keys(r), ['name']);
    });

    test('filters in list form and in object form agree', async () => {
      const list = await admin.db().getDocList('Invoice', {
        fields: ['name', 'total'],
        filters: [
          ['customer', '=', customer],
          ['total', '>', 40],
        ],
        orderBy: { field: 'total', order: 'asc' },
      });
      assert.deepEqual(list.map((r) => r.total), [50, 60, 70]);

      const obj = await admin.db().getDocList('Invoice', {
        fields: ['name', 'total'],
        filters: { customer, total: ['>', 40] },
        orderBy: { field: 'total', order: 'asc' },
      });
      assert.deepEqual(obj, list);

      const inList = await admin.db().getDocList('Invoice', {
        fields: ['name'],
        filters: [['name', 'in', [invoices[1].name, invoices[4].name]]],
        orderBy: { field: 'name', order: 'asc' },
      });
      assert.deepEqual(inList.map((r) => r.name), [invoices[1].name, invoices[4].name]);
    });

    test('orderBy, limit and limit_start page through without overlaps', async () => {
      const pages = [];
      for (let start = 0; start < 9; start += 3) {
        pages.push(
          await admin.db().getDocList('Invoice', {
            fields: ['name', 'total'],
            filters: [['customer', '=', customer]],
            orderBy: { field: 'total', order: 'desc' },
            limit: 3,
            limit_start: start,
          }),
        );
      }
      assert.deepEqual(pages.map((p) => p.length), [3, 3, 1]);
      const all = pages.flat();
      assert.equal(new Set(all.map((r) => r.name)).size, 7, 'no document on two pages');
      assert.deepEqual(all.map((r) => r.total), [70, 60, 50, 40, 30, 20, 10]);
      assert.deepEqual(all.map((r) => r.name), invoices.map((d) => d.name).reverse());

      const asc = await admin.db().getDocList('Invoice', {
        fields: ['name'],
        filters: [['customer', '=', customer]],
        orderBy: { field: 'total', order: 'asc' },
        limit: 2,
        limit_start: 5,
      });
      assert.deepEqual(asc.map((r) => r.name), [invoices[5].name, invoices[6].name]);
    });

    test('getCount with and without filters', async () => {
      const all = await admin.db().getCount('Invoice');
      assert.equal(typeof all, 'number');
      assert.ok(all >= 7, `count of all invoices is ${all}`);
      assert.equal(await admin.db().getCount('Invoice', [['customer', '=', customer]]), 7);
      assert.equal(
        await admin.db().getCount('Invoice', [
          ['customer', '=', customer],
          ['total', '>=', 30],
        ]),
        5,
      );
      assert.equal(await admin.db().getCount('Invoice', [['customer', '=', uniq('Nobody')]]), 0);
    });
  });

  test('getValue returns the asked fields of the first match', async () => {
    const customer = await newCustomer();
    const inv = await newInvoice(customer.name, [{ item: 'Cog', qty: 3, rate: 4 }], admin, { remarks: 'gv' });

    const one = await admin.db().getValue('Invoice', 'total', [['name', '=', inv.name]]);
    assert.deepEqual(one.message, { total: 12 });

    const two = await admin.db().getValue('Invoice', ['customer', 'remarks'], [['name', '=', inv.name]]);
    assert.deepEqual(two.message, { customer: customer.name, remarks: 'gv' });

    const byCustomer = await admin.db().getValue('Invoice', 'name', [['customer', '=', customer.name]]);
    assert.deepEqual(byCustomer.message, { name: inv.name });
  });

  test('setValue sets one field, or several from an object', async () => {
    const customer = await newCustomer();
    const inv = await newInvoice(customer.name);

    const one = await admin.db().setValue('Invoice', inv.name, 'remarks', 'set by setValue');
    assert.equal(one.message.name, inv.name);
    assert.equal(one.message.remarks, 'set by setValue');

    const many = await admin.db().setValue('Customer', customer.name, { email: 'set@example.com' });
    assert.equal(many.message.email, 'set@example.com');

    assert.equal((await admin.db().getDoc('Invoice', inv.name)).remarks, 'set by setValue');
    assert.equal((await admin.db().getDoc('Customer', customer.name)).email, 'set@example.com');
  });

  test('submit sets docstatus 1 and status Unpaid; cancel sets docstatus 2 and status Cancelled', async () => {
    const customer = await newCustomer();
    const inv = await newInvoice(customer.name, [{ item: 'Crate', qty: 1, rate: 99 }]);

    const submitted = await admin.db().submit(await admin.db().getDoc('Invoice', inv.name));
    assert.equal(submitted.name, inv.name);
    assert.equal(submitted.docstatus, 1);
    assert.equal(submitted.status, 'Unpaid', 'the before_submit hook sets Unpaid');
    assert.equal(submitted.total, 99);

    let got = await admin.db().getDoc('Invoice', inv.name);
    assert.equal(got.docstatus, 1);
    assert.equal(got.status, 'Unpaid');

    // allow_on_submit fields may change after submit; others may not
    const remarked = await admin.db().updateDoc('Invoice', inv.name, { remarks: 'paid by wire', status: 'Paid' });
    assert.equal(remarked.docstatus, 1);
    assert.equal(remarked.status, 'Paid');
    await rejectsWith(admin.db().updateDoc('Invoice', inv.name, { customer: (await newCustomer()).name }), 417, 'UpdateAfterSubmitError');

    await admin.db().cancel('Invoice', inv.name);
    got = await admin.db().getDoc('Invoice', inv.name);
    assert.equal(got.docstatus, 2);
    assert.equal(got.status, 'Cancelled', 'the before_cancel hook sets Cancelled');

    // a cancelled document cannot be cancelled again
    await rejectsWith(admin.db().cancel('Invoice', inv.name), 417);
  });

  test('cancel answers with the cancelled document, as frappe.client.cancel returns doc.as_dict()', async () => {
    const customer = await newCustomer();
    const inv = await newInvoice(customer.name);
    await admin.db().submit(await admin.db().getDoc('Invoice', inv.name));
    const res = await admin.db().cancel('Invoice', inv.name);
    assert.equal(res.message?.name, inv.name, `cancel answered ${JSON.stringify(res)}`);
    assert.equal(res.message.docstatus, 2);
    assert.equal(res.message.status, 'Cancelled');
  });

  test('renameDoc on a Customer: Invoice.customer links follow', async () => {
    const customer = await newCustomer();
    const inv = await newInvoice(customer.name);
    const newName = uniq('Renamed Customer');

    const res = await admin.db().renameDoc('Customer', customer.name, newName);
    assert.equal(res.message, newName);

    const renamed = await admin.db().getDoc('Customer', newName);
    assert.equal(renamed.name, newName);
    await rejectsWith(admin.db().getDoc('Customer', customer.name), 404, 'DoesNotExistError');

    const got = await admin.db().getDoc('Invoice', inv.name);
    assert.equal(got.customer, newName);
    const listed = await admin.db().getDocList('Invoice', { fields: ['name'], filters: [['customer', '=', newName]] });
    assert.deepEqual(listed.map((r) => r.name), [inv.name]);
    assert.equal(await admin.db().getCount('Invoice', [['customer', '=', customer.name]]), 0);
  });

  test('deleteDoc resolves {message: "ok"}; the document is then gone (404)', async () => {
    const customer = await newCustomer();
    const inv = await newInvoice(customer.name);

    // a Customer an Invoice links to cannot be deleted
    await rejectsWith(admin.db().deleteDoc('Customer', customer.name), 417, 'LinkExistsError');

    assert.deepEqual(await admin.db().deleteDoc('Invoice', inv.name), { message: 'ok' });
    await rejectsWith(admin.db().getDoc('Invoice', inv.name), 404, 'DoesNotExistError');

    assert.deepEqual(await admin.db().deleteDoc('Customer', customer.name), { message: 'ok' });
    await rejectsWith(admin.db().getDoc('Customer', customer.name), 404, 'DoesNotExistError');
    await rejectsWith(admin.db().deleteDoc('Customer', customer.name), 404, 'DoesNotExistError');
  });
});

describe('call()', () => {
  test('post examples.status.refresh_status', async () => {
    const customer = await newCustomer();
    const inv = await newInvoice(customer.name);
    const res = await admin.call().post('examples.status.refresh_status', { doc_type: 'Invoice', doc_name: inv.name });
    assert.deepEqual(res.message, { event: 'refresh_invoice', message: 'Invoice status refreshed!', doc_name: inv.name });
  });

  test('refresh_status of a missing document rejects with 404', async () => {
    await rejectsWith(
      admin.call().post('examples.status.refresh_status', { doc_type: 'Invoice', doc_name: 'INV-99998' }),
      404,
      'DoesNotExistError',
    );
  });

  test('get frappe.client.get_count, with and without filters', async () => {
    const customer = await newCustomer();
    await newInvoice(customer.name);
    await newInvoice(customer.name);
    const all = await admin.call().get('frappe.client.get_count', { doctype: 'Invoice' });
    assert.equal(all.message, await admin.db().getCount('Invoice'));
    assert.ok(all.message >= 2);
    const some = await admin.call().get('frappe.client.get_count', {
      doctype: 'Invoice',
      filters: { customer: customer.name },
    });
    assert.equal(some.message, 2);
  });

  test('an unknown method rejects with 404', async () => {
    await rejectsWith(admin.call().post('examples.status.no_such_method', {}), 404);
    await rejectsWith(admin.call().get('no.such.method'), 404);
  });
});

describe('file()', () => {
  test('uploadFile: a public file anyone downloads, a private one only with credentials', async () => {
    const customer = await newCustomer();
    const pub = await admin.file().uploadFile(new File(['hello from the sdk'], 'sdk-hello.txt'), {
      isPrivate: false,
      doctype: 'Customer',
      docname: customer.name,
    });
    const f = pub.data.message;
    assert.equal(f.doctype, 'File');
    assert.match(f.file_url, /^\/files\/sdk-hello/);
    assert.equal(f.attached_to_doctype, 'Customer');
    assert.equal(f.attached_to_name, customer.name);
    let res = await fetch(srv.url + f.file_url);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'hello from the sdk');
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');

    const priv = (await admin.file().uploadFile(new File(['for my eyes'], 'sdk-secret.txt'), { isPrivate: true })).data.message;
    assert.match(priv.file_url, /^\/private\/files\/sdk-secret/);
    res = await fetch(srv.url + priv.file_url);
    assert.equal(res.status, 403);
    await res.body?.cancel();
    res = await fetch(srv.url + priv.file_url, {
      headers: { Authorization: `token ${adminKeys.api_key}:${adminKeys.api_secret}` },
    });
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'for my eyes');

    // The attachment and a comment are in getdoc's docinfo.
    await admin.call().post('frappe.desk.form.utils.add_comment', {
      reference_doctype: 'Customer',
      reference_name: customer.name,
      content: 'nice customer',
      comment_email: 'admin@example.com',
      comment_by: 'Administrator',
    });
    const got = await admin.call().get('frappe.desk.form.load.getdoc', { doctype: 'Customer', name: customer.name });
    assert.equal(got.docs[0].name, customer.name);
    assert.deepEqual(got.docinfo.attachments.map((a) => a.file_url), [f.file_url]);
    assert.deepEqual(got.docinfo.comments.map((c) => c.content), ['nice customer']);
  });
});

describe('permissions', () => {
  let email; // a user with only the Sales User role
  let sales; // FrappeApp with that user's API token
  let own; // an invoice the Sales User created
  let others; // an invoice Administrator created
  let customer;

  before(async () => {
    email = `sales-${runId}-${++seq}@example.com`;
    const user = await admin.db().createDoc('User', {
      email,
      first_name: 'Sally',
      new_password: 'sales-pw-123456',
      roles: [{ role: 'Sales User' }],
    });
    assert.equal(user.name, email);
    assert.deepEqual(user.roles.map((r) => r.role), ['Sales User']);
    assert.notEqual(user.new_password, 'sales-pw-123456', 'the password is never echoed back');
    sales = tokenApp(await apiKeysFor(srv.url, adminSession, email));
    customer = (await newCustomer()).name;
    others = await newInvoice(customer);
  });

  test('the Sales User is who the token says', async () => {
    assert.equal(await sales.auth().getLoggedInUser(), email);
  });

  test('the Sales User can create invoices, owned by them', async () => {
    own = own ?? (await newInvoice(customer, [{ item: 'Sample', qty: 1, rate: 5 }], sales));
    assert.equal(own.owner, email);
    assert.equal(own.total, 5);
  });

  test('getDocList shows the Sales User only their own invoices', async () => {
    own = own ?? (await newInvoice(customer, [{ item: 'Sample', qty: 1, rate: 5 }], sales));
    const rows = await sales.db().getDocList('Invoice', { fields: ['name', 'owner'], limit: 1000 });
    assert.ok(rows.length >= 1);
    for (const r of rows) assert.equal(r.owner, email, `${r.name} belongs to ${r.owner}`);
    assert.ok(rows.some((r) => r.name === own.name));
    assert.ok(!rows.some((r) => r.name === others.name));
    assert.equal(await sales.db().getCount('Invoice'), rows.length);

    // Administrator sees both
    const adminRows = await admin.db().getDocList('Invoice', {
      fields: ['name'],
      filters: [['name', 'in', [own.name, others.name]]],
    });
    assert.equal(adminRows.length, 2);
  });

  test('another user\'s invoice: 403 on getDoc and updateDoc', async () => {
    await rejectsWith(sales.db().getDoc('Invoice', others.name), 403, 'PermissionError');
    await rejectsWith(sales.db().updateDoc('Invoice', others.name, { remarks: 'not mine' }), 403, 'PermissionError');
    assert.equal((await admin.db().getDoc('Invoice', others.name)).remarks ?? null, null);
  });

  test('own invoice: readable and writable, but no delete or submit right', async () => {
    own = own ?? (await newInvoice(customer, [{ item: 'Sample', qty: 1, rate: 5 }], sales));
    assert.equal((await sales.db().getDoc('Invoice', own.name)).name, own.name);
    const upd = await sales.db().updateDoc('Invoice', own.name, { remarks: 'mine' });
    assert.equal(upd.remarks, 'mine');
    await rejectsWith(sales.db().deleteDoc('Invoice', own.name), 403, 'PermissionError');
    await rejectsWith(sales.db().submit(await sales.db().getDoc('Invoice', own.name)), 403, 'PermissionError');
    assert.equal((await admin.db().getDoc('Invoice', own.name)).docstatus, 0);
  });

  test('Guest (no auth) gets 403', async () => {
    const guest = new FrappeApp(srv.url);
    await rejectsWith(guest.db().getDocList('Invoice'), 403, 'PermissionError');
    await rejectsWith(guest.db().getDoc('Invoice', others.name), 403, 'PermissionError');
    await rejectsWith(guest.db().createDoc('Customer', { customer_name: uniq('Guest Customer') }), 403, 'PermissionError');
    await rejectsWith(guest.call().get('frappe.client.get_count', { doctype: 'Invoice' }), 403, 'PermissionError');
    assert.equal(await guest.auth().getLoggedInUser().catch((e) => e.httpStatus), 403);
  });
});

describe('Server Scripts', () => {
  test('an API script through call(), and as Guest only with allow_guest', async () => {
    const method = `ld_hello_${runId.replace(/\W/g, '_')}`;
    await admin.db().createDoc('Server Script', {
      name: uniq('Hello Script'), script_type: 'API', api_method: method,
      script: "frappe.response['message'] = 'hello ' + (frappe.form_dict.who || frappe.session.user);",
    });
    assert.deepEqual(await admin.call().post(method, { who: 'sdk' }), { message: 'hello sdk' });
    const guest = new FrappeApp(srv.url);
    await rejectsWith(guest.call().get(method), 403);
    const open = `${method}_open`;
    await admin.db().createDoc('Server Script', {
      name: uniq('Open Script'), script_type: 'API', api_method: open, allow_guest: 1,
      script: "frappe.response['message'] = 'hi ' + frappe.session.user;",
    });
    assert.deepEqual(await guest.call().get(open), { message: 'hi Guest' });
  });

  test('a Before Save script vetoes a save with Frappe\u2019s error', async () => {
    const script = await admin.db().createDoc('Server Script', {
      name: uniq('Veto Script'), script_type: 'DocType Event', reference_doctype: 'Customer', doctype_event: 'Before Save',
      script: "if (doc.customer_name.includes('forbidden')) frappe.throw('No forbidden customers');",
    });
    try {
      await rejectsWith(newCustomer(admin, { customer_name: uniq('forbidden') }), 417, 'ValidationError');
      const ok = await newCustomer();
      assert.ok(ok.name);
    } finally {
      await admin.db().updateDoc('Server Script', script.name, { disabled: 1 });
    }
  });
});
