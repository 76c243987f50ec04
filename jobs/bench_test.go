package jobs_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/livedoc/livedoc/doc"
	"github.com/livedoc/livedoc/jobs"
	"github.com/livedoc/livedoc/store/storetest"
)

// Jobs per second through the queue: b.N jobs enqueued (in batches of 100 per transaction), then
// run by the node's two workers, each claim and each end a transaction of its own.
func BenchmarkJobs(b *testing.B) {
	env := newApp(b, storetest.DSN(b), jobs.Config{Poll: 10 * time.Millisecond})
	var done atomic.Int64
	env.App.HandleJob("noop", func(j *jobs.Job) error { done.Add(1); return nil })
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i += 100 {
		err := env.App.Engine.Run(ctx, doc.AdminUser, true, func(c *doc.Context) error {
			for k := i; k < min(i+100, b.N); k++ {
				if _, err := env.App.Jobs.Enqueue(c, "noop", map[string]any{"k": k}, jobs.Options{}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	env.App.Jobs.Start()
	for done.Load() < int64(b.N) {
		time.Sleep(time.Millisecond)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
}
