package scenario

import (
	"context"
	"fmt"
	"runtime"
	"time"

	"github.com/livedoc/livedoc/bench/internal/proc"
	"github.com/livedoc/livedoc/bench/internal/report"
	"github.com/livedoc/livedoc/bench/internal/target"
)

// Idle opens cfg.Clients connections, each subscribed to cfg.Room (livedoc: the bench DocType's list room),
// keeps them idle for cfg.Idle and reports the server's resident memory per connection and its
// CPU use while idle, plus the generator's own memory per client.
func Idle(ctx context.Context, cfg *Config) (*report.Result, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	room := cfg.Room
	if room == "" {
		room = cfg.Target.DefaultRoom()
		if ir, ok := cfg.Target.(interface{ IdleRoom() string }); ok {
			room = ir.IdleRoom()
		}
	}
	r := &report.Result{Scenario: "idle", Target: cfg.Target.Name(), Started: time.Now()}
	r.Param("clients", cfg.Clients)
	r.Param("room", room)
	r.Param("idle", cfg.Idle.String())
	r.Param("per_ip", cfg.PerIP)
	r.Param("server_pid", cfg.ServerPID)

	if lim, err := proc.RaiseNoFile(uint64(cfg.Clients) + 1024); err != nil {
		r.Notes = append(r.Notes, fmt.Sprintf("open files limit %d: %v", lim, err))
	}
	var srvBefore proc.Status
	var err error
	if cfg.ServerPID > 0 {
		if srvBefore, err = proc.ReadStatus(cfg.ServerPID); err != nil {
			return nil, fmt.Errorf("server pid %d: %w", cfg.ServerPID, err)
		}
	} else {
		r.Notes = append(r.Notes, "no --server-pid: server memory and CPU not measured")
	}
	mBefore := serverMetrics(ctx, cfg.Target)
	runtime.GC()
	genBefore, _ := proc.ReadStatus(0)

	p := &pool{}
	connectAll(ctx, cfg, "idle", p, func(i int) target.DialOptions {
		return target.DialOptions{Rooms: []string{room}, Event: cfg.Event,
			OnDisconnect: func(string) { p.disconnects.Add(1) }}
	})
	defer p.closeAll(10 * time.Second)
	n, err := p.ready(ctx, cfg, r, "no connection succeeded")
	if err != nil {
		return r, err
	}

	// The idle window: CPU over it, memory at its end.
	server := newCPUMeter(cfg.ServerPID, false)
	gen := newCPUMeter(0, true)
	machine := newMachineMeter()
	stop := progress(cfg.Progress, "idle", func() string {
		return fmt.Sprintf("idle: %s connected, %d disconnected, server cpu %s",
			report.Thousands(n-p.disconnects.Load()), p.disconnects.Load(), server.recent())
	})
	select {
	case <-time.After(cfg.Idle):
	case <-ctx.Done():
	}
	stop()
	srvCPU, wall, cpuOK := server.total()
	genCPU, _, _ := gen.total()
	r.AddNote("lost", p.disconnects.Load(), "", "connections dropped while idle")

	if cfg.ServerPID > 0 {
		after, err := proc.ReadStatus(cfg.ServerPID)
		if err != nil {
			return r, fmt.Errorf("server pid %d: %w", cfg.ServerPID, err)
		}
		r.Add("server_rss_before", float64(srvBefore.VmRSS)/(1<<20), "MiB")
		r.Add("server_rss_after", float64(after.VmRSS)/(1<<20), "MiB")
		r.Add("server_rss_per_conn", float64(after.VmRSS-srvBefore.VmRSS)/float64(n)/1024, "KiB")
		r.Add("server_anon_per_conn", float64(after.RssAnon-srvBefore.RssAnon)/float64(n)/1024, "KiB")
		r.Add("server_threads", after.Threads, "")
		if cpuOK {
			r.Add("server_cpu_idle", srvCPU.Seconds(), "s")
			r.Add("server_cpu_idle_pct", 100*float64(srvCPU)/float64(wall), "%")
		}
	}
	if mAfter := serverMetrics(ctx, cfg.Target); mBefore != nil && mAfter != nil {
		d := func(k string) float64 { return mAfter[k] - mBefore[k] }
		r.AddNote("server_heap_inuse_per_conn", d("go_memstats_heap_inuse_bytes")/float64(n)/1024, "KiB", "Go heap in use (from /metrics)")
		r.AddNote("server_stack_per_conn", d("go_memstats_stack_inuse_bytes")/float64(n)/1024, "KiB", "goroutine stacks (from /metrics)")
		r.AddNote("server_goroutines_per_conn", d("go_goroutines")/float64(n), "", "")
		r.Add("server_connections_gauge", mAfter["livedoc_realtime_connections"], "")
	}
	genAfter, _ := proc.ReadStatus(0)
	r.AddNote("generator_rss_per_client", float64(genAfter.VmRSS-genBefore.VmRSS)/float64(n)/1024, "KiB", "for information")
	r.Add("generator_cpu_idle", genCPU.Seconds(), "s")
	machine.addOther(r, srvCPU, genCPU)
	if nd := p.closeAll(10 * time.Second); nd > 0 {
		r.Notes = append(r.Notes, fmt.Sprintf("%d clients had not finished closing after 10s", nd))
	}
	return r, nil
}
