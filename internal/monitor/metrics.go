package monitor

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are opsroom's Prometheus metrics: counters and histograms the
// observers feed, and gauges read from the fleet and the watcher at scrape.
type metrics struct {
	registry *prometheus.Registry

	commands        *prometheus.CounterVec
	commandDuration *prometheus.HistogramVec
	execDuration    *prometheus.HistogramVec
	execErrors      *prometheus.CounterVec
	probeDuration   *prometheus.HistogramVec
	alerts          *prometheus.CounterVec
	deliveryRetries prometheus.Counter
	deliveryLag     prometheus.Histogram
}

// Buckets, in seconds: remote commands and probes take milliseconds to a
// command timeout; commands up to an update's 15 minutes.
var (
	execBuckets    = []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}
	commandBuckets = []float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900}
	lagBuckets     = []float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 3600}
)

func newMetrics(m *Monitor) *metrics {
	x := &metrics{
		registry: prometheus.NewRegistry(),
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "opsroom_commands_total", Help: "Commands answered, by verb and result (ok, failed, invalid, denied, pending, cancelled).",
		}, []string{"verb", "result"}),
		commandDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "opsroom_command_duration_seconds", Help: "Time from a command to its answer, by the host of its service (\"\" for none).",
			Buckets: commandBuckets,
		}, []string{"host"}),
		execDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "opsroom_remote_exec_duration_seconds", Help: "Remote commands over SSH, waiting for a session included, by host.",
			Buckets: execBuckets,
		}, []string{"host"}),
		execErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "opsroom_remote_exec_errors_total", Help: "Remote commands that did not run to an exit (unreachable, timed out, refused, cancelled), by host.",
		}, []string{"host"}),
		probeDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "opsroom_probe_duration_seconds", Help: "The watcher's probes of a host's services, by host.",
			Buckets: execBuckets,
		}, []string{"host"}),
		alerts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "opsroom_alerts_total", Help: "Alerts raised (stored for delivery, or recorded while muted), by kind.",
		}, []string{"kind"}),
		deliveryRetries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "opsroom_alert_delivery_retries_total", Help: "Tries at posting an alert that failed and are made again.",
		}),
		deliveryLag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "opsroom_alert_delivery_lag_seconds", Help: "Time from an alert raised to it posted in a room.",
			Buckets: lagBuckets,
		}),
	}
	x.registry.MustRegister(x.commands, x.commandDuration, x.execDuration, x.execErrors, x.probeDuration,
		x.alerts, x.deliveryRetries, x.deliveryLag,
		&stateCollector{m: m},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return x
}

func (x *metrics) handler() http.Handler {
	return promhttp.HandlerFor(x.registry, promhttp.HandlerOpts{})
}

// stateCollector reads the fleet's connections, the watcher's hosts and
// the waiting confirmations when scraped: gauges of what is, not counts.
type stateCollector struct{ m *Monitor }

var (
	connUpDesc = prometheus.NewDesc("opsroom_ssh_connection_up",
		"Whether opsroom's SSH connection to the host is open (1) or not (0; dialled again when next needed).", []string{"host"}, nil)
	sessionsDesc = prometheus.NewDesc("opsroom_ssh_sessions_in_use",
		"SSH sessions open on the connection to the host, event streams included.", []string{"host"}, nil)
	sessionsMaxDesc = prometheus.NewDesc("opsroom_ssh_sessions_max",
		"The host's max_sessions.", []string{"host"}, nil)
	probeAgeDesc = prometheus.NewDesc("opsroom_last_probe_age_seconds",
		"Time since the watcher's last probe of the host (hosts probed at least once).", []string{"host"}, nil)
	streamsDesc = prometheus.NewDesc("opsroom_event_stream_connected",
		"Whether the host's event stream of an engine (Docker, Podman, systemd, systemd --user, as !watch names them) is connected.", []string{"host", "engine"}, nil)
	confirmationsDesc = prometheus.NewDesc("opsroom_confirmations_pending",
		"Commands waiting for a confirmation now.", nil, nil)
	lastSyncDesc = prometheus.NewDesc("opsroom_matrix_last_sync_timestamp_seconds",
		"When the last Matrix sync response was handled (Unix time; absent before the first).", nil, nil)
)

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{connUpDesc, sessionsDesc, sessionsMaxDesc, probeAgeDesc, streamsDesc, confirmationsDesc, lastSyncDesc} {
		ch <- d
	}
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	m := c.m
	for _, conn := range m.deps.Fleet.Connections() {
		ch <- prometheus.MustNewConstMetric(connUpDesc, prometheus.GaugeValue, boolValue(conn.Up), conn.Host)
		ch <- prometheus.MustNewConstMetric(sessionsDesc, prometheus.GaugeValue, float64(conn.SessionsInUse), conn.Host)
		ch <- prometheus.MustNewConstMetric(sessionsMaxDesc, prometheus.GaugeValue, float64(conn.MaxSessions), conn.Host)
	}
	if m.watcher != nil {
		now := time.Now()
		for _, h := range m.watcher.Hosts() {
			if !h.LastProbe.IsZero() {
				ch <- prometheus.MustNewConstMetric(probeAgeDesc, prometheus.GaugeValue, now.Sub(h.LastProbe).Seconds(), h.Host)
			}
			for _, s := range h.Streams {
				ch <- prometheus.MustNewConstMetric(streamsDesc, prometheus.GaugeValue, boolValue(s.Connected), h.Host, s.Engine)
			}
		}
	}
	if m.deps.Confirmations != nil {
		ch <- prometheus.MustNewConstMetric(confirmationsDesc, prometheus.GaugeValue, float64(m.deps.Confirmations()))
	}
	m.mu.Lock()
	lastOK := m.sync.lastOK
	m.mu.Unlock()
	if !lastOK.IsZero() {
		ch <- prometheus.MustNewConstMetric(lastSyncDesc, prometheus.GaugeValue, float64(lastOK.UnixNano())/1e9)
	}
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
