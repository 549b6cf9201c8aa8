package commands

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/opsroom/opsroom/ops"
)

const (
	driftHead = "3f2a1c0aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	driftTip  = "9b7d4e2bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
)

func TestOutdatedListsWhatIsBehindWithItsCommitsAndWhatCouldNotBeRead(t *testing.T) {
	all := []ops.Drift{
		{Service: "app", Host: "spark", Remote: "origin", Branch: "master", Head: driftHead, Tip: driftTip, Behind: 12,
			Log: []string{"9b7d4e2 fix *the* login", "1111111 v2"}, FetchedAt: now.Add(-5 * time.Minute)},
		{Service: "bridge", Host: "spark", Remote: "origin", Branch: "main", Head: driftTip, Tip: driftTip},
		{Service: "wiki", Host: "vps", Err: errors.New(`host "vps": dial tcp: i/o timeout`)},
	}
	got := outdatedReport(all, now)
	inOrder(t, got,
		"📦 1 of 3 services is behind its tracked branch:",
		"**app** on `spark`: 12 commits behind origin/master (`3f2a1c0` → `9b7d4e2`), fetched 5 min ago",
		"- `9b7d4e2` fix \\*the\\* login",
		"- `1111111` v2",
		"- and 10 more",
		"`!update SERVICE` brings one up to date.",
		"Could not read:",
		"- **wiki**: host \"vps\": dial tcp: i/o timeout",
	)
	if strings.Contains(got, "bridge") {
		t.Errorf("a current service is listed:\n%s", got)
	}
}

func TestOutdatedSaysEverythingIsCurrent(t *testing.T) {
	all := []ops.Drift{{Service: "app", Remote: "origin", Branch: "master", Head: driftTip, Tip: driftTip}}
	if got, want := outdatedReport(all, now), "✅ Everything is current: 1 service checked, none behind its tracked branch."; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestDriftTextSaysLocalCommitsAndAFailedFetch(t *testing.T) {
	d := ops.Drift{Remote: "origin", Branch: "master", Head: driftHead, Tip: driftTip, Behind: 1, Ahead: 2,
		FetchedAt: now.Add(-2 * time.Hour), FetchErr: errors.New("git fetch origin master exited with code 128: fatal: unable to access")}
	inOrder(t, driftText(d, now),
		"1 commit behind origin/master",
		"; 2 local commits not on origin/master, which an update discards",
		"; as of the fetch 2 h ago, as fetching now failed: git fetch origin master exited with code 128")
	d = ops.Drift{Remote: "origin", Branch: "master", Head: driftTip, Tip: driftTip, FetchedAt: now}
	if got := driftText(d, now); got != "up to date with origin/master" {
		t.Errorf("current: %q", got)
	}
	st := ops.Status{Service: "app", Host: "spark", Object: "app", Noun: "container", State: ops.StateRunning, Commit: driftHead}
	inOrder(t, statusDetailWithDrift(st, &ops.Drift{Remote: "origin", Branch: "master", Head: driftHead, Tip: driftTip, Behind: 3}, now),
		"- commit: `3f2a1c0`", "- drift: 3 commits behind origin/master")
}
