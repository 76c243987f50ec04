// Package expr evaluates Frappe's depends_on expressions — depends_on, mandatory_depends_on,
// read_only_depends_on: a field name, or "eval:" JavaScript over the document. The rule is written
// once, in JavaScript (depends.js): the server runs it in goja, an embeddable ECMAScript engine in
// pure Go (no cgo, maintained, the usual choice for JavaScript in Go), and the desk loads the same
// file in the browser, so the server and the form never disagree about a field.
package expr

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/dop251/goja"
)

// Source is depends.js, served to the desk as it is.
//
//go:embed depends.js
var Source []byte

// Context is who an expression is evaluated for (frappe.session.user, frappe.user_roles).
type Context struct {
	User  string
	Roles []string
}

// timeout bounds one evaluation: an expression is a condition, and one that loops must not hold
// up a save.
const timeout = 100 * time.Millisecond

type vm struct {
	rt    *goja.Runtime
	holds goja.Callable
}

// A goja runtime serves one goroutine at a time; runtimes are reused, since making one and
// loading depends.js costs far more than an evaluation.
var pool = sync.Pool{New: func() any {
	rt := goja.New()
	if _, err := rt.RunScript("depends.js", string(Source)); err != nil {
		panic(fmt.Sprintf("expr: depends.js: %v", err)) // embedded: a programming error
	}
	holds, ok := goja.AssertFunction(rt.Get("livedocDependsOn"))
	if !ok {
		panic("expr: depends.js defines no livedocDependsOn")
	}
	return &vm{rt: rt, holds: holds}
}}

// Holds reports whether expression holds for doc (and parent, for a child row). doc and parent
// are JSON-like values (maps, slices, strings, numbers, bools, nil). An expression that throws or
// runs too long is an error.
func Holds(expression string, doc, parent map[string]any, ctx Context) (ok bool, err error) {
	if expression == "" {
		return true, nil
	}
	v := pool.Get().(*vm)
	timer := time.AfterFunc(timeout, func() { v.rt.Interrupt("timeout") })
	defer func() {
		timer.Stop()
		v.rt.ClearInterrupt()
		if p := recover(); p != nil {
			err = fmt.Errorf("%q: %v", expression, p)
		}
		pool.Put(v)
	}()
	jsDoc, err := plain(doc)
	if err != nil {
		return false, err
	}
	jsParent, err := plain(parent)
	if err != nil {
		return false, err
	}
	roles := ctx.Roles
	if roles == nil {
		roles = []string{}
	}
	res, err := v.holds(goja.Undefined(), v.rt.ToValue(expression), v.rt.ToValue(jsDoc), v.rt.ToValue(jsParent),
		v.rt.ToValue(map[string]any{"user": ctx.User, "roles": roles}))
	if err != nil {
		return false, fmt.Errorf("%q: %v", expression, err)
	}
	return res.ToBoolean(), nil
}

// plain turns a document into JSON values, so that the script sees what the browser would: plain
// objects and arrays, numbers as numbers.
func plain(m map[string]any) (any, error) {
	if m == nil {
		return map[string]any{}, nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	var out any
	err = json.Unmarshal(b, &out)
	return out, err
}
