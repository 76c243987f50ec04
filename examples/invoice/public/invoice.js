// Client script for Invoice: the seed's Step 2 and Step 3, as written for Frappe.

// Listen for status updates
frappe.realtime.on("refresh_invoice", function(data) {
  if (cur_frm.doc.name === data.doc_name) { // rememper we sent doc_name as payload with the event
    cur_frm.reload_doc(); // Reload the document to reflect changes
  }
});

frappe.ui.form.on('Invoice', {
  after_save: function(frm) {
    frappe.call({
      method: 'your_app.utils.refresh_status',
      args: {
        doc_type: frm.doctype,
        doc_name: frm.docname
      }
    });
  }
});
