package scenario

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/livedoc/livedoc/bench/internal/hist"
	"github.com/livedoc/livedoc/bench/internal/proc"
	"github.com/livedoc/livedoc/bench/internal/report"
	"github.com/livedoc/livedoc/bench/internal/target"
)

// subscriber is one fan-out receiver's bookkeeping. Only its connection's reader goroutine
// writes it; the counters are atomic for the progress line and the final sums.
type subscriber struct {
	seen       []uint64 // bitmap of sequence numbers received
	lastSeq    int64
	lastOffset int64
	uniq       atomic.Int64
	dup        atomic.Int64
	seqInv     atomic.Int64 // seq lower than the previous one's
	offInv     atomic.Int64 // server offset not above the previous one's
	bad        atomic.Int64 // unparsable payloads
	lastRecv   atomic.Int64 // UnixNano of the last delivery
	cutAt      atomic.Int64 // recovery: UnixNano of the pending cut, 0 when connected
}

// payload builds a message of about size bytes: {"seq":N,"t":UnixNano,"pad":"xxx..."}.
func payload(buf []byte, seq int64, t int64, size int) []byte {
	buf = append(buf[:0], `{"seq":`...)
	buf = strconv.AppendInt(buf, seq, 10)
	buf = append(buf, `,"t":`...)
	buf = strconv.AppendInt(buf, t, 10)
	buf = append(buf, `,"pad":"`...)
	for len(buf) < size-2 {
		buf = append(buf, 'x')
	}
	return append(buf, `"}`...)
}

// intAfter finds key (e.g. `"seq":`) in b and parses the integer after it.
func intAfter(b []byte, key string) (int64, bool) {
	i := bytes.Index(b, []byte(key))
	if i < 0 {
		return 0, false
	}
	b = b[i+len(key):]
	for len(b) > 0 && b[0] == ' ' {
		b = b[1:]
	}
	var n int64
	j := 0
	for ; j < len(b) && b[j] >= '0' && b[j] <= '9'; j++ {
		n = n*10 + int64(b[j]-'0')
	}
	return n, j > 0
}

// offsetValue parses a JSON string or number offset; -1 if there is none.
func offsetValue(b []byte) int64 {
	b = bytes.Trim(b, `"`)
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return -1
	}
	return n
}

// Fanout subscribes cfg.Clients receivers to one room (livedoc: all), publishes cfg.Messages at
// cfg.Rate through the target's publish path, each carrying its sequence number and send time,
// and reports delivery latency, throughput, losses, order and CPU.
func Fanout(ctx context.Context, cfg *Config) (*report.Result, error) {
	return fanout(ctx, cfg, "fanout")
}

// Churn is Fanout while cfg.Churn connections a second open, subscribe to the same room and close
// cfg.ChurnHold later (half cleanly, half by cutting the transport); it adds failed connects and
// the churning connections' connect time to the fan-out's figures.
func Churn(ctx context.Context, cfg *Config) (*report.Result, error) {
	if cfg.Churn <= 0 {
		return nil, fmt.Errorf("churn: --churn must be positive")
	}
	return fanout(ctx, cfg, "churn")
}

// Recovery is Fanout with reconnecting subscribers, cfg.Cuts of whose transports a second are cut
// at random (no close handshake, as a network failure) while events flow; it reports the events
// missed after reconnecting (lost), the reconnect time and how many sessions were restored.
func Recovery(ctx context.Context, cfg *Config) (*report.Result, error) {
	if cfg.Cuts <= 0 {
		return nil, fmt.Errorf("recovery: --cuts must be positive")
	}
	return fanout(ctx, cfg, "recovery")
}

func fanout(ctx context.Context, cfg *Config, name string) (*report.Result, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	room := cfg.Room
	if room == "" {
		room = cfg.Target.DefaultRoom()
	}
	if cfg.Rate <= 0 {
		return nil, fmt.Errorf("fanout: --rate must be positive")
	}
	m := cfg.Messages
	if m <= 0 {
		if cfg.Duration <= 0 {
			return nil, fmt.Errorf("fanout: give --messages or --duration")
		}
		m = int(math.Round(cfg.Rate * cfg.Duration.Seconds()))
	}
	r := &report.Result{Scenario: name, Target: cfg.Target.Name(), Started: time.Now()}
	r.Param("clients", cfg.Clients)
	r.Param("messages", m)
	r.Param("rate", cfg.Rate)
	r.Param("room", room)
	r.Param("publishers", cfg.Publishers)
	r.Param("payload_bytes", len(payload(nil, int64(m), time.Now().UnixNano(), cfg.Payload)))
	r.Param("server_pid", cfg.ServerPID)
	if cfg.WriteServerPID > 0 {
		r.Param("write_server_pid", cfg.WriteServerPID)
	}
	switch name {
	case "churn":
		r.Param("churn_per_s", cfg.Churn)
		r.Param("churn_hold", cfg.ChurnHold.String())
	case "recovery":
		r.Param("cuts_per_s", cfg.Cuts)
	}
	if lim, err := proc.RaiseNoFile(uint64(cfg.Clients) + uint64(cfg.Churn*cfg.ChurnHold.Seconds()*2) + 1024); err != nil {
		r.Notes = append(r.Notes, fmt.Sprintf("open files limit %d: %v", lim, err))
	}

	var lat, reconnLat hist.Histogram
	var reconnects, recovered, notRecovered atomic.Int64
	subs := make([]*subscriber, cfg.Clients)
	p := &pool{}
	connectAll(ctx, cfg, name, p, func(i int) target.DialOptions {
		s := &subscriber{seen: make([]uint64, (m+63)/64), lastSeq: -1, lastOffset: -1}
		subs[i] = s
		o := target.DialOptions{Rooms: []string{room}, Event: cfg.Event,
			OnDisconnect: func(string) { p.disconnects.Add(1) }}
		if name == "recovery" {
			o.Reconnect = true
			o.OnReconnect = func(ok bool) {
				if cut := s.cutAt.Swap(0); cut > 0 {
					reconnLat.Record(time.Now().UnixNano() - cut)
				}
				reconnects.Add(1)
				if ok {
					recovered.Add(1)
				} else {
					notRecovered.Add(1)
				}
			}
		}
		o.OnMessage = func(msg, offset []byte) {
			now := time.Now().UnixNano()
			seq, ok1 := intAfter(msg, `"seq":`)
			sent, ok2 := intAfter(msg, `"t":`)
			if !ok1 || !ok2 || seq >= int64(m) {
				s.bad.Add(1)
				return
			}
			lat.Record(now - sent)
			s.lastRecv.Store(now)
			if w, bit := seq/64, uint64(1)<<(seq%64); s.seen[w]&bit != 0 {
				s.dup.Add(1)
			} else {
				s.seen[w] |= bit
				s.uniq.Add(1)
			}
			if seq < s.lastSeq {
				s.seqInv.Add(1)
			}
			s.lastSeq = max(s.lastSeq, seq)
			if offset != nil {
				if off := offsetValue(offset); off >= 0 {
					if off <= s.lastOffset {
						s.offInv.Add(1)
					}
					s.lastOffset = max(s.lastOffset, off)
				}
			}
		}
		return o
	})
	defer p.closeAll(10 * time.Second)
	n, err := p.ready(ctx, cfg, r, "no subscriber connected")
	if err != nil {
		return r, err
	}
	delivered := func() (uniq int64) {
		for _, s := range subs {
			if s != nil {
				uniq += s.uniq.Load()
			}
		}
		return uniq
	}
	expected := n * int64(m)

	// Publish: a pacer hands out sequence numbers on schedule to cfg.Publishers workers.
	var published, pubErrs atomic.Int64
	var pubLat hist.Histogram
	var lagMax atomic.Int64
	var errMu sync.Mutex
	var firstPubErr string
	jobs := make(chan int64, cfg.Publishers)
	meters := startLoad(cfg)
	var lastDel int64
	lastT := time.Now()
	stop := progress(cfg.Progress, name, func() string {
		d := delivered()
		now := time.Now()
		rate := float64(d-lastDel) / now.Sub(lastT).Seconds()
		lastDel, lastT = d, now
		return fmt.Sprintf("published %s/%s (%d errors), delivered %s/%s (%s/s), disconnects %d, %s",
			report.Thousands(published.Load()), report.Thousands(int64(m)), pubErrs.Load(),
			report.Thousands(d), report.Thousands(expected), report.Thousands(int64(rate)),
			p.disconnects.Load(), meters.recent())
	})
	defer stop()

	start := time.Now()
	var disturb *disturbance
	switch name {
	case "churn":
		disturb = startChurn(ctx, cfg, room)
	case "recovery":
		disturb = startCuts(ctx, cfg, p, subs)
	}
	var wg sync.WaitGroup
	var buf = make([][]byte, cfg.Publishers)
	for w := range cfg.Publishers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seq := range jobs {
				due := start.Add(time.Duration(float64(seq) * float64(time.Second) / cfg.Rate))
				t0 := time.Now()
				if lag := int64(t0.Sub(due)); lag > lagMax.Load() {
					lagMax.Store(lag) // approximate maximum: racing stores only lose a near-equal value
				}
				buf[w] = payload(buf[w], seq, t0.UnixNano(), cfg.Payload)
				pctx, pcancel := context.WithTimeout(ctx, 10*time.Second)
				err := cfg.Target.Publish(pctx, cfg.Event, room, buf[w])
				pcancel()
				pubLat.Record(int64(time.Since(t0)))
				if err != nil {
					pubErrs.Add(1)
					errMu.Lock()
					if firstPubErr == "" {
						firstPubErr = err.Error()
					}
					errMu.Unlock()
					continue
				}
				published.Add(1)
			}
		}()
	}
	pace(ctx, start, m, cfg.Rate, jobs)
	close(jobs)
	wg.Wait()
	pubEnd := time.Now()
	if disturb != nil {
		disturb.stop()
	}

	// Drain: wait until everything published arrived, at most cfg.Drain.
	want := n * published.Load()
	waitUntil(ctx, time.Now().Add(cfg.Drain), 5*time.Millisecond, func() bool { return delivered() >= want })
	wall := meters.stop()
	stop()

	var got, dup, seqInv, offInv, bad, lastRecv int64
	for _, s := range subs {
		if s == nil {
			continue
		}
		got += s.uniq.Load()
		dup += s.dup.Load()
		seqInv += s.seqInv.Load()
		offInv += s.offInv.Load()
		bad += s.bad.Load()
		lastRecv = max(lastRecv, s.lastRecv.Load())
	}
	pubSpan := pubEnd.Sub(start)
	r.Add("published", published.Load(), "")
	r.Add("publish_errors", pubErrs.Load(), "")
	r.Add("publish_rate", float64(published.Load())/pubSpan.Seconds(), "/s")
	r.Add("publish_p50", report.Ms(pubLat.Quantile(0.5)), "ms")
	r.Add("publish_p99", report.Ms(pubLat.Quantile(0.99)), "ms")
	r.AddNote("publish_lag_max", report.Ms(time.Duration(lagMax.Load())), "ms", "behind schedule when a publish started")
	r.Add("expected", expected, "")
	r.Add("delivered", got, "")
	r.AddNote("lost", expected-got, "", fmt.Sprintf("after a %s drain", cfg.Drain))
	r.Add("duplicates", dup, "")
	r.AddNote("out_of_order", offInv, "", "server offset not increasing per client")
	r.AddNote("seq_inversions", seqInv, "", "seq not increasing per client (meaningful with 1 publisher)")
	if bad > 0 {
		r.Add("bad_payloads", bad, "")
	}
	r.Add("disconnects", p.disconnects.Load(), "")
	span := time.Duration(lastRecv - start.UnixNano())
	if lastRecv > 0 && span > 0 {
		r.AddNote("deliveries_per_s", float64(got)/span.Seconds(), "/s", "delivered / (last receive - first publish)")
	}
	r.AddNote("offered_per_s", float64(n)*cfg.Rate, "/s", "subscribers x rate")
	addLatencyRows(r, &lat, "")
	r.Add("latency_mean", report.Ms(lat.Mean()), "ms")
	r.Add("run_time", wall.Seconds(), "s")
	meters.addRows(r, 0, "", "")
	if disturb != nil {
		disturb.report(r)
	}
	if name == "recovery" {
		var pending int64
		for _, s := range subs {
			if s != nil && s.cutAt.Load() != 0 {
				pending++
			}
		}
		r.Add("reconnects", reconnects.Load(), "")
		r.AddNote("recovered", recovered.Load(), "", "session restored: missed events resent")
		r.AddNote("not_recovered", notRecovered.Load(), "", "fresh session: the server did not restore it")
		r.AddNote("still_disconnected", pending, "", "cut and not back at the end")
		r.Add("reconnect_p50", report.Ms(reconnLat.Quantile(0.50)), "ms")
		r.Add("reconnect_p99", report.Ms(reconnLat.Quantile(0.99)), "ms")
		r.Add("reconnect_max", report.Ms(reconnLat.Max()), "ms")
		r.Notes = append(r.Notes, "reconnect time: cut to the reconnected CONNECT answer, including the client's backoff (first attempt after 50-150 ms)")
	}
	if firstPubErr != "" {
		r.Notes = append(r.Notes, "first publish error: "+firstPubErr)
	}
	if ms := serverMetrics(ctx, cfg.Target); ms != nil {
		r.AddNote("server_queue_drops", int64(ms["livedoc_realtime_queue_drops_total"]), "", "from /metrics (whole server life)")
	}
	if ctx.Err() != nil {
		r.Notes = append(r.Notes, fmt.Sprintf("stopped by --timeout %s", cfg.Timeout))
	}
	return r, nil
}
