// depends_on, mandatory_depends_on, read_only_depends_on and collapsible_depends_on, evaluated
// with /assets/depends.js: the very file the server runs in goja (package expr), loaded by the
// page as a classic script (window.livedocDependsOn), so the desk and the server never disagree.

const warned = new Set();

/** Whether expression holds over doc (a child row's parent as parent); an empty one holds. */
export function holds(expression, doc, parent) {
  if (expression === null || expression === undefined || String(expression).trim() === '') return true;
  const rule = window.livedocDependsOn;
  if (typeof rule !== 'function') return true;
  try {
    return !!rule(expression, doc || {}, parent || null, { user: window.frappe_user, roles: window.user_roles || [] });
  } catch (err) {
    // A broken expression hides nothing (the server treats it as an error on save); say it once.
    if (!warned.has(expression)) {
      warned.add(expression);
      console.warn(`livedoc: cannot evaluate ${JSON.stringify(expression)}: ${err.message}`);
    }
    return true;
  }
}
