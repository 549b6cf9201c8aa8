package commands

import (
	"strings"
	"testing"
	"time"

	"github.com/opsroom/opsroom/ops"
	"github.com/opsroom/opsroom/store"
)

func TestGroupMarkdown(t *testing.T) {
	exited := &ops.Alert{Kind: ops.AlertExited, Service: "web", Host: "spark", Status: ops.Status{State: ops.StateExited, Native: "exited", ExitCode: 137}}
	if got, want := AlertLine(exited), "🔴 **web** exited with code 137: killed (SIGKILL)"; got != want {
		t.Errorf("AlertLine = %q, want %q", got, want)
	}
	if got, want := AlertLine(&ops.Alert{Kind: ops.AlertRecovered, Service: "web", Host: "spark", Downtime: 12 * time.Second}), "✅ recovered after 12 s"; got != want {
		t.Errorf("AlertLine of a recovery = %q, want %q", got, want)
	}
	alert := func(subject, kind, line string) *store.Alert {
		return &store.Alert{Subject: subject, Host: "spark", Kind: kind, Line: line}
	}
	group := []*store.Alert{
		alert("web", "exited", "🔴 **web** exited with code 137: killed (SIGKILL)"),
		alert("db", "exited", "🔴 **db** exited with code 143: terminated (SIGTERM)"),
	}
	got := GroupMarkdown(group)
	for _, want := range []string{"🔴 2 services on `spark` went down together: web, db\n\n",
		"- 🔴 **web** exited with code 137: killed (SIGKILL)\n", "- 🔴 **db** exited with code 143"} {
		if !strings.Contains(got, want) {
			t.Errorf("group lacks %q:\n%s", want, got)
		}
	}
	group = append(group, alert("web", "recovered", "✅ recovered after 12 s"))
	got = GroupMarkdown(group)
	for _, want := range []string{"went down together: web, db; 1 still down: db", "- 🔴 **web** exited with code 137: killed (SIGKILL) · ✅ recovered after 12 s\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("group with web back lacks %q:\n%s", want, got)
		}
	}
	got = GroupMarkdown(append(group, alert("db", "recovered", "✅ recovered after 14 s")))
	if !strings.HasPrefix(got, "✅ 2 services on `spark` went down together, and all recovered: web, db") {
		t.Errorf("group with both back:\n%s", got)
	}
}
