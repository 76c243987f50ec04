package realtime

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

type metrics struct {
	reg           *prometheus.Registry
	connections   prometheus.Gauge
	rooms         prometheus.Gauge
	published     prometheus.Counter
	delivered     prometheus.Counter
	queueDrops    prometheus.Counter
	publishErrors prometheus.Counter
	pruned        prometheus.Counter
	recoveries    *prometheus.CounterVec
	fanoutSeconds prometheus.Histogram
	busDown       prometheus.Gauge
	liveLists     *prometheus.CounterVec
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		connections: prometheus.NewGauge(prometheus.GaugeOpts{Name: "livedoc_realtime_connections",
			Help: "Connected Socket.IO sockets and SSE streams."}),
		rooms: prometheus.NewGauge(prometheus.GaugeOpts{Name: "livedoc_realtime_rooms",
			Help: "Rooms with at least one subscriber on this node."}),
		published: prometheus.NewCounter(prometheus.CounterOpts{Name: "livedoc_realtime_events_published_total",
			Help: "Events handed to the bus."}),
		delivered: prometheus.NewCounter(prometheus.CounterOpts{Name: "livedoc_realtime_events_delivered_total",
			Help: "Events queued to a subscriber (one per subscriber)."}),
		queueDrops: prometheus.NewCounter(prometheus.CounterOpts{Name: "livedoc_realtime_queue_drops_total",
			Help: "Deliveries refused because a subscriber's send queue was full (it is disconnected and recovers)."}),
		publishErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "livedoc_realtime_publish_errors_total",
			Help: "Publishes the bus refused."}),
		pruned: prometheus.NewCounter(prometheus.CounterOpts{Name: "livedoc_realtime_log_pruned_total",
			Help: "Events pruned from the event log."}),
		recoveries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "livedoc_realtime_recoveries_total",
			Help: "Connection state recoveries by outcome."}, []string{"outcome"}),
		fanoutSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "livedoc_realtime_fanout_seconds",
			Help:    "From the bus handing a batch to this node until it is written to every subscriber (or queued behind a full socket).",
			Buckets: prometheus.ExponentialBuckets(0.00005, 2, 16)}),
		busDown: prometheus.NewGauge(prometheus.GaugeOpts{Name: "livedoc_realtime_bus_down",
			Help: "1 while the bus (Redis) does not answer, as last seen by a health check or publish."}),
		liveLists: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "livedoc_realtime_live_list_updates_total",
			Help: "Live list queries brought up to date, by how: memory (a change matched in memory, no SQL) or read (the query read from the database: a first snapshot, or a change memory could not decide)."},
			[]string{"how"}),
	}
	m.reg.MustRegister(m.connections, m.rooms, m.published, m.delivered, m.queueDrops, m.publishErrors,
		m.pruned, m.recoveries, m.fanoutSeconds, m.busDown, m.liveLists, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// MetricsHandler serves the hub's Prometheus metrics.
func (h *Hub) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(h.metrics.reg, promhttp.HandlerOpts{})
}
