package scenario

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/livedoc/livedoc/bench/internal/hist"
	"github.com/livedoc/livedoc/bench/internal/report"
	"github.com/livedoc/livedoc/bench/internal/target"
)

// disturbance runs beside a fan-out's publishing (churn, cuts) until stop.
type disturbance struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	report func(r *report.Result)
}

func (d *disturbance) stop() {
	d.cancel()
	d.wg.Wait()
}

// tick calls fn(k) for k = 0, 1, ... at rate per second until ctx is done.
func tick(ctx context.Context, rate float64, fn func(k int)) {
	start := time.Now()
	t := time.NewTimer(0)
	defer t.Stop()
	for k := 0; ; k++ {
		due := start.Add(time.Duration(float64(k) * float64(time.Second) / rate))
		if d := time.Until(due); d > 0 {
			t.Reset(d)
			select {
			case <-t.C:
			case <-ctx.Done():
				return
			}
		} else if ctx.Err() != nil {
			return
		}
		fn(k)
	}
}

// startChurn opens cfg.Churn connections a second to room, from source addresses of their own
// (127.0.1.2, ...), each closed cfg.ChurnHold later: even ones cleanly, odd ones by cutting the
// transport when the target can.
func startChurn(ctx context.Context, cfg *Config, room string) *disturbance {
	ctx, cancel := context.WithCancel(ctx)
	d := &disturbance{cancel: cancel}
	src := target.NewSources(cfg.PerIP)
	src.First = net.IPv4(127, 0, 1, 2)
	var opened, failed, closedN atomic.Int64
	var connLat hist.Histogram
	var errMu sync.Mutex
	var firstErr string
	var conns sync.WaitGroup
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		tick(ctx, cfg.Churn, func(k int) {
			conns.Add(1)
			go func() {
				defer conns.Done()
				t0 := time.Now()
				dctx, dcancel := context.WithTimeout(context.Background(), 20*time.Second)
				c, err := cfg.Target.Dial(dctx, target.DialOptions{Index: k, Transport: src, Rooms: []string{room}, Event: cfg.Event})
				dcancel()
				if err != nil {
					failed.Add(1)
					errMu.Lock()
					if firstErr == "" {
						firstErr = err.Error()
					}
					errMu.Unlock()
					return
				}
				connLat.Record(int64(time.Since(t0)))
				opened.Add(1)
				select {
				case <-time.After(cfg.ChurnHold):
				case <-ctx.Done():
				}
				if cut, ok := c.(target.Cutter); ok && k%2 == 1 {
					cut.CloseTransport()
				}
				c.Close()
				closedN.Add(1)
			}()
		})
		conns.Wait()
	}()
	d.report = func(r *report.Result) {
		r.Add("churn_connects", opened.Load(), "")
		r.AddNote("churn_failed", failed.Load(), "", "failed connects (and subscriptions) while churning")
		r.Add("churn_closed", closedN.Load(), "")
		r.Add("churn_connect_p50", report.Ms(connLat.Quantile(0.5)), "ms")
		r.Add("churn_connect_p99", report.Ms(connLat.Quantile(0.99)), "ms")
		if firstErr != "" {
			r.Notes = append(r.Notes, "first churn connect error: "+firstErr)
		}
	}
	return d
}

// startCuts cuts cfg.Cuts transports a second, each of a random connected subscriber that is not
// already reconnecting.
func startCuts(ctx context.Context, cfg *Config, p *pool, subs []*subscriber) *disturbance {
	ctx, cancel := context.WithCancel(ctx)
	d := &disturbance{cancel: cancel}
	var cuts, skipped atomic.Int64
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		tick(ctx, cfg.Cuts, func(int) {
			for range 10 { // a few tries to find one that is connected
				i := rand.IntN(len(subs))
				c, ok := p.conns[i].(target.Cutter)
				if !ok || subs[i] == nil || !subs[i].cutAt.CompareAndSwap(0, time.Now().UnixNano()) {
					continue
				}
				c.CloseTransport()
				cuts.Add(1)
				return
			}
			skipped.Add(1)
		})
	}()
	d.report = func(r *report.Result) {
		r.Add("cuts", cuts.Load(), "")
		if skipped.Load() > 0 {
			r.AddNote("cuts_skipped", skipped.Load(), "", "no connected subscriber found to cut")
		}
		if len(p.conns) > 0 {
			if _, ok := p.conns[0].(target.Cutter); !ok {
				r.Notes = append(r.Notes, fmt.Sprintf("target %s connections cannot be cut", cfg.Target.Name()))
			}
		}
	}
	return d
}
