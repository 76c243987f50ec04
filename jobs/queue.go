// Package jobs runs background jobs and scheduled events. A job is a row of the RQ Job DocType
// (so it survives restarts, System Managers list it in the desk and over REST, and the list
// updates live), enqueued in the caller's transaction (it exists iff that commits) and run by
// the workers inside every livedoc serve. On PostgreSQL any node's worker takes any job (FOR
// UPDATE SKIP LOCKED); a worker holds a lease on its job that it renews while the job runs, and a
// job whose lease ran out (its node died) is taken again by another. Failed runs are retried with
// exponential backoff; the last failure is kept with its error. Progress and status changes go to
// the realtime room task_progress:<job id>. See docs/jobs.md.
package jobs

import (
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/livedoc/livedoc/auth"
	"github.com/livedoc/livedoc/doc"
	"github.com/livedoc/livedoc/realtime"
)

// DocType is the jobs' DocType, named after Frappe's list of background jobs.
const DocType = "RQ Job"

//go:embed rq_job.json
var rqJobJSON []byte

// Job statuses, Frappe's (RQ's) names; task_status_change carries them.
const (
	Queued   = "queued"
	Started  = "started"
	Finished = "finished"
	Failed   = "failed"
)

// Options are Frappe's enqueue keywords.
type Options struct {
	Queue   string        // default, short or long: a label, shown in the list (every worker takes every queue)
	Timeout time.Duration // default: 300 s, long queue 1500 s, short 300 s (Frappe's)
	// JobID names the job: while a job of that id is queued or started, enqueuing it again does
	// nothing; a finished or failed one is run again.
	JobID   string
	AtFront bool // ahead of the queued jobs enqueued without it
	// Retries is how often a failed run is tried again (with backoff); 0 means 3, negative none.
	Retries int
}

// Handler runs one job. Its error fails the run (retried while attempts remain).
type Handler func(j *Job) error

// Config configures a Queue.
type Config struct {
	Workers int           // workers on this node; 0 means 2, negative none (enqueue only)
	Lease   time.Duration // how long a job is a dead worker's before another takes it; default 60 s
	Poll    time.Duration // how often idle workers look for jobs other nodes enqueued; default 1 s
	Backoff time.Duration // the first retry's delay, doubling each time up to 10 minutes; default 5 s
	Tick    time.Duration // how often the scheduler looks for due events; default 1 s
	Now     func() time.Time
	Logger  *slog.Logger
}

// Queue enqueues jobs, and runs them with its workers.
type Queue struct {
	e    *doc.Engine
	hub  *realtime.Hub
	auth *auth.Service
	cfg  Config
	log  *slog.Logger
	node string

	mu       sync.RWMutex
	handlers map[string]Handler
	resolve  func(method string) (Handler, bool)
	events   map[string]*event // scheduled events by name

	wake    chan struct{}
	stop    chan struct{}
	started bool
	stopped bool
	cancel  context.CancelFunc
	ctx     context.Context
	wg      sync.WaitGroup
}

// New sets the RQ Job DocType up in e; Start starts the workers and the scheduler.
func New(ctx context.Context, e *doc.Engine, hub *realtime.Hub, users *auth.Service, cfg Config) (*Queue, error) {
	if cfg.Workers == 0 {
		cfg.Workers = 2
	}
	if cfg.Lease <= 0 {
		cfg.Lease = time.Minute
	}
	if cfg.Poll <= 0 {
		cfg.Poll = time.Second
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = 5 * time.Second
	}
	if cfg.Tick <= 0 {
		cfg.Tick = time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	dt, err := doc.ParseDocType(rqJobJSON)
	if err != nil {
		return nil, err
	}
	if err := e.Run(ctx, doc.AdminUser, true, func(c *doc.Context) error { return c.Sudo().Sync(dt) }); err != nil {
		return nil, fmt.Errorf("RQ Job DocType: %w", err)
	}
	if err := createScheduleTable(ctx, e); err != nil {
		return nil, err
	}
	jctx, cancel := context.WithCancel(context.Background())
	q := &Queue{e: e, hub: hub, auth: users, cfg: cfg, log: cfg.Logger, node: workerName(), handlers: map[string]Handler{},
		events: map[string]*event{}, wake: make(chan struct{}, 1), stop: make(chan struct{}), ctx: jctx, cancel: cancel}
	// A job enqueued on any node wakes the idle workers of every node when the fan-out passes it.
	hub.Watch(DocType, func(string) { q.kick() })
	return q, nil
}

// Handle registers the Go function run for method.
func (q *Queue) Handle(method string, h Handler) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.handlers[method] = h
}

// SetResolver installs where methods with no Go handler are looked up (Server Scripts).
func (q *Queue) SetResolver(fn func(method string) (Handler, bool)) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.resolve = fn
}

func (q *Queue) handler(method string) (Handler, bool) {
	q.mu.RLock()
	h, ok := q.handlers[method]
	res := q.resolve
	q.mu.RUnlock()
	if !ok && res != nil {
		return res(method)
	}
	return h, ok
}

// Enqueue adds a job in c's transaction, to run as c's user once it commits, and returns its id.
func (q *Queue) Enqueue(c *doc.Context, method string, args map[string]any, o Options) (string, error) {
	if method == "" {
		return "", doc.Errorf(doc.ValidationError, "enqueue: a method is required")
	}
	if _, ok := q.handler(method); !ok {
		return "", doc.Errorf(doc.ValidationError, "enqueue: no job method %s", method)
	}
	if args == nil {
		args = map[string]any{}
	}
	b, err := json.Marshal(args)
	if err != nil {
		return "", doc.Errorf(doc.ValidationError, "enqueue %s: arguments are not JSON: %v", method, err)
	}
	if o.Queue == "" {
		o.Queue = "default"
	}
	if o.Timeout <= 0 {
		o.Timeout = 300 * time.Second
		if o.Queue == "long" {
			o.Timeout = 1500 * time.Second
		}
	}
	switch {
	case o.Retries == 0:
		o.Retries = 3
	case o.Retries < 0:
		o.Retries = 0
	}
	values := map[string]any{"method": method, "status": Queued, "queue": o.Queue, "user": c.User.Name,
		"arguments": string(b), "timeout": int64(o.Timeout / time.Second), "at_front": boolInt(o.AtFront),
		"attempts": int64(0), "max_attempts": int64(o.Retries + 1), "run_after": q.stamp(q.cfg.Now()),
		"lease_until": nil, "worker": "", "started_at": nil, "ended_at": nil, "time_taken": nil, "exc_info": ""}
	sudo := c.Sudo()
	id := o.JobID
	if id == "" {
		id = randomID()
	} else if old, err := sudo.Get(DocType, id); err == nil {
		if s := old.String("status"); s == Queued || s == Started {
			return id, nil
		}
		_, err := sudo.Update(DocType, id, values)
		return id, err
	} else if e, ok := doc.AsError(err); !ok || e.Type != doc.DoesNotExistError {
		return "", err
	}
	d := doc.Doc{"doctype": DocType, "name": id}
	for k, v := range values {
		d[k] = v
	}
	if _, err := sudo.Insert(d); err != nil {
		return "", err
	}
	c.AfterCommit(func() {
		q.kick()
		if err := q.status(c, id, Queued, ""); err != nil {
			q.log.Warn("jobs: task_status_change", "job", id, "err", err)
		}
	})
	return id, nil
}

func (q *Queue) kick() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// status tells the task's room that a job changed status (Frappe's task_status_change).
func (q *Queue) status(c *doc.Context, id, status, exc string) error {
	msg := map[string]any{"status": status, "job_id": id}
	if exc != "" {
		msg["exc_info"] = exc
	}
	return q.hub.Publish(c, "task_status_change", msg, realtime.Target{TaskID: id}, false)
}

// stamp is a time as documents store it (UTC text that sorts as time).
func (q *Queue) stamp(t time.Time) string { return t.UTC().Format(doc.DatetimeFormat) }

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// workerName names this process's workers in RQ Job's worker field as Frappe's RQ names them,
// host.pid, with a random part: an operator (or a test) sees which process runs a job.
func workerName() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s.%d.%s", host, os.Getpid(), randomID()[:6])
}

func randomID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
