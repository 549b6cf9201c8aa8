package commands

import (
	"strings"
	"testing"
	"time"

	"github.com/opsroom/opsroom/ops"
)

func TestHealthProbeShowsInStatusAndAlerts(t *testing.T) {
	// given a service that answers 401 (healthy as configured) and one whose probe fails
	maubot := ops.Status{Service: "maubot", Host: "spark", Object: "maubot", Noun: "container", State: ops.StateRunning, StartedAt: now.Add(-time.Hour),
		Probe: &ops.ProbeResult{Target: "http://127.0.0.1:29316/", OK: true, Answer: "HTTP 401", Latency: 12 * time.Millisecond}}
	web := ops.Status{Service: "web", Host: "spark", Object: "web", Noun: "container", State: ops.StateUnhealthy, StartedAt: now.Add(-time.Hour), Health: "healthy",
		Probe: &ops.ProbeResult{Target: "http://127.0.0.1:8080/health", Answer: "no answer within 5s", Latency: 5 * time.Second}}

	// then the table shows each probe's answer in the health column
	inOrder(t, statusReport([]ops.Status{maubot, web}, nil, now),
		"| 🟠 web | spark | unhealthy | up 1 h | 0 | healthy; no answer within 5s, 5s |",
		"| 🟢 maubot | spark | running | up 1 h | 0 | HTTP 401, 12ms |",
	)
	// and the detail names what was probed
	if got, want := statusDetail(web, now), "- health probe: `http://127.0.0.1:8080/health`: no answer within 5s, 5s\n"; !strings.Contains(got, want) {
		t.Errorf("detail lacks %q:\n%s", want, got)
	}
	// and the alert carries the probe's answer where a health check's output goes
	alert := AlertMarkdown(&ops.Alert{Kind: ops.AlertUnhealthy, Service: "web", Host: "spark", Status: web, Health: web.Probe.String()}, nil, time.Now())
	if want := "🟠 **web** on `spark` is unhealthy: it runs, but its health probe fails: `http://127.0.0.1:8080/health: no answer within 5s`"; !strings.HasPrefix(alert, want) {
		t.Errorf("alert:\n%s\nwant it to start with:\n%s", alert, want)
	}
}
