package script

import (
	"fmt"
	"slices"

	"github.com/dop251/goja"
	"github.com/livedoc/livedoc/doc"
	"github.com/livedoc/livedoc/jobs"
	"github.com/livedoc/livedoc/realtime"
)

// run is one execution of a script: its runtime, its transaction and what it was given. The
// frappe object's functions close over it.
type run struct {
	s        *Service
	c        *doc.Context
	rt       *goja.Runtime
	sc       *Script
	args     runArgs
	response *goja.Object
}

// errorTypes are the exception classes a script may name in frappe.throw (frappe.PermissionError
// and so on are their names).
var errorTypes = []string{doc.ValidationError, doc.MandatoryError, doc.LinkValidationError, doc.PermissionError,
	doc.DoesNotExistError, doc.DuplicateEntryError, doc.DataError, doc.TimestampMismatchError}

// install puts frappe, Frappe's server-script API with JavaScript spelling, in the runtime. Each
// call goes through the run's context: the same transaction, as the session user.
func (r *run) install() error {
	rt := r.rt
	f := rt.NewObject()
	r.response = rt.NewObject()
	form := r.args.form
	if form == nil {
		form = map[string]any{}
	}
	session := rt.NewObject()
	_ = session.Set("user", r.c.User.Name)
	set := func(o *goja.Object, name string, v any) { _ = o.Set(name, v) }
	set(f, "session", session)
	set(f, "form_dict", rt.ToValue(form))
	set(f, "response", r.response)
	for _, t := range errorTypes {
		set(f, t, t)
	}
	set(f, "throw", r.throw)
	set(f, "msgprint", r.msgprint)
	set(f, "get_doc", r.getDoc)
	set(f, "new_doc", func(doctype string) goja.Value { return r.docValue(doc.Doc{"doctype": doctype}) })
	set(f, "get_list", func(doctype string, opts map[string]any) goja.Value { return r.list(r.c, doctype, opts) })
	set(f, "get_all", func(doctype string, opts map[string]any) goja.Value { return r.list(r.c.Sudo(), doctype, opts) })
	set(f, "publish_realtime", r.publishRealtime)
	set(f, "publish_progress", r.publishProgress)
	set(f, "enqueue", r.enqueue)
	set(f, "db", r.db())
	set(f, "utils", r.utils())
	return rt.Set("frappe", f)
}

// fail throws err into the script: a frappe.throw, or a failed call, which the script may catch
// and which otherwise ends the run with err (scriptError unwraps it).
func (r *run) fail(err error) { panic(r.rt.NewGoError(err)) }

func (r *run) must(err error) {
	if err != nil {
		r.fail(err)
	}
}

// throw is frappe.throw(msg, exc?, title?): exc is an exception class name (frappe.PermissionError).
func (r *run) throw(call goja.FunctionCall) goja.Value {
	typ := doc.ValidationError
	if e := call.Argument(1); !goja.IsUndefined(e) && !goja.IsNull(e) && slices.Contains(errorTypes, e.String()) {
		typ = e.String()
	}
	r.fail(&doc.Error{Type: typ, Message: call.Argument(0).String()})
	return nil
}

// msgprint is frappe.msgprint(msg, title? | {title, indicator}): shown to the session user once
// the transaction commits.
func (r *run) msgprint(call goja.FunctionCall) goja.Value {
	title, indicator := "", ""
	switch o := fromJS(call.Argument(1)).(type) {
	case string:
		title = o
	case map[string]any:
		title, _ = o["title"].(string)
		indicator, _ = o["indicator"].(string)
	}
	r.must(r.s.hub.Msgprint(r.c, call.Argument(0).String(), title, indicator, ""))
	return goja.Undefined()
}

// getDoc is frappe.get_doc(doctype, name) — read without a permission check, as Frappe's — or
// frappe.get_doc({doctype, ...}): a new document, not yet inserted.
func (r *run) getDoc(call goja.FunctionCall) goja.Value {
	if m, ok := fromJS(call.Argument(0)).(map[string]any); ok {
		return r.docValue(toDoc(m))
	}
	d, err := r.c.Sudo().Get(call.Argument(0).String(), call.Argument(1).String())
	r.must(err)
	return r.docValue(d)
}

// list is get_list (as the user) and get_all (without permission checks): opts are Frappe's
// keyword arguments — fields, filters, or_filters, order_by, start/limit_start,
// limit/page_length/limit_page_length, pluck.
func (r *run) list(c *doc.Context, doctype string, opts map[string]any) goja.Value {
	q := doc.Query{Fields: []string{"name"}}
	var err error
	if fs, ok := opts["fields"].([]any); ok {
		q.Fields = q.Fields[:0]
		for _, f := range fs {
			q.Fields = append(q.Fields, fmt.Sprint(f))
		}
	}
	pluck, _ := opts["pluck"].(string)
	if pluck != "" {
		q.Fields = []string{pluck}
	}
	if q.Filters, err = doc.ParseFilters(opts["filters"]); err != nil {
		r.fail(err)
	}
	if q.OrFilters, err = doc.ParseFilters(opts["or_filters"]); err != nil {
		r.fail(err)
	}
	q.OrderBy, _ = opts["order_by"].(string)
	for _, k := range []string{"start", "limit_start"} {
		if n, ok := opts[k].(int64); ok {
			q.Start = int(n)
		}
	}
	for _, k := range []string{"limit", "page_length", "limit_page_length"} {
		if n, ok := opts[k].(int64); ok {
			q.Limit = int(n)
		}
	}
	rows, err := c.List(doctype, q)
	r.must(err)
	out := make([]any, len(rows))
	for i, d := range rows {
		if pluck != "" {
			out[i] = d[pluck]
		} else {
			out[i] = map[string]any(d)
		}
	}
	return r.rt.ToValue(out)
}

// target reads Frappe's publish keywords: room, user, doctype, docname, task_id.
func target(o map[string]any) realtime.Target {
	s := func(k string) string { v, _ := o[k].(string); return v }
	return realtime.Target{Room: s("room"), User: s("user"), DocType: s("doctype"), DocName: s("docname"), TaskID: s("task_id")}
}

// publishRealtime is frappe.publish_realtime(event, message, {room, user, doctype, docname,
// task_id, after_commit}).
func (r *run) publishRealtime(event string, message goja.Value, opts map[string]any) {
	after, _ := opts["after_commit"].(bool)
	r.must(r.s.hub.Publish(r.c, event, fromJS(message), target(opts), after))
}

// publishProgress is frappe.publish_progress(percent, {title, description, doctype, docname,
// task_id}); in a job the task is the job's own unless named.
func (r *run) publishProgress(percent float64, opts map[string]any) {
	t := target(opts)
	if t.TaskID == "" && t.DocName == "" {
		t.TaskID = r.args.task
	}
	title, _ := opts["title"].(string)
	desc, _ := opts["description"].(string)
	r.must(r.s.hub.PublishProgress(r.c, percent, title, desc, t))
}

// enqueue is frappe.enqueue(method, {queue, timeout, job_id, at_front, ...kwargs}): method is a Go
// job or an API Server Script's api_method; the rest of the object are its arguments. It returns
// the job's id; the job runs after this transaction commits, as the session user.
func (r *run) enqueue(method string, opts map[string]any) string {
	o := jobs.Options{}
	args := map[string]any{}
	for k, v := range opts {
		switch k {
		case "queue":
			o.Queue, _ = v.(string)
		case "timeout":
			if n, ok := v.(int64); ok {
				o.Timeout = secondsOf(n)
			}
		case "job_id", "job_name":
			o.JobID, _ = v.(string)
		case "at_front":
			o.AtFront, _ = v.(bool)
		case "enqueue_after_commit", "now", "is_async", "deduplicate":
		default:
			args[k] = v
		}
	}
	id, err := r.s.jobs.Enqueue(r.c, method, args, o)
	r.must(err)
	return id
}
