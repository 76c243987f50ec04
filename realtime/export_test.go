package realtime

import dto "github.com/prometheus/client_model/go"

// Crash stops h as a SIGKILL would stop its process: the sockets are cut and its goroutines end,
// and nothing more is written (Close saves the sessions; a killed process does not).
func Crash(h *Hub) {
	close(h.stop)
	h.sio.Close()
	h.done.Wait()
}

// LiveQueries is how many distinct live list queries h holds.
func LiveQueries(h *Hub) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.lists)
}

// LiveListUpdates is how many times h brought a live query up to date in memory, and by reading
// it from the database (livedoc_realtime_live_list_updates_total).
func LiveListUpdates(h *Hub) (memory, read float64) { return h.liveListCounts() }

func (h *Hub) liveListCounts() (memory, read float64) {
	get := func(how string) float64 {
		var m dto.Metric
		_ = h.metrics.liveLists.WithLabelValues(how).Write(&m)
		return m.GetCounter().GetValue()
	}
	return get("memory"), get("read")
}

// ParkedLists is how many live lists h keeps with sessions that can still be resumed (not past
// the changes they may hold), and the changes they hold.
func ParkedLists(h *Hub) (lists, held int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, s := range h.sessions {
		for _, sub := range s.lists {
			if sub.overflowed {
				continue
			}
			lists++
			held += len(sub.held)
		}
	}
	return lists, held
}
