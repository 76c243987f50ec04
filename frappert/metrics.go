package frappert

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

type metrics struct {
	reg           *prometheus.Registry
	connections   prometheus.Gauge
	connects      *prometheus.CounterVec
	received      prometheus.Counter
	malformed     prometheus.Counter
	delivered     prometheus.Counter
	queueDrops    prometheus.Counter
	recovered     prometheus.Counter
	denied        *prometheus.CounterVec
	permissions   *prometheus.CounterVec
	siteErrors    *prometheus.CounterVec
	siteSeconds   *prometheus.HistogramVec
	siteShared    *prometheus.CounterVec
	streamDrops   prometheus.Counter
	fanoutSeconds prometheus.Histogram
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		connections: prometheus.NewGauge(prometheus.GaugeOpts{Name: "frappe_realtime_connections",
			Help: "Connected sockets."}),
		connects: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "frappe_realtime_connects_total",
			Help: "Namespace CONNECTs by outcome: fresh, recovered, refused, site_unavailable."}, []string{"outcome"}),
		received: prometheus.NewCounter(prometheus.CounterOpts{Name: "frappe_realtime_events_received_total",
			Help: "Events read from the Redis events channel."}),
		malformed: prometheus.NewCounter(prometheus.CounterOpts{Name: "frappe_realtime_events_malformed_total",
			Help: "Messages on the events channel that were not Frappe's shape."}),
		delivered: prometheus.NewCounter(prometheus.CounterOpts{Name: "frappe_realtime_events_delivered_total",
			Help: "Events queued to a socket (one per socket)."}),
		queueDrops: prometheus.NewCounter(prometheus.CounterOpts{Name: "frappe_realtime_queue_drops_total",
			Help: "Sockets dropped because their send queue was full (they reconnect and recover)."}),
		recovered: prometheus.NewCounter(prometheus.CounterOpts{Name: "frappe_realtime_events_replayed_total",
			Help: "Events sent again to sockets that recovered their session."}),
		denied: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "frappe_realtime_denied_total",
			Help: "Client events refused, by event."}, []string{"event"}),
		permissions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "frappe_realtime_permission_checks_total",
			Help: "Permission checks by source: cached, asked (the site answered, maybe in a call shared with identical asks in flight), error."}, []string{"source"}),
		siteErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "frappe_realtime_site_errors_total",
			Help: "Calls to a site that failed (down, slow, 5xx, not JSON), by site."}, []string{"site"}),
		siteSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "frappe_realtime_site_call_seconds",
			Help: "Duration of calls to the sites, by method.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)}, []string{"method"}),
		siteShared: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "frappe_realtime_site_calls_shared_total",
			Help: "Calls to a site not made because an identical one (same site, credential, method, arguments) was in flight: its answer was shared."}, []string{"method"}),
		streamDrops: prometheus.NewCounter(prometheus.CounterOpts{Name: "frappe_realtime_stream_drops_total",
			Help: "Events and session changes not copied to the Redis stream (--redis-stream) because Redis could not keep up."}),
		fanoutSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "frappe_realtime_fanout_seconds",
			Help:    "From reading an event off Redis until it is written to every socket of its room.",
			Buckets: prometheus.ExponentialBuckets(0.00005, 2, 16)}),
	}
	m.reg.MustRegister(m.connections, m.connects, m.received, m.malformed, m.delivered, m.queueDrops, m.recovered,
		m.denied, m.permissions, m.siteErrors, m.siteSeconds, m.siteShared, m.streamDrops, m.fanoutSeconds,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}
