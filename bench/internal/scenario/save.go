package scenario

import (
	"context"
	"fmt"
	"math"
	"sync/atomic"
	"time"

	"github.com/livedoc/livedoc/bench/internal/hist"
	"github.com/livedoc/livedoc/bench/internal/report"
	"github.com/livedoc/livedoc/bench/internal/target"
)

// screen is one save-to-screen subscriber's bookkeeping, written by its reader goroutine only.
type screen struct {
	last     map[string]time.Time // per document: the newest version seen
	docs     atomic.Int64         // distinct document updates received
	lists    atomic.Int64         // list updates received
	dup      atomic.Int64         // a document version not newer than the last one seen
	bad      atomic.Int64
	lastRecv atomic.Int64
}

// SaveToScreen has cfg.Writers writers save cfg.Docs documents through the target's REST API
// (cfg.Rate saves a second in all, or as fast as they go with --rate 0) while cfg.Clients
// subscribers follow every one of those documents and (unless cfg.NoList) their list. It reports
// commit-to-receive latency (receive time minus the version's modification stamp, which the
// server sets inside the save's transaction), saves per second, and lost updates.
func SaveToScreen(ctx context.Context, cfg *Config) (*report.Result, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	sv, ok := cfg.Target.(target.Saver)
	if !ok {
		return nil, fmt.Errorf("save-to-screen: target %s does not save documents", cfg.Target.Name())
	}
	m := cfg.Messages
	if m <= 0 && cfg.Duration <= 0 {
		return nil, fmt.Errorf("save-to-screen: give --messages or --duration")
	}
	if m <= 0 && cfg.Rate > 0 {
		m = int(math.Round(cfg.Rate * cfg.Duration.Seconds()))
	}
	r := &report.Result{Scenario: "save-to-screen", Target: cfg.Target.Name(), Started: time.Now()}
	r.Param("clients", cfg.Clients)
	r.Param("writers", cfg.Writers)
	r.Param("docs", cfg.Docs)
	if cfg.Rate > 0 {
		r.Param("rate", cfg.Rate)
	} else {
		r.Param("rate", "as fast as possible")
	}
	if m > 0 {
		r.Param("saves", m)
	} else {
		r.Param("duration", cfg.Duration.String())
	}
	r.Param("list", !cfg.NoList)
	r.Param("server_pid", cfg.ServerPID)
	if cfg.WriteServerPID > 0 {
		r.Param("write_server_pid", cfg.WriteServerPID)
	}

	pctx, pcancel := context.WithTimeout(ctx, 60*time.Second)
	docs, listRoom, err := sv.PrepareDocs(pctx, cfg.Docs)
	pcancel()
	if err != nil {
		return nil, err
	}
	rooms := make([]string, 0, len(docs)+1)
	for _, d := range docs {
		rooms = append(rooms, d.Room)
	}
	if !cfg.NoList && listRoom != "" {
		rooms = append(rooms, listRoom)
	}
	r.Param("rooms_per_client", len(rooms))
	docEvent, listEvent := sv.UpdateEvents()

	var lat hist.Histogram
	screens := make([]*screen, cfg.Clients)
	p := &pool{}
	connectAll(ctx, cfg, "save-to-screen", p, func(i int) target.DialOptions {
		s := &screen{last: make(map[string]time.Time, len(docs))}
		screens[i] = s
		return target.DialOptions{Rooms: rooms, Events: []string{docEvent, listEvent},
			OnDisconnect: func(string) { p.disconnects.Add(1) },
			OnEvent: func(event string, payload []byte) {
				now := time.Now()
				if event == listEvent && event != docEvent {
					// Counted, not parsed: only the document's own update is timed, and the
					// generator's one core reads two updates per subscriber per save (its CPU at
					// 100 subscribers x 2,500 saves/s: -13%). The event's JSON was checked on the
					// way here.
					s.lastRecv.Store(now.UnixNano())
					s.lists.Add(1)
					return
				}
				name, stamp, ok := sv.ParseUpdate(event, payload)
				if !ok {
					s.bad.Add(1)
					return
				}
				s.lastRecv.Store(now.UnixNano())
				if event == listEvent && stamp.IsZero() { // one event name for both (PocketBase)
					s.lists.Add(1)
					return
				}
				if !stamp.IsZero() {
					// Older than a version already seen: a duplicate or out of order. An equal stamp
					// counts as a new version: PocketBase's have millisecond resolution.
					if prev, seen := s.last[name]; seen && stamp.Before(prev) {
						s.dup.Add(1)
						return
					}
					s.last[name] = stamp
					lat.Record(int64(now.Sub(stamp)))
				}
				s.docs.Add(1)
			}}
	})
	defer p.closeAll(10 * time.Second)
	n, err := p.ready(ctx, cfg, r, "no subscriber connected")
	if err != nil {
		return r, err
	}
	received := func() (docsN, lists int64) {
		for _, s := range screens {
			if s != nil {
				docsN += s.docs.Load()
				lists += s.lists.Load()
			}
		}
		return
	}

	var ws writes
	meters := startLoad(cfg)
	stop := progress(cfg.Progress, "save-to-screen", func() string {
		d, l := received()
		return fmt.Sprintf("saved %s (%d errors), received %s doc + %s list updates, %s",
			report.Thousands(ws.done.Load()), ws.errs.Load(), report.Thousands(d), report.Thousands(l),
			meters.recent())
	})
	defer stop()

	start := time.Now()
	ws.run(ctx, start, cfg.Writers, m, cfg.Rate, cfg.Duration, func(ctx context.Context, w int, k int64) error {
		_, err := sv.Save(ctx, docs[w%len(docs)], k+1)
		return err
	})
	saveEnd := ws.end

	// Drain: every subscriber follows every document, so each should get one document update per
	// save (and one list update per save).
	want := n * ws.done.Load()
	waitUntil(ctx, time.Now().Add(cfg.Drain), 5*time.Millisecond, func() bool {
		d, l := received()
		return d >= want && (cfg.NoList || l >= want)
	})
	wall := meters.stop()
	stop()

	var gotDocs, gotLists, dup, bad, lastRecv int64
	for _, s := range screens {
		if s == nil {
			continue
		}
		gotDocs += s.docs.Load()
		gotLists += s.lists.Load()
		dup += s.dup.Load()
		bad += s.bad.Load()
		lastRecv = max(lastRecv, s.lastRecv.Load())
	}
	span := saveEnd.Sub(start)
	r.Add("saves", ws.done.Load(), "")
	r.Add("save_errors", ws.errs.Load(), "")
	r.Add("saves_per_s", float64(ws.done.Load())/span.Seconds(), "/s")
	r.Add("save_p50", report.Ms(ws.lat.Quantile(0.5)), "ms")
	r.Add("save_p99", report.Ms(ws.lat.Quantile(0.99)), "ms")
	r.AddNote("expected", want, "", "document updates: subscribers x saves")
	r.Add("doc_updates", gotDocs, "")
	lostDocs := want - gotDocs
	lostLists := int64(0)
	if !cfg.NoList {
		r.Add("list_updates", gotLists, "")
		lostLists = want - gotLists
	}
	r.AddNote("lost", lostDocs+lostLists, "", fmt.Sprintf("document + list updates missing after a %s drain", cfg.Drain))
	r.AddNote("duplicates", dup, "", "a document version older than one already received")
	if bad > 0 {
		r.Add("bad_payloads", bad, "")
	}
	r.Add("disconnects", p.disconnects.Load(), "")
	if lastRecv > start.UnixNano() {
		r.AddNote("updates_per_s", float64(gotDocs+gotLists)/time.Duration(lastRecv-start.UnixNano()).Seconds(), "/s", "received / (last receive - first save)")
	}
	addLatencyRows(r, &lat, "commit to receive (document updates)")
	r.Add("run_time", wall.Seconds(), "s")
	meters.addRows(r, 0, "", "")
	if ws.firstErr != "" {
		r.Notes = append(r.Notes, "first save error: "+ws.firstErr)
	}
	if ctx.Err() != nil {
		r.Notes = append(r.Notes, fmt.Sprintf("stopped by --timeout %s", cfg.Timeout))
	}
	return r, nil
}
