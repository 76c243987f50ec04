// Frappe's depends_on rule (depends_on, mandatory_depends_on, read_only_depends_on,
// collapsible_depends_on), written once: livedoc's server runs this file in goja (package expr)
// and the desk runs the same file in the browser, so the two never disagree.
//
// An expression is a field name (true when the field has a value: a non-empty table, a non-zero
// number, non-empty text), or "eval:" and JavaScript over doc (and parent, for a child row's
// field), or "fn:" and a form method, which only the browser can run (true elsewhere). An empty
// expression holds.
(function (root) {
  'use strict';

  function truthy(v) {
    return Array.isArray(v) ? v.length > 0 : !!v;
  }

  var compiled = Object.create(null);

  function compile(code) {
    var fn = compiled[code];
    if (!fn) {
      // eslint-disable-next-line no-new-func
      fn = new Function('doc', 'parent', 'frappe', 'in_list', '"use strict"; return (' + code + '\n);');
      compiled[code] = fn;
    }
    return fn;
  }

  function inList(list, item) {
    return Array.isArray(list) && list.indexOf(item) >= 0;
  }

  // holds evaluates expression over doc; ctx gives frappe's globals an expression may use
  // (frappe.session.user, frappe.user_roles).
  function holds(expression, doc, parent, ctx) {
    var e = expression == null ? '' : String(expression).trim();
    if (e === '') return true;
    if (e.indexOf('eval:') === 0) {
      var user = (ctx && ctx.user) || 'Guest';
      var roles = (ctx && ctx.roles) || [];
      var frappe = {
        session: { user: user },
        user_roles: roles,
        user: { name: user, has_role: function (r) { return roles.indexOf(r) >= 0; } },
      };
      return truthy(compile(e.slice(5))(doc || {}, parent || {}, frappe, inList));
    }
    if (e.indexOf('fn:') === 0) return true;
    return truthy((doc || {})[e]);
  }

  root.livedocDependsOn = holds;
})(typeof globalThis !== 'undefined' ? globalThis : this);
