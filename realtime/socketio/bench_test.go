package socketio

import (
	"context"
	"sync"
	"testing"
)

// BenchmarkFanout sends one pre-encoded event to many WebSocket sockets and
// waits until every client has read it; it reports deliveries per second.
// The clients run in the same process, so the number is a floor.
func BenchmarkFanout(b *testing.B) {
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
	for range b.N {
		for _, s := range targets {
			if err := s.Send(p); err != nil {
				b.Fatal(err)
			}
		}
	}
	wg.Wait()
	b.ReportMetric(float64(b.N*sockets)/b.Elapsed().Seconds(), "deliveries/s")
}
