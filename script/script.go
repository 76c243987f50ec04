// Package script runs Server Scripts: JavaScript that System Managers save as documents (or ship
// in an app folder) and that livedoc runs where Frappe runs its restricted-Python ones — at the
// points of the save pipeline where Go hooks run, in the same transaction (DocType Event), at
// /api/method/<api_method> (API), as extra list filters per user (Permission Query), and on a
// schedule (Scheduler Event). A saved script takes effect on every node without a restart: the
// node that saves it reloads after the commit, the others when their realtime fan-out passes the
// Server Script's list_update, before any later event. See docs/scripts.md.
package script

import (
	"context"
	_ "embed"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dop251/goja"
	"github.com/livedoc/livedoc/api"
	"github.com/livedoc/livedoc/doc"
	"github.com/livedoc/livedoc/jobs"
	"github.com/livedoc/livedoc/realtime"
)

// DocType is the Server Script DocType's name.
const DocType = "Server Script"

// serverScriptJSON is the DocType, in Frappe's export shape (Frappe's fields but for rate limits
// and the help HTML; the events it lists are the ones livedoc runs).
//
//go:embed server_script.json
var serverScriptJSON []byte

// Script types.
const (
	TypeDocEvent   = "DocType Event"
	TypeAPI        = "API"
	TypePermission = "Permission Query"
	TypeScheduler  = "Scheduler Event"
)

// EventMap is Frappe's server_script_utils.EVENT_MAP the other way round: a doctype_event label
// to the engine event it runs at. "Before Save" is validate, as in Frappe.
var EventMap = map[string]string{
	"Before Insert":                    doc.BeforeInsert,
	"After Insert":                     doc.AfterInsert,
	"Before Validate":                  doc.BeforeValidate,
	"Before Save":                      doc.Validate,
	"After Save":                       doc.OnUpdate,
	"Before Rename":                    doc.BeforeRename,
	"After Rename":                     doc.AfterRename,
	"Before Submit":                    doc.BeforeSubmit,
	"After Submit":                     doc.OnSubmit,
	"Before Cancel":                    doc.BeforeCancel,
	"After Cancel":                     doc.OnCancel,
	"Before Delete":                    doc.OnTrash,
	"After Delete":                     doc.AfterDelete,
	"Before Save (Submitted Document)": doc.BeforeUpdateAfterSubmit,
	"After Save (Submitted Document)":  doc.OnUpdateAfterSubmit,
}

// Options configure the Service.
type Options struct {
	// Timeout bounds one run of a DocType Event, API or Permission Query script (a Scheduler
	// Event's, or one enqueued, has its job's timeout); default 5 s.
	Timeout time.Duration
	// MemoryLimit is how far the Go heap may grow during a run before it is interrupted; default
	// 256 MiB. See memory.go for what that does and does not bound.
	MemoryLimit uint64
	Logger      *slog.Logger
}

// Service loads, caches and runs the Server Scripts of one node.
type Service struct {
	e    *doc.Engine
	hub  *realtime.Hub
	api  *api.Server
	jobs *jobs.Queue
	opts Options
	log  *slog.Logger

	cur      atomic.Pointer[scripts]
	reloadMu sync.Mutex
	progMu   sync.Mutex
	progs    map[string]*compiled // by script name
}

// Script is one enabled Server Script, compiled.
type Script struct {
	Name           string
	Type           string
	DocType        string // reference_doctype
	Event          string // the engine event of doctype_event
	APIMethod      string
	AllowGuest     bool
	EventFrequency string
	CronFormat     string
	Source         string
	prog           *goja.Program
}

type hookKey struct{ doctype, event string }

// scripts is the enabled scripts, indexed the ways they are looked up; replaced whole on reload.
type scripts struct {
	byEvent    map[hookKey][]*Script
	api        map[string]*Script
	permission map[string]*Script
	scheduled  []*Script
}

// New installs the Server Script DocType and hooks into e, API scripts into a, and loads the
// enabled scripts.
func New(ctx context.Context, e *doc.Engine, hub *realtime.Hub, a *api.Server, q *jobs.Queue, opts Options) (*Service, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	if opts.MemoryLimit == 0 {
		opts.MemoryLimit = 256 << 20
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &Service{e: e, hub: hub, api: a, jobs: q, opts: opts, log: opts.Logger, progs: map[string]*compiled{}}
	s.cur.Store(&scripts{})
	dt, err := doc.ParseDocType(serverScriptJSON)
	if err != nil {
		return nil, err
	}
	if err := e.Run(ctx, doc.AdminUser, true, func(c *doc.Context) error { return c.Sudo().Sync(dt) }); err != nil {
		return nil, fmt.Errorf("the Server Script DocType: %w", err)
	}
	seen := map[string]bool{}
	for _, ev := range EventMap {
		if !seen[ev] {
			seen[ev] = true
			e.On("*", ev, s.docHook(ev))
		}
	}
	e.On(DocType, doc.Validate, s.validate)
	changed := func(c *doc.Context, d doc.Doc) error {
		c.AfterCommit(s.reloadLogged) // this node at once; the others through Watch
		return nil
	}
	for _, ev := range []string{doc.OnUpdate, doc.AfterDelete, doc.AfterRename} {
		e.On(DocType, ev, changed)
	}
	hub.Watch(DocType, func(string) { s.reloadLogged() })
	a.SetMethodSource(s.method)
	q.SetResolver(s.jobHandler)
	if err := s.Reload(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// Reload reads the enabled scripts from the database and installs them: hooks, API methods,
// row filters and scheduled events all switch to the new set at once.
func (s *Service) Reload(ctx context.Context) error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	var rows []doc.Doc
	err := s.e.Run(ctx, doc.AdminUser, false, func(c *doc.Context) (err error) {
		rows, err = c.Sudo().List(DocType, doc.Query{Fields: []string{"*"}, OrderBy: "name asc",
			Filters: []doc.Filter{{Field: "disabled", Op: "=", Value: int64(0)}}})
		return err
	})
	if err != nil {
		return err
	}
	next := &scripts{byEvent: map[hookKey][]*Script{}, api: map[string]*Script{}, permission: map[string]*Script{}}
	live := map[string]bool{}
	for _, d := range rows {
		sc := fromDoc(d)
		live[sc.Name] = true
		if sc.prog, err = s.compile(sc); err != nil {
			s.log.Error("server script does not compile: not run", "script", sc.Name, "err", err)
			continue
		}
		switch sc.Type {
		case TypeDocEvent:
			k := hookKey{sc.DocType, sc.Event}
			next.byEvent[k] = append(next.byEvent[k], sc)
		case TypeAPI:
			next.api[sc.APIMethod] = sc
		case TypePermission:
			next.permission[sc.DocType] = sc // one per DocType, the last by name, as Frappe's map
		case TypeScheduler:
			next.scheduled = append(next.scheduled, sc)
		}
	}
	s.forget(live)
	prev := s.cur.Swap(next)
	for dt := range prev.permission {
		if next.permission[dt] == nil {
			s.e.SetRowFilter(dt, nil)
		}
	}
	for dt := range next.permission {
		s.e.SetRowFilter(dt, s.rowFilter)
	}
	return s.schedule(next.scheduled)
}

func (s *Service) reloadLogged() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Reload(ctx); err != nil {
		s.log.Error("reloading server scripts", "err", err)
	}
}

func fromDoc(d doc.Doc) *Script {
	return &Script{Name: d.Name(), Type: d.String("script_type"), DocType: d.String("reference_doctype"),
		Event: EventMap[d.String("doctype_event")], APIMethod: d.String("api_method"), AllowGuest: d.Int("allow_guest") == 1,
		EventFrequency: d.String("event_frequency"), CronFormat: d.String("cron_format"), Source: d.String("script")}
}

// docHook runs the DocType Event scripts of one engine event, in name order.
func (s *Service) docHook(event string) doc.Hook {
	return func(c *doc.Context, d doc.Doc) error {
		for _, sc := range s.cur.Load().byEvent[hookKey{d.DocType(), event}] {
			if _, err := s.run(c, sc, s.opts.Timeout, runArgs{doc: d}); err != nil {
				return err
			}
		}
		return nil
	}
}

// method serves an API script at /api/method/<api_method>: GET runs it read-only, POST in a
// transaction that commits, as every method.
func (s *Service) method(name string) (api.Method, api.MethodOptions, bool) {
	sc := s.cur.Load().api[name]
	if sc == nil {
		return nil, api.MethodOptions{}, false
	}
	fn := func(c *doc.Context, args api.Args) (any, error) {
		res, err := s.run(c, sc, s.opts.Timeout, runArgs{form: args})
		if err != nil {
			return nil, err
		}
		return res.message, nil
	}
	return fn, api.MethodOptions{AllowGuest: sc.AllowGuest, Methods: []string{"GET", "POST"}}, true
}

// rowFilter is the row filter of every DocType with a Permission Query script: the filters the
// script sets for the context's user.
func (s *Service) rowFilter(c *doc.Context, dt *doc.DocType) ([]doc.Filter, error) {
	sc := s.cur.Load().permission[dt.Name]
	if sc == nil {
		return nil, nil
	}
	res, err := s.run(c, sc, s.opts.Timeout, runArgs{user: c.User.Name})
	if err != nil {
		return nil, err
	}
	return res.filters, nil
}

// validate checks a Server Script before it is stored: the fields its type needs, a known event,
// an API method that no Go method has, a schedule that parses, and a script that compiles.
func (s *Service) validate(c *doc.Context, d doc.Doc) error {
	sc := fromDoc(d)
	switch sc.Type {
	case TypeDocEvent, TypePermission:
		if _, err := c.Meta(sc.DocType); err != nil {
			return doc.Errorf(doc.ValidationError, "Reference Document Type %q does not exist", sc.DocType)
		}
		if sc.Type == TypeDocEvent && sc.Event == "" {
			return doc.Errorf(doc.ValidationError, "DocType Event %q is not one livedoc runs", d.String("doctype_event"))
		}
	case TypeAPI:
		if sc.APIMethod == "" {
			return doc.Errorf(doc.MandatoryError, "API Method is required")
		}
		if s.api.HasMethod(sc.APIMethod) {
			return doc.Errorf(doc.ValidationError, "API Method %s is already a method of the server", sc.APIMethod)
		}
	case TypeScheduler:
		if _, err := schedule(sc); err != nil {
			return err
		}
	}
	if _, err := compile(sc); err != nil {
		return doc.Errorf(doc.ValidationError, "%s", err.Error())
	}
	return nil
}
