// Package doc holds DocTypes, documents and their lifecycle: the pipeline every insert, save,
// submit, cancel and delete goes through.
//
// A write runs as
//
//	Engine.Run: begin transaction
//	  → Context.Insert/Save/...: permission → hooks in Frappe's order → validation → write
//	  → before-commit work (the realtime event log appends here, in the same transaction)
//	  → commit
//	  → after-commit queue (fan-out), which never runs when anything above failed.
package doc

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/livedoc/livedoc/store"
)

// Engine holds the DocTypes and hooks and runs operations on documents.
type Engine struct {
	db  *store.DB
	log *slog.Logger

	mu    sync.RWMutex
	types map[string]*DocType
	hooks map[hookKey][]Hook
	// beforeCommit runs inside every write transaction that did something, right before COMMIT.
	beforeCommit []func(*Context) error
	rowFilters   map[string]RowFilter // by DocType (rowfilter.go)
	bytewise     atomic.Int32         // whether the database orders text as bytes: 0 not known yet, 1 yes, 2 no (livematch.go)
}

// Hook is a function run at one point of a document's life. Returning an error aborts the whole
// operation: the transaction rolls back and the after-commit queue is dropped.
type Hook func(c *Context, d Doc) error

type hookKey struct{ doctype, event string }

// Lifecycle events, in Frappe's names.
const (
	BeforeInsert            = "before_insert"
	Autoname                = "autoname"
	BeforeValidate          = "before_validate"
	Validate                = "validate"
	BeforeSave              = "before_save"
	BeforeSubmit            = "before_submit"
	AfterInsert             = "after_insert"
	OnUpdate                = "on_update"
	OnSubmit                = "on_submit"
	OnChange                = "on_change"
	BeforeUpdateAfterSubmit = "before_update_after_submit"
	OnUpdateAfterSubmit     = "on_update_after_submit"
	BeforeCancel            = "before_cancel"
	OnCancel                = "on_cancel"
	OnTrash                 = "on_trash"
	AfterDelete             = "after_delete"
	BeforeRename            = "before_rename"
	AfterRename             = "after_rename"
)

var events = []string{BeforeInsert, Autoname, BeforeValidate, Validate, BeforeSave, BeforeSubmit,
	AfterInsert, OnUpdate, OnSubmit, OnChange, BeforeUpdateAfterSubmit, OnUpdateAfterSubmit,
	BeforeCancel, OnCancel, OnTrash, AfterDelete, BeforeRename, AfterRename}

// NewEngine opens the engine on db: it creates the core DocTypes' tables and loads every DocType
// stored in the database.
func NewEngine(ctx context.Context, db *store.DB, log *slog.Logger) (*Engine, error) {
	if log == nil {
		log = slog.Default()
	}
	e := &Engine{db: db, log: log, types: map[string]*DocType{}, hooks: map[hookKey][]Hook{}}
	if err := e.bootstrap(ctx); err != nil {
		return nil, err
	}
	return e, nil
}

// DB is the engine's database.
func (e *Engine) DB() *store.DB { return e.db }

// On registers a hook for a DocType, or for every DocType with "*". Per event the DocType's own
// hooks run before the "*" hooks, each in registration order.
func (e *Engine) On(doctype, event string, h Hook) {
	if !slices.Contains(events, event) {
		panic(fmt.Sprintf("doc: unknown hook event %q", event)) // a programming error at start-up
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	k := hookKey{doctype, event}
	e.hooks[k] = append(e.hooks[k], h)
}

// BeforeCommit registers work that runs inside every write transaction just before it commits.
func (e *Engine) BeforeCommit(fn func(*Context) error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.beforeCommit = append(e.beforeCommit, fn)
}

// Meta returns the DocType named name.
func (e *Engine) Meta(name string) (*DocType, error) {
	e.mu.RLock()
	dt := e.types[name]
	e.mu.RUnlock()
	if dt == nil {
		return nil, Errorf(DoesNotExistError, "DocType %s not found", name)
	}
	return dt, nil
}

// DocTypes lists every DocType, sorted by name.
func (e *Engine) DocTypes() []*DocType {
	e.mu.RLock()
	defer e.mu.RUnlock()
	out := make([]*DocType, 0, len(e.types))
	for _, dt := range e.types {
		out = append(out, dt)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Run runs fn in one transaction as user. When fn succeeds a write transaction commits and then the
// after-commit queue runs; when fn fails, or panics, nothing is written and the queue is dropped.
// A read transaction never commits: anything queued in it is dropped, as Frappe does for GET.
func (e *Engine) Run(ctx context.Context, user *User, write bool, fn func(*Context) error) (err error) {
	tx, err := e.db.Begin(ctx, write)
	if err != nil {
		return err
	}
	c := &Context{Context: ctx, Tx: tx, User: user, e: e, txs: &txState{}}
	defer func() {
		if p := recover(); p != nil {
			e.log.Error("panic in transaction", "panic", p, "stack", string(debug.Stack()))
			err = fmt.Errorf("internal error: %v", p)
		}
		if err != nil || !write {
			if rerr := tx.Rollback(); rerr != nil {
				e.log.Warn("rollback", "err", rerr)
			}
		}
	}()
	if err := fn(c); err != nil {
		return err
	}
	if !write {
		return nil
	}
	e.mu.RLock()
	before := e.beforeCommit
	e.mu.RUnlock()
	for _, b := range before {
		if err := b(c); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	for _, f := range c.txs.afterCommit {
		f()
	}
	return nil
}

// Context is what a hook or method gets: the transaction, the session user, and the after-commit
// queue. Operations started from it run in the same transaction.
type Context struct {
	context.Context
	Tx   *store.Tx
	User *User
	e    *Engine
	txs  *txState
	sudo bool
}

type txState struct {
	afterCommit []func()
	types       map[string]*DocType // DocTypes created or changed in this transaction
	changes     []Change
	values      map[any]any
}

// Change records one committed document operation, for the realtime layer.
type Change struct {
	Action   string // insert, save, submit, update_after_submit, cancel, delete, rename
	DocType  string
	Name     string
	OldName  string // for rename
	Owner    string // who owns it for if_owner rules (DocType.OwnerOf), so events reach only readers
	Modified string
	// Prev is the modified of the version a save changed, and Changed the new values of what it
	// changed (nil when that is too big to send, or includes fields above permlevel 0, which not
	// every reader may see): a client holding version Prev patches its copy with Changed.
	Prev    string
	Changed map[string]any
	// Row is the document's row as written (its stored columns, no child tables; for a delete the
	// row deleted), and Before the previous values of the columns a save changed (nil for an
	// insert): what lets a node match the change against live lists in memory.
	Row      Doc
	Before   Doc
	IsTable  bool
	IsSingle bool
}

// Engine returns the engine the context belongs to.
func (c *Context) Engine() *Engine { return c.e }

// AfterCommit queues fn to run once the transaction has committed; it never runs on rollback.
func (c *Context) AfterCommit(fn func()) { c.txs.afterCommit = append(c.txs.afterCommit, fn) }

// Changes lists the document operations done so far in this transaction.
func (c *Context) Changes() []Change { return c.txs.changes }

// Local returns per-transaction state stored by SetLocal (the realtime publisher keeps its pending
// events here).
func (c *Context) Local(key any) any { return c.txs.values[key] }

// SetLocal stores per-transaction state under key.
func (c *Context) SetLocal(key, v any) {
	if c.txs.values == nil {
		c.txs.values = map[any]any{}
	}
	c.txs.values[key] = v
}

// meta returns a DocType as this transaction sees it: its own uncommitted DocType changes first.
func (c *Context) meta(name string) (*DocType, error) {
	if dt := c.txs.types[name]; dt != nil {
		return dt, nil
	}
	dt, err := c.e.Meta(name)
	if err == nil {
		return dt, nil
	}
	// Not installed on this node: another node may have created it, and the shared database is
	// the truth. Read it in this transaction (no second connection), and install it.
	stored, serr := c.storedMeta(name)
	if serr != nil || stored == nil {
		return nil, err
	}
	c.e.install(stored)
	return stored, nil
}

// Meta returns a DocType as this transaction sees it: its own uncommitted changes, this node's
// DocTypes, or one another node created, read from the database.
func (c *Context) Meta(name string) (*DocType, error) { return c.meta(name) }

// storedMeta reads a DocType from the database; nil when there is none.
func (c *Context) storedMeta(name string) (*DocType, error) {
	if !doctypeNameRe.MatchString(name) {
		return nil, nil
	}
	metaDT, err := c.e.Meta("DocType")
	if err != nil {
		return nil, err
	}
	d, err := c.load(metaDT, name, false)
	if e, ok := AsError(err); ok && e.Type == DoesNotExistError {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	return docToMeta(d)
}

// Lookup is Meta, falling back to the database for a DocType another node created.
func (e *Engine) Lookup(ctx context.Context, name string) (*DocType, error) {
	if dt, err := e.Meta(name); err == nil {
		return dt, nil
	}
	var dt *DocType
	err := e.Run(ctx, AdminUser, false, func(c *Context) (err error) {
		dt, err = c.meta(name)
		return err
	})
	return dt, err
}

// Reload re-reads a DocType from the database, after another node saved or deleted it (the
// realtime layer calls it for every committed DocType change, in commit order).
func (e *Engine) Reload(ctx context.Context, name string) error {
	if slices.Contains(CoreDocTypes, name) {
		return nil
	}
	return e.Run(ctx, AdminUser, false, func(c *Context) error {
		dt, err := c.storedMeta(name)
		switch {
		case err != nil:
			return err
		case dt == nil:
			e.uninstall(name)
		default:
			e.install(dt)
		}
		return nil
	})
}

func (c *Context) pending(dt *DocType) {
	if c.txs.types == nil {
		c.txs.types = map[string]*DocType{}
	}
	c.txs.types[dt.Name] = dt
}

// Sudo returns a context in the same transaction that skips permission checks, for system work
// done on a user's behalf (as Frappe's ignore_permissions).
func (c *Context) Sudo() *Context {
	cp := *c
	cp.sudo = true
	return &cp
}

func (e *Engine) runHooks(c *Context, doctype, event string, d Doc) error {
	e.mu.RLock()
	hs := append(append([]Hook(nil), e.hooks[hookKey{doctype, event}]...), e.hooks[hookKey{"*", event}]...)
	e.mu.RUnlock()
	for _, h := range hs {
		if err := h(c, d); err != nil {
			return err
		}
	}
	return nil
}

func (e *Engine) install(dt *DocType) {
	e.mu.Lock()
	e.types[dt.Name] = dt
	e.mu.Unlock()
}

func (e *Engine) uninstall(name string) {
	e.mu.Lock()
	delete(e.types, name)
	e.mu.Unlock()
}
