package jobs_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/livedoc/livedoc"
	"github.com/livedoc/livedoc/doc"
	"github.com/livedoc/livedoc/examples/invoice"
	"github.com/livedoc/livedoc/internal/apptest"
	"github.com/livedoc/livedoc/jobs"
	"github.com/livedoc/livedoc/realtime/client"
	"github.com/livedoc/livedoc/store/storetest"
)

func newApp(t testing.TB, dsn string, cfg jobs.Config) *apptest.Env {
	t.Helper()
	ctx := context.Background()
	app, err := livedoc.New(ctx, livedoc.Config{DataDir: t.TempDir(), Database: dsn, AdminPassword: apptest.AdminPassword, Jobs: cfg})
	if err != nil {
		t.Fatal(err)
	}
	if err := invoice.Register(ctx, app, nil); err != nil {
		t.Fatal(err)
	}
	return apptest.Serve(t, app)
}

func job(t *testing.T, app *livedoc.App, id string) doc.Doc {
	t.Helper()
	var d doc.Doc
	err := app.Engine.Run(context.Background(), doc.AdminUser, false, func(c *doc.Context) (err error) {
		d, err = c.Get(jobs.DocType, id)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// waitJob waits until the job's row satisfies ok.
func waitJob(t *testing.T, app *livedoc.App, id string, within time.Duration, ok func(doc.Doc) bool) doc.Doc {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		d := job(t, app, id)
		if ok(d) {
			return d
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s: %v", id, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func status(s string) func(doc.Doc) bool {
	return func(d doc.Doc) bool { return d.String("status") == s }
}

func TestRetriesThenKeepsTheFailure(t *testing.T) {
	env := newApp(t, storetest.DSN(t), jobs.Config{Backoff: 20 * time.Millisecond, Poll: 20 * time.Millisecond})
	var runs sync.Map
	env.App.HandleJob("flaky", func(j *jobs.Job) error {
		runs.Store(j.Attempt, true)
		return fmt.Errorf("attempt %d failed", j.Attempt)
	})
	env.App.Jobs.Start()
	id, err := env.App.Enqueue(context.Background(), "flaky", nil, jobs.Options{Retries: 2})
	if err != nil {
		t.Fatal(err)
	}
	d := waitJob(t, env.App, id, 10*time.Second, status(jobs.Failed))
	if d.Int("attempts") != 3 || d.String("exc_info") != "attempt 3 failed" {
		t.Errorf("failed job = %v", d)
	}
	// A job id queued or running is not enqueued twice; a failed one runs again.
	again, err := env.App.Enqueue(context.Background(), "flaky", nil, jobs.Options{JobID: "once", Retries: -1})
	if err != nil || again != "once" {
		t.Fatal(again, err)
	}
	waitJob(t, env.App, "once", 10*time.Second, status(jobs.Failed))
	if _, err := env.App.Enqueue(context.Background(), "flaky", nil, jobs.Options{JobID: "once", Retries: -1}); err != nil {
		t.Fatal(err)
	}
	waitJob(t, env.App, "once", 10*time.Second, func(d doc.Doc) bool { return d.String("status") == jobs.Failed && d.String("ended_at") != "" })
	if _, err := env.App.Enqueue(context.Background(), "nope", nil, jobs.Options{}); err == nil {
		t.Error("a job for an unknown method was enqueued")
	}
}

// A job whose node dies (its database connection gone: no lease renewed, no end recorded) is run
// again by another node once its lease has run out.
func TestJobOutlivesItsNode(t *testing.T) {
	dsn := storetest.DSN(t)
	cfg := jobs.Config{Lease: time.Second, Poll: 50 * time.Millisecond}
	a, b := newApp(t, dsn, cfg), newApp(t, dsn, cfg)
	startedOnA := make(chan struct{})
	a.App.HandleJob("work", func(j *jobs.Job) error {
		close(startedOnA)
		<-j.Context().Done()
		return j.Context().Err()
	})
	b.App.HandleJob("work", func(j *jobs.Job) error { return nil })
	a.App.Jobs.Start()
	id, err := b.App.Enqueue(context.Background(), "work", map[string]any{"n": 1}, jobs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-startedOnA:
	case <-time.After(10 * time.Second):
		t.Fatal("node A never started the job")
	}
	first := job(t, b.App, id)
	a.App.Engine.DB().Close() // node A is gone, mid-job
	b.App.Jobs.Start()
	d := waitJob(t, b.App, id, 15*time.Second, status(jobs.Finished))
	if d.Int("attempts") != 2 || d.String("worker") == first.String("worker") {
		t.Errorf("the job did not finish on another node: first %v, then %v", first, d)
	}
}

// An API script enqueued by frappe.enqueue reports progress; a socket of the user who enqueued it
// hears task_status_change and progress in task_progress:<id>.
func TestProgressReachesTheSocket(t *testing.T) {
	env := newApp(t, storetest.DSN(t), jobs.Config{Poll: 50 * time.Millisecond})
	env.App.Jobs.Start()
	admin := env.Login("Administrator", apptest.AdminPassword)
	for _, s := range []map[string]any{
		{"name": "Work", "script_type": "API", "api_method": "shop.work", "script": `
for (let i = 1; i <= 3; i++) frappe.publish_progress(i * 100 / 3, {title: "Working", description: "step " + i})
frappe.response.message = frappe.form_dict.n`},
		{"name": "Start", "script_type": "API", "api_method": "shop.start",
			"script": `frappe.response.message = frappe.enqueue("shop.work", {n: 3, job_id: frappe.form_dict.task})`},
	} {
		if status, body := admin.JSON("POST", "/api/resource/Server Script", s); status != 200 {
			t.Fatal(status, body)
		}
	}
	var tok string
	_ = env.App.Engine.Run(context.Background(), doc.AdminUser, true, func(c *doc.Context) error {
		k, s, err := env.App.Auth.GenerateKeys(c, doc.Administrator)
		tok = k + ":" + s
		return err
	})
	c, err := client.New(client.Options{URL: env.Srv.URL, Namespace: "/livedoc", Auth: map[string]any{"token": tok}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var mu sync.Mutex
	var got []string
	c.OnAny(func(event string, args []json.RawMessage) {
		var m map[string]any
		_ = json.Unmarshal(args[0], &m)
		mu.Lock()
		defer mu.Unlock()
		switch event {
		case "progress":
			got = append(got, fmt.Sprintf("progress %v %v", m["description"], m["task_id"]))
		case "task_status_change":
			got = append(got, fmt.Sprintf("%v %v", m["status"], m["job_id"]))
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.EmitWithAck(ctx, "task_subscribe", "t1"); err != nil {
		t.Fatal(err)
	}
	if status, body := admin.JSON("POST", "/api/method/shop.start", map[string]any{"task": "t1"}); status != 200 || body["message"] != "t1" {
		t.Fatal(status, body)
	}
	want := "queued t1|started t1|progress step 1 t1|progress step 2 t1|progress step 3 t1|finished t1"
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		have := strings.Join(got, "|")
		mu.Unlock()
		if have == want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("events = %s, want %s", have, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A Scheduler Event script with a cron of every second, on three nodes: each tick runs once.
func TestCronScriptOncePerTickAcrossNodes(t *testing.T) {
	dsn := storetest.DSN(t)
	cfg := jobs.Config{Tick: 50 * time.Millisecond, Poll: 50 * time.Millisecond}
	nodes := []*apptest.Env{newApp(t, dsn, cfg), newApp(t, dsn, cfg), newApp(t, dsn, cfg)}
	err := nodes[0].App.Engine.Run(context.Background(), doc.AdminUser, true, func(c *doc.Context) error {
		_, err := c.Insert(doc.Doc{"doctype": "Server Script", "name": "Tick", "script_type": "Scheduler Event",
			"event_frequency": "Cron", "cron_format": "* * * * * *",
			"script": `frappe.get_doc({doctype: "Customer", customer_name: "tick " + frappe.utils.now()}).insert()`})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		n.App.Jobs.Start()
	}
	app := nodes[0].App
	var ticks []doc.Doc
	var customers int64
	deadline := time.Now().Add(20 * time.Second)
	for {
		_ = app.Engine.Run(context.Background(), doc.AdminUser, false, func(c *doc.Context) (err error) {
			ticks, err = c.List(jobs.DocType, doc.Query{Fields: []string{"name", "status"}, OrderBy: "name asc",
				Filters: []doc.Filter{{Field: "status", Op: "=", Value: jobs.Finished}}})
			if err == nil {
				customers, err = c.Count("Customer", []doc.Filter{{Field: "name", Op: "like", Value: "tick %"}})
			}
			return err
		})
		if len(ticks) >= 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d ticks ran", len(ticks))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if customers < int64(len(ticks)) || customers > int64(len(ticks))+2 { // +2: runs finishing meanwhile
		t.Errorf("%d finished ticks ran the script %d times", len(ticks), customers)
	}
	var prev time.Time
	for _, d := range ticks {
		at, err := time.Parse(time.RFC3339, strings.TrimPrefix(d.Name(), "server_script:Tick@"))
		if err != nil {
			t.Fatal(d.Name(), err)
		}
		if !prev.IsZero() && at.Sub(prev) != time.Second {
			t.Errorf("ticks %s then %s", prev, at)
		}
		prev = at
	}
}
