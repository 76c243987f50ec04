package scenario

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/livedoc/livedoc/bench/internal/hist"
	"github.com/livedoc/livedoc/bench/internal/jscan"
	"github.com/livedoc/livedoc/bench/internal/report"
	"github.com/livedoc/livedoc/bench/internal/target"
)

// viewFields are the fields a doc-view viewer shows (and the final check compares): the writers
// change counter; title stays.
var viewFields = []string{"counter", "title"}

// viewer is one doc-view viewer's copy of the document: the version on screen, the shown
// fields' JSON, and when each version reached the screen.
type viewer struct {
	mu       sync.Mutex
	ready    bool              // the copy is initialised (snapshot or first GET)
	modified string            // the version on screen; stamps of one format compare as strings
	fields   map[string]string // viewFields' JSON values
	shown    []shownAt         // versions put on screen, in order
	early    [][]byte          // delta: doc_updates that came before the snapshot's ack (copies)
	inflight bool              // a GET is on its way
	again    bool              // a doc_update came during that GET: read once more
	last     atomic.Int64      // the on-screen version's stamp (UnixNano), for the drain
}

type shownAt struct{ stamp, at int64 }

// showLocked puts version mod with fields (values to copy, nil: unchanged) on screen at now.
func (v *viewer) showLocked(mod string, set func(field string) ([]byte, bool), now time.Time) {
	for _, f := range viewFields {
		if val, ok := set(f); ok {
			v.fields[f] = string(val)
		}
	}
	v.modified = mod
	st := target.ParseStamp(mod).UnixNano()
	v.shown = append(v.shown, shownAt{st, now.UnixNano()})
	v.last.Store(st)
}

// showDoc puts a whole document (a snapshot or a GET's answer) on screen unless it is not newer
// than what is there.
func (v *viewer) showDocLocked(d []byte, now time.Time) error {
	raw, ok := jscan.Field(d, "modified")
	mod, ok2 := jscan.String(raw)
	if !ok || !ok2 {
		return fmt.Errorf("document without modified: %s", truncateBytes(d))
	}
	if v.ready && mod <= v.modified {
		return nil
	}
	v.ready = true
	v.showLocked(mod, func(f string) ([]byte, bool) {
		val, ok := jscan.Field(d, f)
		if !ok {
			val = []byte("null")
		}
		return val, true
	}, now)
	return nil
}

// delta applies a doc_update with what changed; false when it cannot be applied to the copy
// (no changed, or changed against another version than the one on screen): a GET is needed.
func (v *viewer) deltaLocked(msg []byte, now time.Time) (ok bool) {
	raw, ok := jscan.Field(msg, "modified")
	mod, ok2 := jscan.String(raw)
	if !ok || !ok2 {
		return false
	}
	if mod <= v.modified {
		return true // already in the copy (the snapshot is as of a later offset)
	}
	raw, ok = jscan.Field(msg, "prev_modified")
	prev, ok2 := jscan.String(raw)
	changed, ok3 := jscan.Field(msg, "changed")
	if !ok || !ok2 || !ok3 || prev != v.modified || len(changed) == 0 || changed[0] != '{' {
		return false
	}
	v.showLocked(mod, func(f string) ([]byte, bool) { return jscan.Field(changed, f) }, now)
	return true
}

// timeSaves records, for each save (stamps, ascending), the time from its commit to the first
// version at least as new on a viewer's screen (shown, in screen order): a viewer that skipped
// versions (Frappe's form, reloading once for several updates) shows a save when it shows a
// newer one. It returns the saves never shown.
func timeSaves(lat *hist.Histogram, stamps []int64, shown []shownAt) (notShown int64) {
	j := 0
	for _, s := range stamps {
		for j < len(shown) && shown[j].stamp < s {
			j++
		}
		if j == len(shown) {
			notShown++
			continue
		}
		lat.Record(shown[j].at - s)
	}
	return notShown
}

func truncateBytes(b []byte) []byte {
	if len(b) > 200 {
		return b[:200]
	}
	return b
}

// DocView has cfg.Clients viewers follow one document while cfg.Writers writers save it
// (cfg.Rate saves a second in all, changing its counter). --mode delta: each viewer subscribes
// with {snapshot: true} and patches its copy from each doc_update's changed (a GET only when a
// change does not apply); --mode frappe: each viewer subscribes as Frappe's form does and GETs
// the document on every doc_update (at most one GET in flight per viewer; updates during it cost
// one more GET after it). It reports saves/s, the GETs the viewers issued, the server's CPU per
// save, save-to-screen latency (for every viewer and every save: the save's commit stamp to the
// moment that version or a newer one was on the viewer's screen) and, after the drain, the
// viewers whose copy differs from a fresh GET (lost).
func DocView(ctx context.Context, cfg *Config) (*report.Result, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	dt, ok := cfg.Target.(target.Documents)
	if !ok {
		return nil, fmt.Errorf("doc-view: target %s has no live documents", cfg.Target.Name())
	}
	mode, err := loadMode("doc-view", cfg, "delta", "frappe")
	if err != nil {
		return nil, err
	}
	m, err := paced("doc-view", cfg)
	if err != nil {
		return nil, err
	}
	r := &report.Result{Scenario: "doc-view", Target: cfg.Target.Name(), Started: time.Now()}
	r.Param("mode", mode)
	r.Param("viewers", cfg.Clients)
	r.Param("writers", cfg.Writers)
	r.Param("rate", cfg.Rate)
	r.Param("saves", m)
	r.Param("server_pid", cfg.ServerPID)

	pctx, pcancel := context.WithTimeout(ctx, 60*time.Second)
	docs, _, err := dt.PrepareDocs(pctx, 1)
	pcancel()
	if err != nil {
		return nil, err
	}
	d := docs[0]
	var reads, readErrs atomic.Int64
	var readLat hist.Histogram
	var applyErrs atomic.Int64
	// fetch GETs the document for v until no doc_update came during the GET (Frappe's form
	// reloads on doc_update; a delta viewer when a change does not apply to its copy).
	fetch := func(v *viewer) {
		for {
			t0 := time.Now()
			gctx, gcancel := context.WithTimeout(ctx, 30*time.Second)
			raw, err := dt.Get(gctx, d.Name)
			gcancel()
			reads.Add(1)
			readLat.Record(int64(time.Since(t0)))
			v.mu.Lock()
			if err != nil {
				readErrs.Add(1)
			} else if err := v.showDocLocked(raw, time.Now()); err != nil {
				applyErrs.Add(1)
			}
			if !v.again || ctx.Err() != nil {
				v.inflight = false
				v.mu.Unlock()
				return
			}
			v.again = false
			v.mu.Unlock()
		}
	}
	// need asks for a GET for v (v.mu held): one now, or one more after the one in flight.
	needLocked := func(v *viewer) {
		if v.inflight {
			v.again = true
			return
		}
		v.inflight = true
		go fetch(v)
	}

	viewers := make([]*viewer, cfg.Clients)
	p := &pool{}
	connectAll(ctx, cfg, "doc-view", p, func(i int) target.DialOptions {
		v := &viewer{fields: map[string]string{}}
		viewers[i] = v
		o := target.DialOptions{Events: []string{"doc_update"},
			OnDisconnect: func(string) { p.disconnects.Add(1) }}
		if mode == "frappe" {
			o.Rooms = []string{d.Room}
			o.OnEvent = func(_ string, msg []byte) {
				raw, ok := jscan.Field(msg, "modified")
				mod, ok2 := jscan.String(raw)
				v.mu.Lock()
				if !ok || !ok2 || !v.ready || mod > v.modified {
					needLocked(v)
				}
				v.mu.Unlock()
			}
			return o
		}
		o.Calls = []target.Call{{Event: "doc_subscribe", Args: []any{dt.DocType(), d.Name, map[string]any{"snapshot": true}}}}
		o.OnAck = func(_ int, ack []byte) error {
			a, ok := jscan.NewArray(ack)
			first, ok2 := a.Next()
			if !ok || !ok2 || !bytes.Contains(first, []byte(`"ok":true`)) {
				return fmt.Errorf("refused: %s", truncateBytes(ack))
			}
			snap, ok := jscan.Field(first, "doc")
			if !ok {
				return fmt.Errorf("no doc in the ack: %s", truncateBytes(ack))
			}
			now := time.Now()
			v.mu.Lock()
			defer v.mu.Unlock()
			if err := v.showDocLocked(snap, now); err != nil {
				return err
			}
			v.shown = v.shown[:0] // the snapshot is no save's
			for _, msg := range v.early {
				if !v.deltaLocked(msg, now) {
					needLocked(v)
				}
			}
			v.early = nil
			return nil
		}
		o.OnEvent = func(_ string, msg []byte) {
			now := time.Now()
			v.mu.Lock()
			if !v.ready {
				v.early = append(v.early, bytes.Clone(msg))
			} else if !v.deltaLocked(msg, now) {
				needLocked(v)
			}
			v.mu.Unlock()
		}
		return o
	})
	defer p.closeAll(10 * time.Second)
	if _, err := p.ready(ctx, cfg, r, "no viewer connected"); err != nil {
		return r, err
	}
	live := connectedOnly(p, viewers)
	if mode == "frappe" {
		// Frappe's form loads the document once it is open; these GETs are not the load's.
		var loadErrs atomic.Int64
		eachParallel(live, func(v *viewer) {
			gctx, gcancel := context.WithTimeout(ctx, 30*time.Second)
			raw, err := dt.Get(gctx, d.Name)
			gcancel()
			v.mu.Lock()
			if err == nil {
				err = v.showDocLocked(raw, time.Now())
			}
			v.shown = v.shown[:0] // the first load is no save's
			v.mu.Unlock()
			if err != nil {
				loadErrs.Add(1)
			}
		})
		if e := loadErrs.Load(); e > 0 {
			return r, fmt.Errorf("doc-view: %d viewers could not load the document", e)
		}
	}

	var ws writes
	var stampMu sync.Mutex
	var stamps []int64 // every committed save's modified
	meters := startLoad(cfg)
	var lastReads int64
	lastT := time.Now()
	stop := progress(cfg.Progress, "doc-view", func() string {
		rd, now := reads.Load(), time.Now()
		rate := float64(rd-lastReads) / now.Sub(lastT).Seconds()
		lastReads, lastT = rd, now
		return fmt.Sprintf("saved %s (%d errors), viewer GETs %s (%s/s), %s",
			report.Thousands(ws.done.Load()), ws.errs.Load(), report.Thousands(rd), report.Thousands(int64(rate)),
			meters.recent())
	})
	defer stop()

	start := time.Now()
	ws.run(ctx, start, cfg.Writers, m, cfg.Rate, 0, func(ctx context.Context, _ int, k int64) error {
		st, err := dt.Save(ctx, d, k+1)
		if err == nil {
			stampMu.Lock()
			stamps = append(stamps, st.UnixNano())
			stampMu.Unlock()
		}
		return err
	})
	slices.Sort(stamps)

	// Drain: until every viewer shows the newest save, at most cfg.Drain.
	var newest int64
	if len(stamps) > 0 {
		newest = stamps[len(stamps)-1]
	}
	waitUntil(ctx, time.Now().Add(cfg.Drain), 5*time.Millisecond, func() bool {
		for _, v := range live {
			if v.last.Load() < newest {
				return false
			}
		}
		return true
	})
	wall := meters.stop()
	stop()

	// The check: every viewer's copy equals a fresh GET.
	fctx, fcancel := context.WithTimeout(ctx, 30*time.Second)
	final, ferr := dt.Get(fctx, d.Name)
	fcancel()
	var want viewer
	want.fields = map[string]string{}
	if ferr == nil {
		ferr = want.showDocLocked(final, time.Now())
	}
	if ferr != nil {
		return r, fmt.Errorf("doc-view: the final GET: %w", ferr)
	}
	var stale int64
	var lat hist.Histogram
	var notShown int64
	for _, v := range live {
		v.mu.Lock()
		if v.modified != want.modified || !equalFields(v.fields, want.fields) {
			stale++
		}
		notShown += timeSaves(&lat, stamps, v.shown)
		v.mu.Unlock()
	}

	span := ws.end.Sub(start)
	r.Add("saves", ws.done.Load(), "")
	r.Add("save_errors", ws.errs.Load(), "")
	r.AddNote("saves_per_s", float64(ws.done.Load())/span.Seconds(), "/s", "sustained: committed saves / writing time")
	r.Add("save_p50", report.Ms(ws.lat.Quantile(0.5)), "ms")
	r.Add("save_p99", report.Ms(ws.lat.Quantile(0.99)), "ms")
	r.AddNote("reads", reads.Load(), "", "GETs the viewers issued (delta: only for changes that did not apply)")
	r.Add("reads_per_s", float64(reads.Load())/wall.Seconds(), "/s")
	if ws.done.Load() > 0 {
		r.Add("reads_per_save", float64(reads.Load())/float64(ws.done.Load()), "")
	}
	r.Add("read_errors", readErrs.Load(), "")
	r.Add("read_p50", report.Ms(readLat.Quantile(0.5)), "ms")
	r.Add("read_p99", report.Ms(readLat.Quantile(0.99)), "ms")
	addLatencyRows(r, &lat, "save commit to that version (or a newer one) on a viewer's screen, every viewer x save")
	r.AddNote("not_shown", notShown, "", "viewer x save never on screen after the drain")
	r.AddNote("lost", stale, "", fmt.Sprintf("viewers whose copy differs from a fresh GET after a %s drain", cfg.Drain))
	if e := applyErrs.Load(); e > 0 {
		r.Add("bad_documents", e, "")
	}
	r.Add("disconnects", p.disconnects.Load(), "")
	r.Add("run_time", wall.Seconds(), "s")
	meters.addRows(r, ws.done.Load(), "server_cpu_per_save", "server CPU over saving + drain / saves")
	if ws.firstErr != "" {
		r.Notes = append(r.Notes, "first save error: "+ws.firstErr)
	}
	if ctx.Err() != nil {
		r.Notes = append(r.Notes, fmt.Sprintf("stopped by --timeout %s", cfg.Timeout))
	}
	return r, nil
}

// equalFields compares two copies' field values as JSON values (not as text: 1 and 1.0 agree).
func equalFields(a, b map[string]string) bool {
	for _, f := range viewFields {
		var x, y any
		if json.Unmarshal([]byte(a[f]), &x) != nil || json.Unmarshal([]byte(b[f]), &y) != nil {
			return false
		}
		if !reflect.DeepEqual(x, y) {
			return false
		}
	}
	return true
}
