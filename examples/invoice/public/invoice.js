// Client script for Invoice, the seed's Step 3: after a save, ask the server to tell every other
// open form of this document to reload.
frappe.ui.form.on('Invoice', {
  after_save: function (frm) {
    frappe.call({
      method: 'examples.status.refresh_status',
      args: {
        doc_type: frm.doctype,
        doc_name: frm.docname
      }
    });
  }
});
