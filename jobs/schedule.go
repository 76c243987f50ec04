package jobs

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/livedoc/livedoc/doc"
	"github.com/robfig/cron/v3"
)

// The scheduler enqueues a job for each tick of each scheduled event. Every node runs it; which
// node enqueues a tick is decided by the event's row in __scheduler, locked in the transaction
// that moves its last tick forward and enqueues the job (named after the event and tick), so each
// tick is enqueued exactly once. After downtime the latest missed tick runs once, not every one
// missed. Times are UTC.

type event struct {
	name     string
	schedule cron.Schedule
	method   string
	args     map[string]any
	opts     Options
	due      time.Time // this node's idea of the next tick; the table decides
}

// frequencies are Frappe's scheduler_events keys, as cron; the _long ones go to the long queue.
var frequencies = map[string]string{
	"all": "* * * * *", "hourly": "0 * * * *", "daily": "0 0 * * *", "weekly": "0 0 * * 0",
	"monthly": "0 0 1 * *", "yearly": "0 0 1 1 *", "annual": "0 0 1 1 *",
	"hourly_long": "0 * * * *", "daily_long": "0 0 * * *", "weekly_long": "0 0 * * 0", "monthly_long": "0 0 1 * *",
}

var parser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// ParseSchedule reads a frequency (Frappe's: all, hourly, daily, weekly, monthly, yearly, and
// their _long forms) or a cron expression: five fields, or six with seconds first.
func ParseSchedule(spec string) (cron.Schedule, error) {
	key := strings.ToLower(strings.ReplaceAll(strings.TrimSpace(spec), " ", "_"))
	if c, ok := frequencies[key]; ok {
		spec = c
	}
	s, err := parser.Parse(strings.TrimSpace(spec))
	if err != nil {
		return nil, doc.Errorf(doc.ValidationError, "schedule %q: %v", spec, err)
	}
	return s, nil
}

// Schedule runs method (a job method) at every tick of spec, under name: scheduling the same
// name again replaces it. A _long frequency puts the jobs on the long queue.
func (q *Queue) Schedule(name, spec, method string, args map[string]any) error {
	s, err := ParseSchedule(spec)
	if err != nil {
		return err
	}
	o := Options{Queue: "default", Retries: -1, Timeout: 300 * time.Second}
	if strings.HasSuffix(strings.ToLower(strings.TrimSpace(spec)), "long") {
		o.Queue, o.Timeout = "long", 1500*time.Second
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	q.events[name] = &event{name: name, schedule: s, method: method, args: args, opts: o}
	return nil
}

// Unschedule stops the event called name.
func (q *Queue) Unschedule(name string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.events, name)
}

// Scheduled lists the names of the scheduled events that start with prefix.
func (q *Queue) Scheduled(prefix string) []string {
	q.mu.RLock()
	defer q.mu.RUnlock()
	var out []string
	for n := range q.events {
		if strings.HasPrefix(n, prefix) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

func createScheduleTable(ctx context.Context, e *doc.Engine) error {
	return e.Run(ctx, doc.AdminUser, true, func(c *doc.Context) error {
		if err := c.Tx.LockSchema(c); err != nil {
			return err
		}
		_, err := c.Tx.Exec(c, `CREATE TABLE IF NOT EXISTS __scheduler (event TEXT PRIMARY KEY, last_tick TEXT NOT NULL)`)
		return err
	})
}

func (q *Queue) scheduler() {
	defer q.wg.Done()
	t := time.NewTicker(q.cfg.Tick)
	defer t.Stop()
	for {
		select {
		case <-q.stop:
			return
		case <-t.C:
			q.RunDue()
		}
	}
}

// RunDue enqueues the due ticks of every event (the scheduler calls it every Config.Tick).
func (q *Queue) RunDue() {
	now := q.cfg.Now().UTC()
	q.mu.RLock()
	var due []*event
	for _, ev := range q.events {
		if !ev.due.After(now) {
			due = append(due, ev)
		}
	}
	q.mu.RUnlock()
	for _, ev := range due {
		next, err := q.tick(ev, now)
		if err != nil {
			if !errors.Is(err, context.Canceled) {
				q.log.Warn("jobs: scheduling", "event", ev.name, "err", err)
			}
			continue
		}
		q.mu.Lock()
		ev.due = next
		q.mu.Unlock()
	}
}

// tick enqueues ev's latest tick at or before now unless some node did already, and returns when
// the next one is.
func (q *Queue) tick(ev *event, now time.Time) (time.Time, error) {
	var next time.Time
	err := q.e.Run(q.ctx, doc.AdminUser, true, func(c *doc.Context) error {
		latest := latestTick(ev.schedule, now)
		if _, err := c.Tx.Exec(c, `INSERT INTO __scheduler (event, last_tick) VALUES (?, ?) ON CONFLICT (event) DO NOTHING`,
			ev.name, q.stamp(latest)); err != nil {
			return err
		}
		lock := ""
		if c.Tx.Dialect().Name() == "postgres" {
			lock = " FOR UPDATE"
		}
		var lastText string
		if err := c.Tx.QueryRow(c, `SELECT last_tick FROM __scheduler WHERE event = ?`+lock, ev.name).Scan(&lastText); err != nil {
			return err
		}
		last, err := time.Parse(doc.DatetimeFormat, lastText)
		if err != nil {
			return fmt.Errorf("__scheduler %s: %w", ev.name, err)
		}
		next = ev.schedule.Next(last)
		if next.After(now) {
			return nil
		}
		if _, err := c.Tx.Exec(c, `UPDATE __scheduler SET last_tick = ? WHERE event = ?`, q.stamp(latest), ev.name); err != nil {
			return err
		}
		next = ev.schedule.Next(latest)
		o := ev.opts
		o.JobID = ev.name + "@" + latest.Format(time.RFC3339)
		_, err = q.Enqueue(c, ev.method, ev.args, o)
		return err
	})
	return next, err
}

// latestTick is the last tick of s at or before now.
func latestTick(s cron.Schedule, now time.Time) time.Time {
	// Step back until a tick falls before now, then forward to the last one that does not pass it.
	for back := time.Minute; back < 800*24*time.Hour; back *= 2 {
		t := s.Next(now.Add(-back))
		if t.After(now) {
			continue
		}
		for {
			n := s.Next(t)
			if n.After(now) {
				return t
			}
			t = n
		}
	}
	return now
}
