package commands

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/opsroom/opsroom/ops"
	"github.com/opsroom/opsroom/store"
)

var now = time.Date(2026, 11, 24, 14, 0, 0, 0, time.UTC)

func TestStatusTableShowsEveryStateAndItsProblem(t *testing.T) {
	all := []ops.Status{
		{Service: "bridge", Host: "spark", State: ops.StateRunning, StartedAt: now.Add(-2*time.Hour - 10*time.Minute), Health: "healthy"},
		{Service: "db", Host: "spark", State: ops.StateExited, ExitCode: 137, FinishedAt: now.Add(-5 * time.Minute)},
		{Service: "paused", Host: "spark", State: ops.StateExited, DockerStatus: "paused"},
		{Service: "gone", Host: "spark", State: ops.StateNotDeployed},
		{Service: "synapse", Host: "vps", State: ops.StateUnreachable, Err: errors.New(`host "vps": dial tcp: i/o timeout`)},
	}
	got := statusTable(all, map[string]store.Mute{"db": {}}, now)
	for _, want := range []string{
		"| 🟢 bridge | spark | running | up 2 h 10 min | 0 | healthy |",
		"| 🔴 db 🔕 | spark | exited (code 137) | 5 min ago | 0 | — |",
		"| 🔴 paused | spark | exited (paused) |",
		"| 🔴 gone | spark | not-deployed | — |",
		"| 🔴 synapse | vps | unreachable | — |",
		"- **synapse**: host \"vps\": dial tcp: i/o timeout",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("table lacks %q:\n%s", want, got)
		}
	}
}

func TestStatusDetailOfUnknownShowsTheRawOutput(t *testing.T) {
	got := statusDetail(ops.Status{Service: "x", Host: "h", Container: "x1", State: ops.StateUnknown, Raw: "garbage|output"}, now)
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
