package socketio

import (
	"context"
	"sync"
	"testing"
)

// BenchmarkFanout sends one pre-encoded event to many WebSocket sockets and
// waits until every client has read it; it reports deliveries per second.
// The clients run in the same process, so the number is a floor. Each Send
// writes at once: one system call per delivery.
func BenchmarkFanout(b *testing.B) { benchmarkFanout(b, 1) }

// BenchmarkFanoutBatch sends the events in rounds of 8 through a Batch, as
// the hub's fan-out does when it falls behind: one system call per socket
// per round.
func BenchmarkFanoutBatch(b *testing.B) { benchmarkFanout(b, 8) }

func benchmarkFanout(b *testing.B, round int) {
	const sockets = 200
	app := newTestApp(b, func(o *Options) { o.SendQueueBytes = 64 << 20 })
	var wg sync.WaitGroup
	for range sockets {
		c, _ := wsHandshake(b, app.url)
		c.write("40")
		expectPrefix(b, c.read(), "40{")
		c.write(`421["transport"]`) // answered after OnConnect has returned
		expectEqual(b, c.read(), `431["websocket"]`)
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := context.Background()
			for n := 0; n < b.N; {
				_, m, err := c.c.Read(ctx)
				if err != nil {
					b.Error(err)
					return
				}
				if m[0] == '4' {
					n++
				}
			}
		}()
	}
	targets := app.namespace("/")
	p, _ := NewEvent("doc:update", map[string]any{"doctype": "Note", "name": "N-0001", "modified": "2025-01-01 00:00:00"}, "offset-1")
	b.ReportAllocs()
	b.ResetTimer()
	var batch Batch
	for i := range b.N {
		for _, s := range targets {
			if err := s.SendBatched(p, &batch); err != nil {
				b.Fatal(err)
			}
		}
		if (i+1)%round == 0 || i == b.N-1 {
			batch.Flush()
		}
	}
	wg.Wait()
	b.ReportMetric(float64(b.N*sockets)/b.Elapsed().Seconds(), "deliveries/s")
}
