package realtime

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
