package frappert

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"time"

	"github.com/livedoc/livedoc/realtime/socketio"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Handler serves /socket.io/ (with CORS for the allowed Origins), GET /api/health, and GET
// /metrics to loopback peers only: behind Frappe's nginx, which proxies /socket.io alone, the
// metrics stay on the machine (MetricsHandler serves them elsewhere).
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", s.origins.Handler(s.sio))
	mux.HandleFunc("GET /api/health", s.serveHealth)
	mux.Handle("GET /metrics", loopbackOnly(s.MetricsHandler()))
	return mux
}

// MetricsHandler serves the Prometheus metrics, to anyone.
func (s *Server) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{})
}

// serveHealth answers 200 {"status":"ok"} while Redis answers, else 503 {"status":"degraded"}:
// sockets are still served, but no event arrives.
func (s *Server) serveHealth(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	body := map[string]any{"status": "ok"}
	status := http.StatusOK
	if err := s.redis.health(ctx); err != nil {
		body = map[string]any{"status": "degraded", "redis": err.Error()}
		status = http.StatusServiceUnavailable
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func loopbackOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ip := net.ParseIP(socketio.RemoteHost(r))
		if ip == nil || !ip.IsLoopback() {
			http.Error(w, "metrics are served to this machine only (see --metrics-addr)", http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	})
}
