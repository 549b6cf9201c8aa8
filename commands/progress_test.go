package commands

import (
	"context"
	"errors"
	"fmt"
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

// ownStepsRecipe is the recipe of a service with its own update: steps, on a
// host that is never dialled.
func ownStepsRecipe(t *testing.T) *ops.Recipe {
	t.Helper()
	cfg := &ops.Config{
		Hosts: map[string]*ops.HostConfig{"spark": {Address: "10.0.0.2:22", User: "deploy", UseAgent: true, KnownHosts: "/nonexistent"}},
		Services: map[string]*ops.ServiceConfig{"site": {Host: "spark", Kind: ops.KindContainer, Container: "site", Directory: "/etc/nixos",
			Update: []ops.Step{{Name: "pull", Run: "git pull --ff-only"}, {Name: "switch", Run: "nixos-rebuild switch"}}}},
	}
	if errs, _ := cfg.Validate(); len(errs) > 0 {
		t.Fatalf("config: %v", errs)
	}
	f, err := ops.NewFleet(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r, err := f.UpdateRecipe("site")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestProgressOfOwnStepsShowsEveryStepInOrderFromTheStart(t *testing.T) {
	start := time.Date(2026, 11, 24, 14, 0, 0, 0, time.UTC)
	p := &progress{verb: "Updating", service: "site", host: "spark", who: "@alice:example.org", started: start, timeout: 15 * time.Minute}
	p.plan(ownStepsRecipe(t))
	mustShow(t, shown(p.render(start)), "* ⬜ pull — git pull --ff-only\n* ⬜ switch — nixos-rebuild switch")

	p.StageStarted("pull", "git pull --ff-only")
	p.Output("pull", []byte("Fast-forward\n"))
	p.StageDone("pull", "git pull --ff-only (1s)")
	p.StageStarted("switch", "nixos-rebuild switch")
	p.Output("switch", []byte("building the system configuration...\n"))
	mustShow(t, shown(p.render(start.Add(3*time.Second))), "0:03 elapsed",
		"* ✅ pull — git pull --ff-only (1s)\n* ⏳ switch — nixos-rebuild switch", "building the system configuration...")

	if got := p.failureText(fmt.Errorf("step `switch`: %w", context.DeadlineExceeded)); got != "step `switch` (nixos-rebuild switch) did not finish within 15m0s, the service's update_timeout" {
		t.Errorf("timeout: %q", got)
	}
	p.failStage()
	err := &ops.CommandError{Host: "spark", Service: "site", Step: "step `switch`", Command: "nixos-rebuild switch", ExitCode: 2, Stdout: "error: attribute missing\n"}
	mustShow(t, shown(p.renderFailure(err, ops.Status{Service: "site", State: ops.StateRunning}, start.Add(time.Minute))),
		"❌ Update of **site** on `spark` failed at step `switch` after 1:00", "* ✅ pull", "* ❌ switch",
		"step `switch` failed: `nixos-rebuild switch` exited with code 2:", "error: attribute missing")
	mustShow(t, p.renderCancelled("@bob:example.org", ops.Status{State: ops.StateRunning}, start), "cancelled by @bob:example.org at step `switch`")
}

func TestASuccessOfOwnStepsNamesThemAndTheCommitsWhereThereAreAny(t *testing.T) {
	start := time.Date(2026, 11, 24, 14, 0, 0, 0, time.UTC)
	now := ops.Status{Service: "site", State: ops.StateRunning, StartedAt: start}
	for _, c := range []struct {
		what    string
		res     ops.UpdateResult
		want    []string
		wantNot string
	}{
		{"not a checkout", ops.UpdateResult{Status: now},
			[]string{"✅ Updated **site** on `spark` (started by @alice:example.org, took 1:00)", "Ran its own steps: `pull`, `switch`.", "Now: running"}, "→"},
		{"a checkout that moved", ops.UpdateResult{OldCommit: "3f2a1c0aaaa", NewCommit: "9b7d4e2bbbb", Log: []string{"9b7d4e2 release 2"}, Status: now},
			[]string{"✅ Updated **site** on `spark`: `3f2a1c0` → `9b7d4e2`", "Ran its own steps: `pull`, `switch`.", "- `9b7d4e2` release 2"}, "Already"},
		{"a checkout that stayed", ops.UpdateResult{OldCommit: "3f2a1c0aaaa", NewCommit: "3f2a1c0aaaa", Status: now},
			[]string{"Ran its own steps: `pull`, `switch`; its checkout stayed at `3f2a1c0`."}, "→"},
	} {
		p := &progress{verb: "Updating", service: "site", host: "spark", who: "@alice:example.org", started: start}
		p.plan(ownStepsRecipe(t))
		got := p.renderSuccess(&c.res, start.Add(time.Minute))
		mustShow(t, got, c.want...)
		if strings.Contains(got, c.wantNot) {
			t.Errorf("%s: shows %q:\n%s", c.what, c.wantNot, got)
		}
	}
}
