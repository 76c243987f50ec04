// Package scenario holds livedoc-bench's scenarios: idle, fanout, churn (a fan-out while
// connections come and go), recovery (a fan-out while transports are cut), save-to-screen, and
// issue 15's doc-view and live-list (livedoc's live documents and lists against Frappe's way).
package scenario

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/livedoc/livedoc/bench/internal/hist"
	"github.com/livedoc/livedoc/bench/internal/proc"
	"github.com/livedoc/livedoc/bench/internal/report"
	"github.com/livedoc/livedoc/bench/internal/target"
)

// Config is what the command line sets; each scenario uses the part it needs.
type Config struct {
	Target     target.Target
	Clients    int           // subscribers / connections
	Messages   int           // messages to publish (fanout); 0: Rate × Duration
	Rate       float64       // messages per second (fanout)
	Duration   time.Duration // fanout: publishing time when Messages is 0
	Timeout    time.Duration // hard bound on the whole run
	Drain      time.Duration // fanout: how long to wait for the last deliveries
	Idle       time.Duration // idle: the window over which idle CPU is measured
	Publishers int           // concurrent publishers (fanout)
	Room       string        // room to subscribe and publish to ("" = the scenario's default)
	Event      string        // event name
	Payload    int           // message size in bytes (fanout)
	PerIP      int           // connections per source address
	ConnectPar int           // concurrent connection attempts
	ServerPID  int           // 0: unknown (no server-side figures)
	Churn      float64       // churn: connections opened (and later closed) per second
	ChurnHold  time.Duration // churn: how long each churning connection stays
	Cuts       float64       // recovery: transports cut per second
	Writers    int           // save-to-screen: concurrent writers
	Docs       int           // save-to-screen: documents saved (writer w saves document w % Docs)
	NoList     bool          // save-to-screen: subscribers do not join the list (DocType) room
	Mode       string        // doc-view: delta | frappe; live-list: live | frappe
	Rows       int           // live-list: documents inserted before the load
	Progress   io.Writer     // the one-line-per-second progress (stderr)

	// WriteServerPID is the process that takes the publishes and saves when it is not ServerPID
	// (--write-url: another node of a cluster); 0: none or unknown.
	WriteServerPID int
}

// Defaults fills in unset fields.
func (c *Config) Defaults() {
	if c.Clients <= 0 {
		c.Clients = 100
	}
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Minute
	}
	if c.Drain <= 0 {
		c.Drain = 10 * time.Second
	}
	if c.Idle <= 0 {
		c.Idle = 10 * time.Second
	}
	if c.Publishers <= 0 {
		c.Publishers = 1
	}
	if c.Event == "" {
		c.Event = "livedoc_bench"
	}
	if c.Payload <= 0 {
		c.Payload = 110
	}
	if c.PerIP <= 0 {
		c.PerIP = 20000
	}
	if c.ConnectPar <= 0 {
		c.ConnectPar = 64
	}
	if c.ChurnHold <= 0 {
		c.ChurnHold = time.Second
	}
	if c.Writers <= 0 {
		c.Writers = 1
	}
	if c.Docs <= 0 {
		c.Docs = 1
	}
	if c.Progress == nil {
		c.Progress = os.Stderr
	}
}

// loadMode is cfg.Mode, checked against the scenario's modes; the first is the default.
func loadMode(name string, cfg *Config, modes ...string) (string, error) {
	if cfg.Mode == "" {
		return modes[0], nil
	}
	if !slices.Contains(modes, cfg.Mode) {
		return "", fmt.Errorf("%s: --mode must be %s or %s, not %q", name, modes[0], modes[1], cfg.Mode)
	}
	return cfg.Mode, nil
}

// paced is how many writes a paced load makes: cfg.Messages, or cfg.Rate × cfg.Duration.
func paced(name string, cfg *Config) (int, error) {
	if cfg.Rate <= 0 {
		return 0, fmt.Errorf("%s: --rate must be positive", name)
	}
	m := cfg.Messages
	if m <= 0 {
		m = int(math.Round(cfg.Rate * cfg.Duration.Seconds()))
	}
	if m <= 0 {
		return 0, fmt.Errorf("%s: give --messages or --duration", name)
	}
	return m, nil
}

// waitUntil polls done every tick until it holds, deadline passes or ctx ends.
func waitUntil(ctx context.Context, deadline time.Time, tick time.Duration, done func() bool) {
	tk := time.NewTicker(tick)
	defer tk.Stop()
	for time.Now().Before(deadline) && ctx.Err() == nil && !done() {
		<-tk.C
	}
}

// eachParallel runs fn for every x, 64 at a time, and waits for them.
func eachParallel[T any](xs []T, fn func(x T)) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for _, x := range xs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			fn(x)
		}()
	}
	wg.Wait()
}

// progress prints line() once a second until stop is called, and a final line then.
func progress(w io.Writer, name string, line func() string) (stop func()) {
	start := time.Now()
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				fmt.Fprintf(w, "%s %6.1fs %s\n", name, time.Since(start).Seconds(), line())
				return
			case <-t.C:
				fmt.Fprintf(w, "%s %6.1fs %s\n", name, time.Since(start).Seconds(), line())
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(done); wg.Wait() }) }
}

// cpuMeter measures a process's CPU time (server by pid, or this process with pid 0).
type cpuMeter struct {
	pid   int
	self  bool
	t0    time.Time
	c0    time.Duration
	lastT time.Time
	lastC time.Duration
	ok    bool
}

func newCPUMeter(pid int, self bool) *cpuMeter {
	m := &cpuMeter{pid: pid, self: self}
	m.reset()
	return m
}

func (m *cpuMeter) read() (time.Duration, bool) {
	if m.self {
		return proc.SelfCPU(), true
	}
	if m.pid <= 0 {
		return 0, false
	}
	c, err := proc.CPU(m.pid)
	return c, err == nil
}

func (m *cpuMeter) reset() {
	m.t0 = time.Now()
	m.c0, m.ok = m.read()
	m.lastT, m.lastC = m.t0, m.c0
}

// total is the CPU time and the wall time since reset.
func (m *cpuMeter) total() (cpu, wall time.Duration, ok bool) {
	c, ok := m.read()
	return c - m.c0, time.Since(m.t0), ok && m.ok
}

// recent is the CPU use in percent of one core since the previous call (for progress lines).
func (m *cpuMeter) recent() string {
	c, ok := m.read()
	now := time.Now()
	defer func() { m.lastT, m.lastC = now, c }()
	if !ok || now.Sub(m.lastT) <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f%%", 100*float64(c-m.lastC)/float64(now.Sub(m.lastT)))
}

// pool is a set of subscriber connections.
type pool struct {
	conns       []target.Conn
	connected   atomic.Int64
	failed      atomic.Int64
	disconnects atomic.Int64
	errMu       sync.Mutex
	firstErrs   []string
	took        time.Duration
	closed      bool
}

func (p *pool) noteErr(err error) {
	p.failed.Add(1)
	p.errMu.Lock()
	if len(p.firstErrs) < 5 {
		p.firstErrs = append(p.firstErrs, err.Error())
	}
	p.errMu.Unlock()
}

// connectAll dials cfg.Clients subscribers, cfg.ConnectPar at a time; opts(i) configures the i-th.
// It returns when every attempt has finished or ctx is done.
func connectAll(ctx context.Context, cfg *Config, name string, p *pool, opts func(i int) target.DialOptions) {
	p.conns = make([]target.Conn, cfg.Clients)
	src := target.NewSources(cfg.PerIP)
	server := newCPUMeter(cfg.ServerPID, false)
	stop := progress(cfg.Progress, name, func() string {
		return fmt.Sprintf("connecting: %s/%s connected, %d failed, server cpu %s",
			report.Thousands(p.connected.Load()), report.Thousands(int64(cfg.Clients)), p.failed.Load(), server.recent())
	})
	defer stop()
	start := time.Now()
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(cfg.ConnectPar, cfg.Clients) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				o := opts(i)
				o.Index, o.Transport = i, src
				dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				c, err := cfg.Target.Dial(dctx, o)
				cancel()
				if err != nil {
					p.noteErr(fmt.Errorf("client %d (from %s): %w", i, src.IP(i), err))
					continue
				}
				p.conns[i] = c
				p.connected.Add(1)
			}
		}()
	}
feed:
	for i := range cfg.Clients {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	p.took = time.Since(start)
}

// ready reports how the connections went and fails (with noneMsg when none connected) unless
// some did and ctx is still on; it returns how many connected.
func (p *pool) ready(ctx context.Context, cfg *Config, r *report.Result, noneMsg string) (int64, error) {
	p.addConnectRows(r)
	n := p.connected.Load()
	if n == 0 {
		return 0, fmt.Errorf("%s: %v", noneMsg, p.firstErrs)
	}
	if ctx.Err() != nil {
		return 0, fmt.Errorf("timed out while connecting (--timeout %s)", cfg.Timeout)
	}
	return n, nil
}

// connectedOnly is the xs (one per dial, in dial order) whose connection succeeded.
func connectedOnly[T any](p *pool, xs []T) []T {
	var live []T
	for i, x := range xs {
		if p.conns[i] != nil {
			live = append(live, x)
		}
	}
	return live
}

// addLatencyRows reports a latency histogram's p50 (with what it measures), p90, p99 and max.
func addLatencyRows(r *report.Result, lat *hist.Histogram, note string) {
	r.AddNote("latency_p50", report.Ms(lat.Quantile(0.50)), "ms", note)
	r.Add("latency_p90", report.Ms(lat.Quantile(0.90)), "ms")
	r.Add("latency_p99", report.Ms(lat.Quantile(0.99)), "ms")
	r.Add("latency_max", report.Ms(lat.Max()), "ms")
}

// closeAll closes every connection, 256 at a time, and waits (bounded) for their readers.
func (p *pool) closeAll(timeout time.Duration) (notDone int) {
	if p.closed {
		return 0
	}
	p.closed = true
	next := make(chan target.Conn)
	var wg sync.WaitGroup
	for range 256 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range next {
				c.Close()
			}
		}()
	}
	for _, c := range p.conns {
		if c != nil {
			next <- c
		}
	}
	close(next)
	wg.Wait()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	expired := false
	for _, c := range p.conns {
		if c == nil {
			continue
		}
		if expired {
			select {
			case <-c.Done():
			default:
				notDone++
			}
			continue
		}
		select {
		case <-c.Done():
		case <-deadline.C:
			expired = true
			notDone++
		}
	}
	return notDone
}

// addConnectRows reports how the connections went.
func (p *pool) addConnectRows(r *report.Result) {
	r.Add("connected", p.connected.Load(), "")
	r.Add("connect_failed", p.failed.Load(), "")
	r.Add("connect_time", p.took.Seconds(), "s")
	if p.took > 0 {
		r.Add("connect_rate", float64(p.connected.Load())/p.took.Seconds(), "/s")
	}
	for _, e := range p.firstErrs {
		r.Notes = append(r.Notes, "connect error: "+e)
	}
}

// serverMetrics reads the target's metrics when it has some.
func serverMetrics(ctx context.Context, t target.Target) map[string]float64 {
	mr, ok := t.(target.MetricsReader)
	if !ok {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	m, err := mr.Metrics(ctx)
	if err != nil {
		return nil
	}
	return m
}

// machineMeter measures the CPU time the whole machine was busy, to show how much of it went to
// processes other than the server and the generator (a shared machine is noisy).
type machineMeter struct {
	c0   time.Duration
	cpus int
	ok   bool
}

func newMachineMeter() *machineMeter {
	c, n, err := proc.MachineBusy()
	return &machineMeter{c0: c, cpus: n, ok: err == nil}
}

// addOther reports the machine's busy CPU time since creation minus the server's and the
// generator's.
func (m *machineMeter) addOther(r *report.Result, server, gen time.Duration) {
	c, _, err := proc.MachineBusy()
	if !m.ok || err != nil {
		return
	}
	r.AddNote("other_cpu", (c - m.c0 - server - gen).Seconds(), "s", "busy CPU of the rest of the machine (noise)")
}

// writerMeter measures the writer node's CPU (cfg.WriteServerPID, --write-url) when there is one;
// nil otherwise.
func writerMeter(cfg *Config) *cpuMeter {
	if cfg.WriteServerPID <= 0 {
		return nil
	}
	return newCPUMeter(cfg.WriteServerPID, false)
}

// recentWriter is ", write server cpu N%" for a progress line, or "" without a writer node.
func (m *cpuMeter) recentWriter() string {
	if m == nil {
		return ""
	}
	return ", write server cpu " + m.recent()
}

// addWriter reports the writer node's CPU over wall and returns it (0 without one), so that
// other_cpu does not count it as noise.
func (m *cpuMeter) addWriter(r *report.Result, wall time.Duration) time.Duration {
	if m == nil {
		return 0
	}
	c, _, ok := m.total()
	if !ok {
		r.Notes = append(r.Notes, fmt.Sprintf("write server pid %d: CPU not readable", m.pid))
		return 0
	}
	r.AddNote("write_server_cpu", c.Seconds(), "s", "the --write-url node (server_cpu is the --url node's)")
	r.Add("write_server_cpu_pct", 100*float64(c)/float64(wall), "%")
	return c
}

// pace hands out job numbers 0..m-1 at rate per second from start (open loop: a slow job does not
// delay the next one's due time), until m are out or ctx ends. The caller closes jobs.
func pace(ctx context.Context, start time.Time, m int, rate float64, jobs chan<- int64) {
	timer := time.NewTimer(0)
	for k := range int64(m) {
		due := start.Add(time.Duration(float64(k) * float64(time.Second) / rate))
		if d := time.Until(due); d > 0 {
			timer.Reset(d)
			select {
			case <-timer.C:
			case <-ctx.Done():
				return
			}
		}
		select {
		case jobs <- k:
		case <-ctx.Done():
			return
		}
	}
}
