package commands

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/opsroom/opsroom/ops"
	"github.com/opsroom/opsroom/store"
)

var now = time.Date(2026, 11, 24, 14, 0, 0, 0, time.UTC)

func TestStatusReportShowsEveryStateAndItsProblem(t *testing.T) {
	all := []ops.Status{
		{Service: "bridge", Host: "spark", State: ops.StateRunning, StartedAt: now.Add(-2*time.Hour - 10*time.Minute), Health: "healthy"},
		{Service: "db", Host: "spark", State: ops.StateExited, ExitCode: 137, FinishedAt: now.Add(-5 * time.Minute)},
		{Service: "paused", Host: "spark", State: ops.StateExited, Native: "paused"},
		{Service: "gone", Host: "spark", State: ops.StateNotDeployed},
		{Service: "synapse", Host: "vps", State: ops.StateUnreachable, Err: errors.New(`host "vps": dial tcp: i/o timeout`)},
	}
	got := statusReport(all, map[string]store.Mute{"db": {}}, now)
	if want := "**1 running, 2 exited, 1 not-deployed, 1 host unreachable (1 service)**\n\n"; !strings.HasPrefix(got, want) {
		t.Errorf("report does not start with the summary %q:\n%s", want, got)
	}
	inOrder(t, got,
		"| 🔴 db 🔕 | spark | exited (code 137) | 5 min ago | 0 | — |",
		"| 🔴 gone | spark | not-deployed | — |",
		"| 🔴 paused | spark | exited (paused) |",
		"| 🔴 synapse | vps | unreachable | — |",
		"| 🟢 bridge | spark | running | up 2 h 10 min | 0 | healthy |",
		"- **synapse**: host \"vps\": dial tcp: i/o timeout",
	)
}

// inOrder fails unless got holds each of want, one after the other.
func inOrder(t *testing.T, got string, want ...string) {
	t.Helper()
	rest := got
	for _, w := range want {
		i := strings.Index(rest, w)
		if i < 0 {
			t.Errorf("lacks %q after the lines before it:\n%s", w, got)
			return
		}
		rest = rest[i+len(w):]
	}
}

func TestStatusReportOrdersHostsAndServicesNaturally(t *testing.T) {
	var all []ops.Status
	for _, h := range []string{"h10", "h2", "h1"} {
		for _, s := range []string{"web10", "web2", "web1"} {
			all = append(all, ops.Status{Service: h + "-" + s, Host: h, State: ops.StateExited, ExitCode: 1})
		}
	}
	got := statusReport(all, nil, now)
	inOrder(t, got, "h1-web1 ", "h1-web2 ", "h1-web10 ", "h2-web1 ", "h2-web2 ", "h2-web10 ", "h10-web1 ", "h10-web2 ", "h10-web10 ")
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"h2", "h10", -1}, {"h10", "h2", 1}, {"h2", "h2", 0}, {"a", "b", -1}, {"h02", "h2", 1},
		{"web", "web1", -1}, {"x9y", "x10a", -1}, {"h1b", "h1a", 1},
	} {
		if got := naturalCompare(tc.a, tc.b); got != tc.want {
			t.Errorf("naturalCompare(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

// bigFleet is 20 hosts of 10 services each: h14's cannot be reached, two
// services have exited, one is stopped, the rest run.
func bigFleet() []ops.Status {
	var all []ops.Status
	for h := 1; h <= 20; h++ {
		host := fmt.Sprintf("h%d", h)
		for s := 1; s <= 10; s++ {
			st := ops.Status{Service: fmt.Sprintf("%s-svc%d", host, s), Host: host, State: ops.StateRunning, StartedAt: now.Add(-time.Hour)}
			switch {
			case h == 14:
				st.State, st.Err = ops.StateUnreachable, errors.New(`host "h14" (10.0.0.14:22): dial tcp: i/o timeout`)
			case h == 3 && s == 4:
				st.State, st.ExitCode = ops.StateExited, 137
			case h == 10 && s == 1:
				st.State, st.ExitCode = ops.StateExited, 0
			case h == 7 && s == 7:
				st.State, st.Err = ops.StateUnknown, errors.New("could not read docker's answer")
			}
			all = append(all, st)
		}
	}
	return all
}

func TestStatusReportOfABigFleetCollapsesWhatRuns(t *testing.T) {
	got := statusReport(bigFleet(), nil, now)
	if want := "**187 running, 2 exited, 1 unknown, 1 host unreachable (10 services)**\n\n"; !strings.HasPrefix(got, want) {
		t.Errorf("report does not start with the summary %q:\n%s", want, got)
	}
	inOrder(t, got,
		"| 🔴 all 10 services | h14 | unreachable | — | — | — |",
		"| 🔴 h3-svc4 | h3 | exited (code 137) |",
		"| ⚪ h7-svc7 | h7 | unknown |",
		"| 🔴 h10-svc1 | h10 | exited (code 0) |",
		"- host **h14** (h14-svc1, h14-svc2, h14-svc3, h14-svc4, h14-svc5 and 5 more): host \"h14\" \\(10.0.0.14:22\\): dial tcp: i/o timeout",
		"- **h7-svc7**: could not read docker's answer",
		"🟢 running — h1: 10 · h2: 10 · h3: 9 · h4: 10",
		"h7: 9", "h10: 9", "h13: 10 · h15: 10", "h20: 10",
	)
	if strings.Contains(got, "h14-svc1 |") || strings.Contains(got, "h1-svc1 ") {
		t.Errorf("an unreachable host's services or the running ones have rows of their own:\n%s", got)
	}
	if n := strings.Count(got, "\n"); n > 20 {
		t.Errorf("the report of 200 services with 4 problems is %d lines, want a screenful:\n%s", n, got)
	}
}

func TestStatusReportFitsThousandsOfProblems(t *testing.T) {
	var all []ops.Status
	for i := range 5000 {
		all = append(all, ops.Status{
			Service: fmt.Sprintf("service-with-a-rather-long-name-%04d", i), Host: fmt.Sprintf("host-%d", i%300),
			State: ops.StateUnknown, Err: fmt.Errorf("could not parse <%s> & more: %s", strings.Repeat("x", 50), strings.Repeat("<&>", 200)),
		})
	}
	all = append(all, ops.Status{Service: "ok", Host: "host-1", State: ops.StateRunning})
	got := statusReport(all, nil, now)
	if size := messageSize(got); size > maxSentSize {
		t.Fatalf("the report weighs %d bytes as an event, over %d", size, maxSentSize)
	}
	inOrder(t, got, "**1 running, 5000 unknown**", "| ⚪ service-with-a-rather-long-name-0000 | host-0 |", "_… and ", " more not running, not shown: `!status SERVICE` shows one_")
	if fitMessage(got) != got {
		t.Errorf("the report was cut again when sent: it should fit as it is")
	}
}

func TestStatusDetailOfUnknownShowsTheRawOutput(t *testing.T) {
	got := statusDetail(ops.Status{Service: "x", Host: "h", Object: "x1", Noun: "container", State: ops.StateUnknown, Raw: "garbage|output"}, now)
	if !strings.Contains(got, "```\ngarbage|output\n```") {
		t.Errorf("unknown state must show the raw output fenced:\n%s", got)
	}
}

func TestLifecycleReplySaysTheNewState(t *testing.T) {
	got := lifecycleReply("restarted", ops.Status{Service: "bridge", State: ops.StateRunning, StartedAt: now.Add(-3 * time.Second)}, now)
	if want := "🟢 restarted **bridge**: running since 3 s, restart count 0"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
