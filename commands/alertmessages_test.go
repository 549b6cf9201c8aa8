package commands

import (
	"strings"
	"testing"
	"time"

	"github.com/opsroom/opsroom/ops"
	"github.com/opsroom/opsroom/store"
)

func TestAlertEvidence(t *testing.T) {
	now := time.Date(2026, 12, 2, 14, 0, 0, 0, time.UTC)
	oom := &ops.Alert{Kind: ops.AlertExited, Service: "web", Host: "spark", Logs: "allocating\n",
		Status: ops.Status{State: ops.StateExited, Native: "exited", ExitCode: 137, OOMKilled: true, Commit: "9b7d4e2aa1f0c3b5d6e7f8091a2b3c4d5e6f7081"}}
	got := AlertMarkdown(oom, &store.Change{Command: "restart", Sender: "@alice:example.org", Time: now.Add(-4 * time.Minute)}, now)
	for _, want := range []string{
		"🔴 **web** on `spark` exited with code 137: out of memory (killed by the kernel's OOM killer)\n\n",
		"Deployed commit: `9b7d4e2`",
		"Last change from the room: restarted by @alice:example.org 4 min ago",
		"Last lines:",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("alert lacks %q:\n%s", want, got)
		}
	}
	if strings.Index(got, "Last change") > strings.Index(got, "Last lines") {
		t.Errorf("the evidence comes after the last lines:\n%s", got)
	}

	loop := &ops.Alert{Kind: ops.AlertCrashLoop, Service: "web", Host: "spark", Status: ops.Status{RestartCount: 7, ExitCode: 139}}
	got = AlertMarkdown(loop, &store.Change{Command: "update", Sender: "@bob:example.org", Commit: "3f2a1c0ffee", Time: now.Add(-12 * time.Minute)}, now)
	for _, want := range []string{"Last exit: code 139, segfault (SIGSEGV)", "updated to `3f2a1c0` by @bob:example.org 12 min ago"} {
		if !strings.Contains(got, want) {
			t.Errorf("crash-loop alert lacks %q:\n%s", want, got)
		}
	}

	recovered := &ops.Alert{Kind: ops.AlertRecovered, Service: "web", Host: "spark", Was: "exited", Status: ops.Status{State: ops.StateRunning}}
	if got := AlertMarkdown(recovered, &store.Change{Command: "restart", Sender: "@alice:example.org", Time: now}, now); strings.Contains(got, "Last change") {
		t.Errorf("a recovery carries evidence:\n%s", got)
	}
}
