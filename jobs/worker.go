package jobs

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/livedoc/livedoc/doc"
	"github.com/livedoc/livedoc/realtime"
)

// Job is one run of a job, as its handler sees it.
type Job struct {
	ID      string
	Method  string
	Args    map[string]any
	User    string
	Attempt int // 1 on the first run
	Timeout time.Duration

	ctx context.Context
	q   *Queue
}

// Context ends when the job times out or its node shuts down. Go cannot stop a goroutine: a
// handler that ignores it runs on, but its outcome is no longer recorded.
func (j *Job) Context() context.Context { return j.ctx }

// Run runs fn in a transaction (write: one that commits) as the job's user.
func (j *Job) Run(write bool, fn func(c *doc.Context) error) error {
	u, err := j.q.auth.User(j.ctx, j.User)
	if err != nil {
		return err
	}
	return j.q.e.Run(j.ctx, u, write, fn)
}

// Progress publishes Frappe's progress event to the job's room, task_progress:<id>.
func (j *Job) Progress(percent float64, title, description string) error {
	return j.Run(false, func(c *doc.Context) error {
		return j.q.hub.PublishProgress(c, percent, title, description, realtime.Target{TaskID: j.ID})
	})
}

// Start starts this node's workers and scheduler (once); Close stops them.
func (q *Queue) Start() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.started || q.stopped {
		return
	}
	q.started = true
	for range max(q.cfg.Workers, 0) {
		q.wg.Add(1)
		go q.work()
	}
	q.wg.Add(1)
	go q.scheduler()
}

// Close stops the workers and the scheduler. Jobs still running are cancelled and put back in
// the queue, to run again here or on another node.
func (q *Queue) Close() {
	q.mu.Lock()
	if q.stopped {
		q.mu.Unlock()
		return
	}
	q.stopped = true
	q.mu.Unlock()
	close(q.stop)
	q.cancel()
	q.wg.Wait()
}

func (q *Queue) work() {
	defer q.wg.Done()
	poll := time.NewTicker(q.cfg.Poll)
	defer poll.Stop()
	for {
		j, err := q.claim()
		if err != nil && !errors.Is(err, context.Canceled) {
			q.log.Warn("jobs: claiming a job", "err", err)
		}
		if j != nil {
			q.execute(j)
			continue
		}
		select {
		case <-q.stop:
			return
		case <-q.wake:
			q.kick() // pass it on: one wake-up for the other idle workers too
		case <-poll.C:
		}
	}
}

// claim takes the next job due: queued and past its run_after, or started by a worker whose
// lease ran out. PostgreSQL's SKIP LOCKED lets every node's workers claim at once; SQLite's one
// writer serialises them.
func (q *Queue) claim() (*Job, error) {
	var j *Job
	err := q.e.Run(q.ctx, doc.AdminUser, true, func(c *doc.Context) error {
		now := q.stamp(q.cfg.Now())
		query := `SELECT name FROM "tabRQ Job" WHERE (status = ? AND run_after <= ?) OR (status = ? AND lease_until < ?)
			ORDER BY at_front DESC, creation ASC LIMIT 1`
		if c.Tx.Dialect().Name() == "postgres" {
			query += " FOR UPDATE SKIP LOCKED"
		}
		var name string
		if err := c.Tx.QueryRow(c, query, Queued, now, Started, now).Scan(&name); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return nil
			}
			return err
		}
		sudo := c.Sudo()
		d, err := sudo.Get(DocType, name)
		if err != nil {
			return err
		}
		attempts := d.Int("attempts")
		if d.String("status") == Started && attempts >= d.Int("max_attempts") {
			msg := fmt.Sprintf("its worker %s stopped answering (lease expired) on attempt %d of %d", d.String("worker"), attempts, d.Int("max_attempts"))
			_, err := sudo.Update(DocType, name, map[string]any{"status": Failed, "exc_info": msg, "ended_at": now, "lease_until": nil})
			if err == nil {
				err = q.status(c, name, Failed, msg)
			}
			return err
		}
		var args map[string]any
		if err := json.Unmarshal([]byte(d.String("arguments")), &args); err != nil {
			args = map[string]any{}
		}
		if _, err := sudo.Update(DocType, name, map[string]any{"status": Started, "attempts": attempts + 1,
			"worker": q.node, "started_at": now, "lease_until": q.stamp(q.cfg.Now().Add(q.cfg.Lease))}); err != nil {
			return err
		}
		j = &Job{ID: name, Method: d.String("method"), Args: args, User: d.String("user"), Attempt: int(attempts + 1),
			Timeout: time.Duration(d.Int("timeout")) * time.Second, q: q}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return j, nil
}

// execute runs a claimed job: it renews the lease while the handler runs, and records how it
// ended, unless the job is no longer this worker's (its lease ran out and another took it).
func (q *Queue) execute(j *Job) {
	ctx, cancel := context.WithTimeout(q.ctx, j.Timeout)
	defer cancel()
	j.ctx = ctx
	q.publish(j, Started, "")
	begin := time.Now()
	h, ok := q.handler(j.Method)
	done := make(chan error, 1)
	if !ok {
		done <- fmt.Errorf("no job method %s on this node", j.Method)
	} else {
		go func() {
			defer func() {
				if p := recover(); p != nil {
					done <- fmt.Errorf("panic: %v", p)
				}
			}()
			done <- h(j)
		}()
	}
	renew := time.NewTicker(q.cfg.Lease / 3)
	defer renew.Stop()
	var err error
wait:
	for {
		select {
		case err = <-done:
			break wait
		case <-renew.C:
			q.renew(j)
		case <-ctx.Done():
			err = fmt.Errorf("timed out after %s", j.Timeout)
			if q.ctx.Err() != nil {
				err = errShutdown
			}
			break wait
		}
	}
	q.finish(j, err, time.Since(begin))
}

var errShutdown = errors.New("the node shut down")

func (q *Queue) renew(j *Job) {
	err := q.e.Run(q.ctx, doc.AdminUser, true, func(c *doc.Context) error {
		_, err := c.Tx.Exec(c, `UPDATE "tabRQ Job" SET lease_until = ? WHERE name = ? AND worker = ? AND status = ?`,
			q.stamp(q.cfg.Now().Add(q.cfg.Lease)), j.ID, q.node, Started)
		return err
	})
	if err != nil && !errors.Is(err, context.Canceled) {
		q.log.Warn("jobs: renewing a lease", "job", j.ID, "err", err)
	}
}

// finish records a run's outcome: finished; failed for good; queued again after a backoff; or,
// on shutdown, queued again at once without counting the attempt.
func (q *Queue) finish(j *Job, runErr error, took time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	status, exc := Finished, ""
	err := q.e.Run(ctx, doc.AdminUser, true, func(c *doc.Context) error {
		sudo := c.Sudo()
		d, err := sudo.Get(DocType, j.ID)
		if err != nil {
			return err
		}
		if d.String("worker") != q.node || d.String("status") != Started || d.Int("attempts") != int64(j.Attempt) {
			status = "" // another worker's now
			return nil
		}
		now := q.cfg.Now()
		values := map[string]any{"lease_until": nil, "time_taken": took.Seconds(), "ended_at": q.stamp(now)}
		switch {
		case runErr == nil:
			values["status"], values["exc_info"] = Finished, ""
		case errors.Is(runErr, errShutdown):
			status = Queued
			values["status"], values["attempts"], values["run_after"] = Queued, int64(j.Attempt-1), q.stamp(now)
		case int64(j.Attempt) < d.Int("max_attempts"):
			status, exc = Queued, runErr.Error()
			delay := time.Duration(math.Min(float64(q.cfg.Backoff)*math.Pow(2, float64(j.Attempt-1)), float64(10*time.Minute)))
			values["status"], values["exc_info"], values["run_after"] = Queued, exc, q.stamp(now.Add(delay))
		default:
			status, exc = Failed, runErr.Error()
			values["status"], values["exc_info"] = Failed, exc
		}
		_, err = sudo.Update(DocType, j.ID, values)
		return err
	})
	if err != nil {
		q.log.Error("jobs: recording a job's end", "job", j.ID, "err", err)
		return
	}
	if status != "" {
		q.publish(j, status, exc)
	}
	if runErr != nil && !errors.Is(runErr, errShutdown) {
		q.log.Warn("jobs: job failed", "job", j.ID, "method", j.Method, "attempt", j.Attempt, "err", runErr)
	}
}

func (q *Queue) publish(j *Job, status, exc string) {
	u, err := q.auth.User(context.Background(), j.User)
	if err == nil {
		err = q.e.Run(context.Background(), u, false, func(c *doc.Context) error { return q.status(c, j.ID, status, exc) })
	}
	if err != nil {
		q.log.Warn("jobs: task_status_change", "job", j.ID, "err", err)
	}
}
