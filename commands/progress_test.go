package commands

import (
	"errors"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix/format"

	"github.com/opsroom/opsroom/ops"
)

// shown is a reply's plain-text body, as a client without HTML shows it.
func shown(markdown string) string {
	return format.RenderMarkdown(markdown, true, false).Body
}

func TestProgressShowsStagesAndTheOutputTail(t *testing.T) {
	start := time.Date(2026, 11, 24, 14, 0, 0, 0, time.UTC)
	p := &progress{verb: "Updating", service: "bridge", host: "spark", who: "@alice:example.org", started: start}
	p.StageStarted(ops.StageFetch, "git fetch origin master")
	p.Commits("3f2a1c0aaaa", "9b7d4e2bbbb")
	p.StageDone(ops.StageFetch, "origin/master 3f2a1c0 -> 9b7d4e2 (3 new commits)")
	p.StageStarted(ops.StageBuild, "docker compose build bridge")
	for i := 0; i < 12; i++ {
		p.Output(ops.StageBuild, []byte("step "+string(rune('a'+i))+"\n"))
	}
	p.Output(ops.StageBuild, []byte("progress 10%\rprogress 50%\rprogress 100%\npartial"))
	got := shown(p.render(start.Add(42 * time.Second)))
	for _, want := range []string{
		"⏳ Updating **bridge** on `spark` (started by @alice:example.org, 0:42 elapsed)",
		"* ✅ fetch — origin/master 3f2a1c0 -> 9b7d4e2 (3 new commits)",
		"* ⏳ build — docker compose build bridge",
		"progress 100%\n```",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("progress lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "step a") || strings.Contains(got, "progress 50%") {
		t.Errorf("progress must show only the tail, with redrawn lines collapsed:\n%s", got)
	}

	p.failStage()
	err := &ops.CommandError{Host: "spark", Service: "bridge", Step: "build", Command: "docker compose build bridge", ExitCode: 17, Stdout: "boom\n"}
	final := shown(p.renderFailure(err, ops.Status{Service: "bridge", State: ops.StateRunning, StartedAt: start.Add(-time.Hour)}, start.Add(time.Minute)))
	for _, want := range []string{"❌ Update of **bridge** on `spark` failed at stage build after 1:00", "* ❌ build", "exited with code 17", "boom", "Still running: running since 1 h"} {
		if !strings.Contains(final, want) {
			t.Errorf("failure lacks %q:\n%s", want, final)
		}
	}
	if other := p.renderFailure(errors.New("context canceled"), ops.Status{State: ops.StateRunning}, start); !strings.Contains(other, "context canceled") {
		t.Errorf("a non-command error must be shown:\n%s", other)
	}
}

func TestARunThatChangedNoCommitSaysWhereItIs(t *testing.T) {
	start := time.Date(2026, 11, 24, 14, 0, 0, 0, time.UTC)
	res := &ops.UpdateResult{OldCommit: "3f2a1c0aaaa", NewCommit: "3f2a1c0aaaa", Status: ops.Status{Service: "bridge", State: ops.StateRunning, StartedAt: start}}
	for verb, want := range map[string]string{
		"Updating":     "Already at the newest commit; rebuilt and restarted.",
		"Rolling back": "Already at that commit; rebuilt and restarted.", // a second rollback in a row
	} {
		p := &progress{verb: verb, service: "bridge", host: "spark", who: "@alice:example.org", started: start}
		mustShow(t, shown(p.renderSuccess(res, start.Add(time.Minute))), want)
	}
}
