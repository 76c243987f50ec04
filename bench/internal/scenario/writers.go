package scenario

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/livedoc/livedoc/bench/internal/hist"
)

// writes is the writers' side of a scenario that changes documents through the REST API
// (save-to-screen, doc-view, live-list): how many writes committed or failed, and how long each
// request took.
type writes struct {
	done, errs atomic.Int64
	lat        hist.Histogram
	mu         sync.Mutex
	firstErr   string
	end        time.Time // when the last writer finished
}

// run has n writers call write(ctx, w, k) for jobs k = 0..m-1 (writer w's index) from start: with
// rate > 0 a pacer hands the jobs out on schedule (open loop, m of them); with rate 0 each writer
// writes as fast as it goes, until m jobs (m > 0) or until start+dur. Each write is bounded by
// 10 s. It returns when every writer is done.
func (s *writes) run(ctx context.Context, start time.Time, n, m int, rate float64, dur time.Duration,
	write func(ctx context.Context, w int, k int64) error) {
	wctx, wcancel := context.WithCancel(ctx)
	if m <= 0 {
		wctx, wcancel = context.WithDeadline(ctx, start.Add(dur))
	}
	defer wcancel()
	jobs := make(chan int64, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				var k int64
				if rate > 0 {
					var ok bool
					if k, ok = <-jobs; !ok {
						return
					}
				} else {
					k = next.Add(1) - 1
					if (m > 0 && k >= int64(m)) || wctx.Err() != nil {
						return
					}
				}
				t0 := time.Now()
				sctx, scancel := context.WithTimeout(ctx, 10*time.Second)
				err := write(sctx, w, k)
				scancel()
				s.lat.Record(int64(time.Since(t0)))
				if err != nil {
					s.errs.Add(1)
					s.mu.Lock()
					if s.firstErr == "" {
						s.firstErr = err.Error()
					}
					s.mu.Unlock()
					continue
				}
				s.done.Add(1)
			}
		}()
	}
	if rate > 0 {
		pace(ctx, start, m, rate, jobs)
		close(jobs)
	}
	wg.Wait()
	s.end = time.Now()
}
