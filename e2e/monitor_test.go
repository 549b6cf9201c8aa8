package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/opsroom/opsroom/internal/testworld"
)

// withHTTP turns on opsroom's health and metrics listener, on a free loopback port.
func (w *world) withHTTP(t testing.TB) string {
	t.Helper()
	listen := fmt.Sprintf("127.0.0.1:%d", testworld.FreePort(t))
	if w.top == nil {
		w.top = map[string]any{}
	}
	w.top["http"] = map[string]any{"listen": listen}
	return listen
}

// httpListen is the address of opsroom's health and metrics listener in its
// config, if the test turned it on.
func (w *world) httpListen() (string, bool) {
	h, _ := w.top["http"].(map[string]any)
	listen, ok := h["listen"].(string)
	return listen, ok
}

// healthz is what /healthz answered: the status code and the report.
type healthz struct {
	code   int
	report struct {
		OK   bool `json:"ok"`
		Sync struct {
			OK     bool   `json:"ok"`
			Reason string `json:"reason"`
		} `json:"sync"`
		Database struct {
			OK bool `json:"ok"`
		} `json:"database"`
		Watcher struct {
			OK bool `json:"ok"`
		} `json:"watcher"`
	}
	body string
}

func getHealthz(t testing.TB, listen string) healthz {
	t.Helper()
	resp, err := http.Get("http://" + listen + "/healthz")
	if err != nil {
		t.Fatalf("GET /healthz: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	h := healthz{code: resp.StatusCode, body: string(body)}
	if err := json.Unmarshal(body, &h.report); err != nil {
		t.Fatalf("/healthz answered %d %q: %v", resp.StatusCode, body, err)
	}
	return h
}

// healthcheck runs `opsroom -healthcheck` on the world's config, as the image's HEALTHCHECK does.
func (w *world) healthcheck(t testing.TB) (int, string) {
	t.Helper()
	cmd := exec.Command(testworld.GoBinary(t, "./cmd/opsroom"), "-healthcheck", "-config", filepath.Join(w.dir, "config.yaml"))
	out, _ := cmd.CombinedOutput()
	return cmd.ProcessState.ExitCode(), string(out)
}

// TestHealthzFollowsTheHomeserver: /healthz (and -healthcheck) say healthy
// while opsroom syncs, writes its database and probes; 503 naming the sync
// while the homeserver is stopped; healthy again once it is back.
func TestHealthzFollowsTheHomeserver(t *testing.T) {
	ownHomeserver(t)
	w := watchWorld(t)
	listen := w.withHTTP(t)
	c := testworld.RunContainer(t, testworld.UniqueName(t, "web"), nil)
	w.startOpsroom(t, map[string]host{"local": w.localHost()}, map[string]service{"web": containerService(c)})

	eventually(t, "/healthz 200 once started", func() bool { return getHealthz(t, listen).code == http.StatusOK })
	if h := getHealthz(t, listen); !h.report.OK || !h.report.Sync.OK || !h.report.Database.OK || !h.report.Watcher.OK {
		t.Errorf("healthy /healthz %s", h.body)
	}
	if code, out := w.healthcheck(t); code != 0 || !strings.Contains(out, "healthy") {
		t.Errorf("-healthcheck while healthy: exit %d, %q; want 0, healthy", code, out)
	}

	w.hs.Stop(t)
	eventually(t, "/healthz 503 with the homeserver stopped", func() bool {
		return getHealthz(t, listen).code == http.StatusServiceUnavailable
	})
	h := getHealthz(t, listen)
	if h.report.OK || h.report.Sync.OK || !strings.Contains(h.report.Sync.Reason, "syncing with the homeserver has failed") ||
		!h.report.Database.OK || !h.report.Watcher.OK {
		t.Errorf("/healthz with the homeserver stopped: %s; want only the sync failing, with its reason", h.body)
	}
	if code, out := w.healthcheck(t); code != 1 || !strings.Contains(out, "sync: syncing with the homeserver has failed") {
		t.Errorf("-healthcheck with the homeserver stopped: exit %d, %q; want 1 and the sync's reason", code, out)
	}

	w.hs.Start(t)
	eventually(t, "/healthz 200 once the homeserver is back", func() bool { return getHealthz(t, listen).code == http.StatusOK })
}

func scrapeMetrics(t testing.TB, listen string) map[string]*dto.MetricFamily {
	t.Helper()
	families, err := tryScrape(listen)
	if err != nil {
		t.Fatal(err)
	}
	return families
}

// tryScrape is scrapeMetrics for a listener that may not be up yet.
func tryScrape(listen string) (map[string]*dto.MetricFamily, error) {
	resp, err := http.Get("http://" + listen + "/metrics")
	if err != nil {
		return nil, fmt.Errorf("GET /metrics: %w", err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("parsing /metrics: %w", err)
	}
	return families, nil
}

// metricValue is the value of the metric with exactly these labels: a
// counter's or gauge's value, a histogram's count; 0 when there is none.
func metricValue(families map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	for _, m := range families[name].GetMetric() {
		match := len(m.GetLabel()) == len(labels)
		for _, l := range m.GetLabel() {
			match = match && labels[l.GetName()] == l.GetValue()
		}
		switch {
		case !match:
		case m.Counter != nil:
			return m.GetCounter().GetValue()
		case m.Gauge != nil:
			return m.GetGauge().GetValue()
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount())
		}
	}
	return 0
}

// TestMetricsCountCommands: /metrics, parsed as Prometheus reads it, shows
// the command counter moving after a !status, and the SSH side of it.
func TestMetricsCountCommands(t *testing.T) {
	w := newWorld(t)
	listen := w.withHTTP(t)
	c := testworld.RunContainer(t, testworld.UniqueName(t, "web"), nil)
	w.startOpsroom(t, map[string]host{"local": w.localHost()}, map[string]service{"web": containerService(c)})

	statusOK := map[string]string{"verb": "status", "result": "ok"}
	before := metricValue(scrapeMetrics(t, listen), "opsroom_commands_total", statusOK)
	mustContain(t, "status", w.ask(t, w.alice, "!status web"), "**running**")
	eventually(t, "the command counter moving", func() bool {
		return metricValue(scrapeMetrics(t, listen), "opsroom_commands_total", statusOK) == before+1
	})
	f := scrapeMetrics(t, listen)
	local := map[string]string{"host": "local"}
	for name, least := range map[string]float64{
		"opsroom_command_duration_seconds":     1,
		"opsroom_remote_exec_duration_seconds": 1,
		"opsroom_probe_duration_seconds":       1,
		"opsroom_ssh_connection_up":            1,
		"opsroom_ssh_sessions_max":             8,
	} {
		if got := metricValue(f, name, local); got < least {
			t.Errorf("%s{host=local} = %v, want at least %v", name, got, least)
		}
	}
	eventually(t, "opsroom_event_stream_connected{host=local,engine=Docker} 1", func() bool {
		return metricValue(scrapeMetrics(t, listen), "opsroom_event_stream_connected", map[string]string{"host": "local", "engine": "Docker"}) == 1
	})
	for _, name := range []string{"opsroom_last_probe_age_seconds", "opsroom_confirmations_pending", "go_goroutines", "process_resident_memory_bytes"} {
		if f[name] == nil {
			t.Errorf("/metrics lacks %s", name)
		}
	}
}

func anyHasPrefix(list []string, prefix string) bool {
	for _, s := range list {
		if strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return false
}

// TestHeartbeatPingsAndFailsWhileTheHomeserverIsAway: healthy watcher
// cycles ping the URL; with the homeserver cut off the pings go to URL/fail
// with the reason; once it is back, to the URL again. The URL's token never
// reaches the log.
func TestHeartbeatPingsAndFailsWhileTheHomeserverIsAway(t *testing.T) {
	w := watchWorld(t)
	sw := &testworld.Recorder{}
	srv := httptest.NewServer(sw)
	defer srv.Close()
	const token = "3f9c2e-heartbeat-token"
	tp := testworld.StartToxiproxy(t)
	hs := tp.Proxy(t, "homeserver", strings.TrimPrefix(w.hs.URL, "http://"))
	w.matrix = map[string]any{"homeserver": "http://" + hs.Addr}
	w.top = map[string]any{"heartbeat": map[string]any{
		"url":      map[string]string{"file": w.secretFile(t, "heartbeat-url", srv.URL+"/ping/"+token)},
		"interval": "1s",
	}}
	c := testworld.RunContainer(t, testworld.UniqueName(t, "web"), nil)
	o := w.startOpsroom(t, map[string]host{"local": w.localHost()}, map[string]service{"web": containerService(c)})

	// Healthy from its first GET on (before the first sync, a loaded
	// machine may rightly ping /fail: "no sync with the homeserver yet").
	eventually(t, "a healthy ping", func() bool { return anyHasPrefix(sw.Since(0), "GET /ping/"+token) })
	healthy := slices.Index(sw.Since(0), "GET /ping/"+token)
	time.Sleep(2 * time.Second) // a ping or two more
	if got := sw.Since(healthy); anyHasPrefix(got, "POST") {
		t.Errorf("pings while healthy: %q, want GETs only", got)
	}

	hs.SetEnabled(t, false)
	cut := len(sw.Since(0))
	eventually(t, "a /fail ping with the homeserver away", func() bool {
		return anyHasPrefix(sw.Since(cut), "POST /ping/"+token+"/fail: sync: syncing with the homeserver has failed")
	})

	hs.SetEnabled(t, true)
	back := len(sw.Since(0))
	eventually(t, "healthy pings again", func() bool {
		got := sw.Since(back)
		return len(got) > 0 && got[len(got)-1] == "GET /ping/"+token
	})
	time.Sleep(time.Second) // a ping or two more, for the log check
	if strings.Contains(o.log(), token) {
		t.Errorf("the heartbeat URL's token is in opsroom's log")
	}
}
