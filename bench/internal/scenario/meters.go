package scenario

import (
	"fmt"
	"runtime"
	"time"

	"github.com/livedoc/livedoc/bench/internal/report"
)

// loadMeters measures the CPU of a load phase: the server's, the writer node's (--write-url),
// the generator's and the rest of the machine's over the whole phase, and each one's recent use
// for the progress lines (separate meters: a progress line must not move the totals' marks).
type loadMeters struct {
	server, writer, gen             *cpuMeter
	progServer, progWriter, progGen *cpuMeter
	machine                         *machineMeter

	srvCPU, genCPU, wall time.Duration
	srvOK                bool
}

// startLoad collects garbage (so that the generator's setup is not collected during the load)
// and starts the meters.
func startLoad(cfg *Config) *loadMeters {
	runtime.GC()
	return &loadMeters{
		server:     newCPUMeter(cfg.ServerPID, false),
		writer:     writerMeter(cfg),
		gen:        newCPUMeter(0, true),
		machine:    newMachineMeter(),
		progServer: newCPUMeter(cfg.ServerPID, false),
		progWriter: writerMeter(cfg),
		progGen:    newCPUMeter(0, true),
	}
}

// recent is "server cpu N%[, write server cpu N%], generator cpu N%" for a progress line.
func (m *loadMeters) recent() string {
	return fmt.Sprintf("server cpu %s%s, generator cpu %s", m.progServer.recent(), m.progWriter.recentWriter(), m.progGen.recent())
}

// stop takes the totals at the end of the phase; it returns the phase's wall time.
func (m *loadMeters) stop() time.Duration {
	m.srvCPU, m.wall, m.srvOK = m.server.total()
	m.genCPU, _, _ = m.gen.total()
	return m.wall
}

// addRows reports the CPU taken at stop; with perName, the server's CPU per unit of work too
// (done units, described by perNote).
func (m *loadMeters) addRows(r *report.Result, done int64, perName, perNote string) {
	if m.srvOK {
		r.Add("server_cpu", m.srvCPU.Seconds(), "s")
		r.Add("server_cpu_pct", 100*float64(m.srvCPU)/float64(m.wall), "%")
		if perName != "" && done > 0 {
			r.AddNote(perName, report.Ms(m.srvCPU/time.Duration(done)), "ms", perNote)
		}
	}
	wCPU := m.writer.addWriter(r, m.wall)
	r.Add("generator_cpu", m.genCPU.Seconds(), "s")
	r.Add("generator_cpu_pct", 100*float64(m.genCPU)/float64(m.wall), "%")
	m.machine.addOther(r, m.srvCPU+wCPU, m.genCPU)
}
