package scenario

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/livedoc/livedoc/bench/internal/hist"
	"github.com/livedoc/livedoc/bench/internal/report"
	"github.com/livedoc/livedoc/bench/internal/target"
)

// The live-list data: counters are unique (no order has ties, so a live list and a fresh
// get_list must agree row for row) and above counterBase, far above the other scenarios' (their
// documents, in the same DocType, stay out of every query's range); counterBase*2 fits an Int
// column (32 bits). Each query's range holds listPerQuery rows on
// average; its limit is 3 to 5 times that, so that rows enter and leave a result through their
// own change (an insert, an update into or out of the range, a delete), not by being pushed past
// the limit, and each change on a screen has one cause to time.
const (
	counterBase  = 1_000_000_000
	listPerQuery = 10
)

var listOrders = []string{"counter asc", "counter desc", "title asc", "modified desc"}

// lastChange is the latest committed change of one document, as its writer saw it.
type lastChange struct {
	stamp   int64 // modified (UnixNano); a delete: when its request was sent (an upper bound of the latency)
	counter int64
	deleted bool
}

// listData is the writers' view of the documents: which are free for the next write, which
// counters are taken, and each document's latest change (to time a row leaving a screen).
type listData struct {
	mu    sync.Mutex
	rng   *rand.Rand
	base  int64 // the run's counters are base..base+space-1
	space int64
	free  []string
	used  map[int64]bool
	last  map[string]lastChange
	seq   int
}

func (ld *listData) newCounterLocked() int64 {
	for {
		c := ld.base + ld.rng.Int64N(ld.space)
		if !ld.used[c] {
			ld.used[c] = true
			return c
		}
	}
}

// takeLocked takes a random free document out of the pool (so no two writes touch one document
// at once); "" when none is free.
func (ld *listData) takeLocked() string {
	if len(ld.free) == 0 {
		return ""
	}
	i := ld.rng.IntN(len(ld.free))
	name := ld.free[i]
	ld.free[i] = ld.free[len(ld.free)-1]
	ld.free = ld.free[:len(ld.free)-1]
	return name
}

func (ld *listData) change(name string) (lastChange, bool) {
	ld.mu.Lock()
	defer ld.mu.Unlock()
	c, ok := ld.last[name]
	return c, ok
}

// write makes one change: 30% inserts, 50% updates of the counter (the row moves from one range,
// and the queries over it, to another), 20% deletes.
func (ld *listData) write(ctx context.Context, dt target.Documents, ops *[3]atomic.Int64) error {
	ld.mu.Lock()
	op := ld.rng.IntN(100)
	name := ""
	if op >= 30 {
		name = ld.takeLocked()
	}
	if name == "" {
		op = 0
	}
	var counter, old int64
	if op < 80 {
		counter = ld.newCounterLocked()
	}
	if name != "" {
		old = ld.last[name].counter
	}
	ld.seq++
	title := fmt.Sprintf("note-%07d", ld.seq)
	ld.mu.Unlock()

	switch {
	case op < 30:
		name, st, err := dt.Insert(ctx, map[string]any{"title": title, "counter": counter})
		ld.mu.Lock()
		defer ld.mu.Unlock()
		if err != nil {
			delete(ld.used, counter)
			return err
		}
		ld.last[name] = lastChange{stamp: st.UnixNano(), counter: counter}
		ld.free = append(ld.free, name)
		ops[0].Add(1)
	case op < 80:
		st, err := dt.Update(ctx, name, map[string]any{"counter": counter})
		ld.mu.Lock()
		defer ld.mu.Unlock()
		ld.free = append(ld.free, name)
		if err != nil {
			delete(ld.used, counter)
			return err
		}
		delete(ld.used, old)
		ld.last[name] = lastChange{stamp: st.UnixNano(), counter: counter}
		ops[1].Add(1)
	default:
		sent := time.Now()
		err := dt.Delete(ctx, name)
		ld.mu.Lock()
		defer ld.mu.Unlock()
		if err != nil {
			ld.free = append(ld.free, name)
			return err
		}
		delete(ld.used, old)
		ld.last[name] = lastChange{stamp: sent.UnixNano(), counter: old, deleted: true}
		ops[2].Add(1)
	}
	return nil
}

// listClient is one live-list client: its query and its rows.
type listClient struct {
	q        map[string]any
	lo, hi   int64 // the query's counter range
	mu       sync.Mutex
	id       string // live: the subscription's id
	rows     []row
	bad      int64 // live: changes that did not apply (the client's rows are then wrong)
	inflight bool  // frappe: a get_list is on its way
	again    bool  // frappe: a list_update came during it
}

// timeRow records the change-to-screen latency of one row that changed on c's screen at now:
// a row that appeared or changed, from its modified; a row that left, from its own latest change
// when that change is what took it out of c's range (a delete, or a counter moved out of it).
func (ld *listData) timeRow(lat *hist.Histogram, c *listClient, name string, now int64, after row) {
	if after != nil {
		if s, _ := after["modified"].(string); s != "" {
			if st := target.ParseStamp(s); !st.IsZero() {
				lat.Record(now - st.UnixNano())
			}
		}
		return
	}
	lc, ok := ld.change(name)
	if ok && (lc.deleted || lc.counter < c.lo || lc.counter >= c.hi) {
		lat.Record(now - lc.stamp)
	}
}

func equalRows(a, b []row) bool {
	if len(a) == 0 && len(b) == 0 {
		return true
	}
	return reflect.DeepEqual(a, b)
}

// LiveList has cfg.Clients clients each follow a live list query with its own filters (a range
// of the counter, an order, a limit) over cfg.Rows documents, while cfg.Writers writers insert,
// update and delete documents at cfg.Rate changes a second. --mode live: list_subscribe, then
// each list_change applied to the rows; --mode frappe: doctype_subscribe, and on each
// list_update the query is read again through get_list (one read in flight per client; updates
// during it cost one more read after it, as Frappe's list view coalesces its refreshes). It
// reports change-to-screen latency, the server's CPU per change, the clients' reads and, after
// the drain, the clients whose rows differ from a fresh get_list (lost).
func LiveList(ctx context.Context, cfg *Config) (*report.Result, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	dt, ok := cfg.Target.(target.Documents)
	if !ok {
		return nil, fmt.Errorf("live-list: target %s has no live lists", cfg.Target.Name())
	}
	mode, err := loadMode("live-list", cfg, "live", "frappe")
	if err != nil {
		return nil, err
	}
	if cfg.Rate <= 0 {
		return nil, fmt.Errorf("live-list: --rate must be positive")
	}
	if cfg.Rows <= 0 {
		return nil, fmt.Errorf("live-list: --rows must be positive")
	}
	m, err := paced("live-list", cfg)
	if err != nil {
		return nil, err
	}
	r := &report.Result{Scenario: "live-list", Target: cfg.Target.Name(), Started: time.Now()}
	r.Param("mode", mode)
	r.Param("queries", cfg.Clients)
	r.Param("rows", cfg.Rows)
	r.Param("writers", cfg.Writers)
	r.Param("rate", cfg.Rate)
	r.Param("changes", m)
	r.Param("server_pid", cfg.ServerPID)

	// The documents: cfg.Rows inserted before anyone follows them.
	// Each run takes its counters from a slot of its own, picked at random: another run's
	// documents on the same server (run-all.sh runs both modes) stay out of its ranges.
	space := int64(cfg.Rows) * 100
	ld := &listData{rng: rand.New(rand.NewPCG(1, 2)), space: space,
		base: counterBase + rand.Int64N(max(counterBase/space, 1))*space,
		used: map[int64]bool{}, last: map[string]lastChange{}}
	var setup writes
	var ops [3]atomic.Int64
	setup.run(ctx, time.Now(), 8, cfg.Rows, 0, 0, func(ctx context.Context, _ int, _ int64) error {
		ld.mu.Lock()
		counter := ld.newCounterLocked()
		ld.seq++
		title := fmt.Sprintf("note-%07d", ld.seq)
		ld.mu.Unlock()
		name, st, err := dt.Insert(ctx, map[string]any{"title": title, "counter": counter})
		ld.mu.Lock()
		defer ld.mu.Unlock()
		if err != nil {
			return err
		}
		ld.last[name] = lastChange{stamp: st.UnixNano(), counter: counter}
		ld.free = append(ld.free, name)
		return nil
	})
	if setup.errs.Load() > 0 {
		return nil, fmt.Errorf("live-list: inserting the documents: %s", setup.firstErr)
	}

	// The queries: distinct ranges of width space*listPerQuery/rows, spread over the counters.
	width := ld.space * listPerQuery / int64(cfg.Rows)
	clients := make([]*listClient, cfg.Clients)
	for i := range clients {
		lo := ld.base + (ld.space-width)*int64(i)/int64(cfg.Clients)
		hi := lo + width
		clients[i] = &listClient{lo: lo, hi: hi, q: map[string]any{
			"doctype": dt.DocType(), "fields": []string{"name", "title", "counter", "modified"},
			"filters":  [][]any{{"counter", ">=", lo}, {"counter", "<", hi}},
			"order_by": listOrders[i%len(listOrders)], "limit_page_length": listPerQuery * (3 + i%3),
		}}
	}

	var lat hist.Histogram
	var reads, readErrs, changes, ignored atomic.Int64
	var activity atomic.Int64 // UnixNano of the last change on any screen
	var inflight atomic.Int64 // frappe: reads on their way
	var readLat hist.Histogram
	list := func(c *listClient) ([]row, error) {
		lctx, lcancel := context.WithTimeout(ctx, 30*time.Second)
		defer lcancel()
		raw, err := dt.List(lctx, c.q)
		if err != nil {
			return nil, err
		}
		var rows []row
		if err := json.Unmarshal(raw, &rows); err != nil {
			return nil, fmt.Errorf("get_list: %w", err)
		}
		return rows, nil
	}
	// requery is a frappe client's refresh: get_list until no list_update came during it.
	requery := func(c *listClient) {
		defer inflight.Add(-1)
		for {
			t0 := time.Now()
			rows, err := list(c)
			reads.Add(1)
			readLat.Record(int64(time.Since(t0)))
			now := time.Now().UnixNano()
			c.mu.Lock()
			if err != nil {
				readErrs.Add(1)
			} else {
				old := make(map[string]row, len(c.rows))
				for _, x := range c.rows {
					old[rowName(x)] = x
				}
				for _, x := range rows {
					name := rowName(x)
					if prev, ok := old[name]; !ok || !reflect.DeepEqual(prev, x) {
						ld.timeRow(&lat, c, name, now, x)
						changes.Add(1)
					}
					delete(old, name)
				}
				for name := range old {
					ld.timeRow(&lat, c, name, now, nil)
					changes.Add(1)
				}
				c.rows = rows
				activity.Store(now)
			}
			if !c.again || ctx.Err() != nil {
				c.inflight = false
				c.mu.Unlock()
				return
			}
			c.again = false
			c.mu.Unlock()
		}
	}

	p := &pool{}
	connectAll(ctx, cfg, "live-list", p, func(i int) target.DialOptions {
		c := clients[i]
		o := target.DialOptions{OnDisconnect: func(string) { p.disconnects.Add(1) }}
		if mode == "frappe" {
			o.Rooms = []string{"doctype:" + dt.DocType()}
			o.Events = []string{"list_update"}
			o.OnEvent = func(string, []byte) {
				c.mu.Lock()
				if c.inflight {
					c.again = true
				} else {
					c.inflight = true
					inflight.Add(1)
					go requery(c)
				}
				c.mu.Unlock()
			}
			return o
		}
		o.Calls = []target.Call{{Event: "list_subscribe", Args: []any{c.q}}}
		o.OnAck = func(_ int, ack []byte) error {
			var a []struct {
				OK    bool   `json:"ok"`
				ID    string `json:"id"`
				Rows  []row  `json:"rows"`
				Error string `json:"error"`
			}
			if err := json.Unmarshal(ack, &a); err != nil || len(a) == 0 || !a[0].OK || a[0].ID == "" {
				return fmt.Errorf("refused: %s", truncateBytes(ack))
			}
			c.mu.Lock()
			c.id, c.rows = a[0].ID, a[0].Rows
			c.mu.Unlock()
			return nil
		}
		o.Events = []string{"list_change"}
		o.OnEvent = func(_ string, msg []byte) {
			now := time.Now().UnixNano()
			var ch listChange
			if err := json.Unmarshal(msg, &ch); err != nil {
				c.mu.Lock()
				c.bad++
				c.mu.Unlock()
				return
			}
			c.mu.Lock()
			defer c.mu.Unlock()
			if ch.ID != c.id {
				ignored.Add(1)
				return
			}
			rows, err := applyChange(c.rows, ch)
			if err != nil {
				c.bad++
				return
			}
			c.rows = rows
			if ch.Op != "move" || ch.Row != nil {
				after := ch.Row
				if ch.Op == "remove" {
					after = nil
				}
				ld.timeRow(&lat, c, ch.Name, now, after)
			}
			changes.Add(1)
			activity.Store(now)
		}
		return o
	})
	defer p.closeAll(10 * time.Second)
	if _, err := p.ready(ctx, cfg, r, "no client connected"); err != nil {
		return r, err
	}
	live := connectedOnly(p, clients)
	if mode == "frappe" {
		// Frappe's list view reads its rows when it opens; these reads are not the load's.
		var loadErrs atomic.Int64
		eachParallel(live, func(c *listClient) {
			rows, err := list(c)
			if err != nil {
				loadErrs.Add(1)
				return
			}
			c.mu.Lock()
			c.rows = rows
			c.mu.Unlock()
		})
		if e := loadErrs.Load(); e > 0 {
			return r, fmt.Errorf("live-list: %d clients could not read their list", e)
		}
	}

	var ws writes
	m0 := serverMetrics(ctx, cfg.Target)
	meters := startLoad(cfg)
	stop := progress(cfg.Progress, "live-list", func() string {
		return fmt.Sprintf("changed %s (%d errors), rows changed on screens %s, client reads %s, %s",
			report.Thousands(ws.done.Load()), ws.errs.Load(), report.Thousands(changes.Load()),
			report.Thousands(reads.Load()), meters.recent())
	})
	defer stop()

	start := time.Now()
	ws.run(ctx, start, cfg.Writers, m, cfg.Rate, 0, func(ctx context.Context, _ int, _ int64) error {
		return ld.write(ctx, dt, &ops)
	})

	// Drain: until the screens are quiet (no change for 500 ms, no read on its way), at most
	// cfg.Drain; then every client's rows are compared with a fresh get_list, and those that
	// differ again after the next quiet moment, until the drain's end.
	deadline := time.Now().Add(cfg.Drain)
	quiet := func() {
		waitUntil(ctx, deadline, 10*time.Millisecond, func() bool {
			return inflight.Load() == 0 && time.Since(time.Unix(0, activity.Load())) > 500*time.Millisecond &&
				time.Since(ws.end) > 500*time.Millisecond
		})
	}
	quiet()
	wall := meters.stop()
	stop()
	m1 := serverMetrics(ctx, cfg.Target)
	readsRun := reads.Load()

	pending := live
	var checkErrs atomic.Int64
	rounds := 0
	for len(pending) > 0 && ctx.Err() == nil {
		rounds++
		var mu sync.Mutex
		var next []*listClient
		eachParallel(pending, func(c *listClient) {
			fresh, err := list(c)
			if err != nil {
				checkErrs.Add(1)
			}
			c.mu.Lock()
			same := err == nil && equalRows(c.rows, fresh)
			c.mu.Unlock()
			if !same {
				mu.Lock()
				next = append(next, c)
				mu.Unlock()
			}
		})
		pending = next
		if len(pending) == 0 || !time.Now().Before(deadline) {
			break
		}
		quiet()
	}
	var bad int64
	for _, c := range live {
		c.mu.Lock()
		bad += c.bad
		c.mu.Unlock()
	}

	span := ws.end.Sub(start)
	done := ws.done.Load()
	r.Add("changes", done, "")
	r.AddNote("change_ops", fmt.Sprintf("%d inserts, %d updates, %d deletes", ops[0].Load(), ops[1].Load(), ops[2].Load()), "", "")
	r.Add("change_errors", ws.errs.Load(), "")
	r.AddNote("changes_per_s", float64(done)/span.Seconds(), "/s", "sustained: committed changes / writing time")
	r.Add("change_p50", report.Ms(ws.lat.Quantile(0.5)), "ms")
	r.Add("change_p99", report.Ms(ws.lat.Quantile(0.99)), "ms")
	r.AddNote("screen_changes", changes.Load(), "", "rows inserted, changed or removed on the clients' screens")
	addLatencyRows(r, &lat, "change commit to the row changed on a client's screen")
	r.AddNote("reads", readsRun, "", "get_list calls by the clients during the load and drain (live: none)")
	r.Add("reads_per_s", float64(readsRun)/wall.Seconds(), "/s")
	if done > 0 {
		r.Add("reads_per_change", float64(readsRun)/float64(done), "")
	}
	r.Add("read_errors", readErrs.Load(), "")
	if readsRun > 0 {
		r.Add("read_p50", report.Ms(readLat.Quantile(0.5)), "ms")
		r.Add("read_p99", report.Ms(readLat.Quantile(0.99)), "ms")
	}
	var keys []string
	for k := range m1 {
		if strings.HasPrefix(k, "livedoc_") && strings.Contains(k, "list") {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		r.AddNote("server_"+strings.TrimPrefix(k, "livedoc_"), m1[k]-m0[k], "", "from /metrics, during the load and drain")
	}
	if len(keys) == 0 {
		r.Notes = append(r.Notes, "the server's /metrics has no live-list counter: its own re-reads show in server_cpu only")
	}
	r.AddNote("apply_errors", bad, "", "list_change that did not fit the client's rows")
	if i := ignored.Load(); i > 0 {
		r.Add("foreign_changes", i, "")
	}
	r.AddNote("lost", int64(len(pending)), "", fmt.Sprintf("clients whose rows differ from a fresh get_list after a %s drain (%d check rounds)", cfg.Drain, rounds))
	if e := checkErrs.Load(); e > 0 {
		r.Add("check_errors", e, "")
	}
	r.Add("disconnects", p.disconnects.Load(), "")
	r.AddNote("run_time", wall.Seconds(), "s", "load + drain until quiet")
	meters.addRows(r, done, "server_cpu_per_change", "server CPU over the load + drain / changes")
	if ws.firstErr != "" {
		r.Notes = append(r.Notes, "first change error: "+ws.firstErr)
	}
	if ctx.Err() != nil {
		r.Notes = append(r.Notes, fmt.Sprintf("stopped by --timeout %s", cfg.Timeout))
	}
	return r, nil
}
