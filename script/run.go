package script

import (
	"context"
	"errors"
	"fmt"
	"runtime/metrics"
	"time"

	"github.com/dop251/goja"
	"github.com/livedoc/livedoc/doc"
)

// ServerScriptError is the exc_type of a script that failed by itself — an exception it did not
// catch, or a limit it ran into — as opposed to a frappe.throw, which keeps the type it names.
const ServerScriptError = "ServerScriptError"

// runArgs is what one run gets, by script type.
type runArgs struct {
	doc  doc.Doc        // DocType Event
	form map[string]any // API (frappe.form_dict), and enqueued or scheduled runs
	user string         // Permission Query (Frappe's `user` local)
	task string         // the job's id, for publish_progress with no task_id
}

// result is what a run leaves behind.
type result struct {
	message any          // frappe.response.message (API)
	filters []doc.Filter // Permission Query
}

// memCheckEvery is how often a run's heap growth is looked at.
const memCheckEvery = 5 * time.Millisecond

// maxCallStack bounds recursion, which would otherwise grow the Go stack without limit.
const maxCallStack = 2000

// run runs sc in a runtime of its own (nothing a run leaves in globals reaches the next, as Frappe
// gives each exec fresh globals), bounded by timeout and the memory limit.
func (s *Service) run(c *doc.Context, sc *Script, timeout time.Duration, a runArgs) (*result, error) {
	rt := goja.New()
	rt.SetMaxCallStackSize(maxCallStack)
	r := &run{s: s, c: c, rt: rt, sc: sc, args: a}
	if err := r.install(); err != nil {
		return nil, err
	}
	fnv, err := rt.RunProgram(sc.prog)
	if err != nil {
		return nil, s.scriptError(sc, err)
	}
	fn, _ := goja.AssertFunction(fnv)
	stop := s.watch(c, rt, timeout)
	var docv, userv goja.Value = goja.Undefined(), goja.Undefined()
	if a.doc != nil {
		docv = r.docValue(a.doc)
	}
	if a.user != "" {
		userv = rt.ToValue(a.user)
	}
	out, err := fn(goja.Undefined(), docv, userv)
	stop()
	if err != nil {
		return nil, s.scriptError(sc, err)
	}
	res := &result{}
	if sc.Type == TypePermission {
		if res.filters, err = permissionFilters(sc, out); err != nil {
			return nil, err
		}
	}
	if m := r.response.Get("message"); m != nil && !goja.IsUndefined(m) {
		res.message = fromJS(m)
	}
	return res, nil
}

// limitError is why a run was interrupted.
type limitError struct{ why string }

func (l *limitError) Error() string { return l.why }

// watch interrupts rt when the run outlasts timeout, the request is cancelled, or the heap grows
// by more than the memory limit; the returned func ends the watch.
func (s *Service) watch(ctx context.Context, rt *goja.Runtime, timeout time.Duration) func() {
	done := make(chan struct{})
	start := heapBytes()
	go func() {
		deadline := time.NewTimer(timeout)
		defer deadline.Stop()
		tick := time.NewTicker(memCheckEvery)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-deadline.C:
				rt.Interrupt(&limitError{fmt.Sprintf("ran longer than its limit of %s", timeout)})
				return
			case <-ctx.Done():
				rt.Interrupt(&limitError{"was cancelled: " + ctx.Err().Error()})
				return
			case <-tick.C:
				if h := heapBytes(); h > start && h-start > s.opts.MemoryLimit {
					rt.Interrupt(&limitError{fmt.Sprintf("used more than its memory limit of %d MiB", s.opts.MemoryLimit>>20)})
					return
				}
			}
		}
	}()
	return func() { close(done) }
}

// heapBytes is the memory taken by heap objects, live or not yet swept: the whole process's, so
// the limit is a guard against a runaway script rather than an exact account of one run.
func heapBytes() uint64 {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(sample)
	if sample[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return sample[0].Value.Uint64()
}

// scriptError turns what a run threw into an error in Frappe's shape: a frappe.throw (or a failed
// API call) keeps its type and message; anything else is a ServerScriptError naming the script
// and where it stopped.
func (s *Service) scriptError(sc *Script, err error) error {
	var ie *goja.InterruptedError
	if errors.As(err, &ie) {
		why := fmt.Sprint(ie.Value())
		return doc.Errorf(ServerScriptError, "Server Script %s %s, stopped at %s", sc.Name, why, position(sc, ie.Stack()))
	}
	var ex *goja.Exception
	if errors.As(err, &ex) {
		if inner := ex.Unwrap(); inner != nil {
			return inner
		}
		msg := "an exception"
		if v := ex.Value(); v != nil {
			msg = v.String()
		}
		return doc.Errorf(ServerScriptError, "Server Script %s: %s at %s", sc.Name, msg, position(sc, ex.Stack()))
	}
	var so *goja.StackOverflowError
	if errors.As(err, &so) {
		return doc.Errorf(ServerScriptError, "Server Script %s: too much recursion", sc.Name)
	}
	return err
}

// position is the innermost place in the script's own source a stack passes: "name:line:col".
func position(sc *Script, stack []goja.StackFrame) string {
	for _, f := range stack {
		if p := f.Position(); p.Filename == sc.Name && p.Line > 0 {
			return fmt.Sprintf("%s:%d:%d", sc.Name, p.Line, p.Column)
		}
	}
	return sc.Name
}

// permissionFilters reads what a Permission Query set: filters in Frappe's list form (or
// returned). Frappe's conditions are SQL, which livedoc does not take: such a script is refused.
func permissionFilters(sc *Script, out goja.Value) ([]doc.Filter, error) {
	var v any
	if o, ok := out.(*goja.Object); ok {
		if o.ClassName() == "Array" {
			v = o.Export()
		} else {
			if c := o.Get("conditions"); c != nil && !goja.IsUndefined(c) && !goja.IsNull(c) && c.String() != "" {
				return nil, doc.Errorf(ServerScriptError, "Server Script %s sets conditions (SQL): set filters instead, e.g. filters = [[\"owner\", \"=\", user]]", sc.Name)
			}
			if f := o.Get("filters"); f != nil && !goja.IsUndefined(f) && !goja.IsNull(f) {
				v = f.Export()
			}
		}
	}
	if v == nil {
		return nil, nil
	}
	fs, err := doc.ParseFilters(v)
	if err != nil {
		return nil, doc.Errorf(ServerScriptError, "Server Script %s: %s", sc.Name, err.Error())
	}
	return fs, nil
}
