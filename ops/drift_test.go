package ops

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opsroom/opsroom/internal/config"
)

// TestDriftFetchesAtMostEveryIntervalAndNeverTouchesTheCheckout: given a
// checkout 2 commits behind its origin and 1 local commit ahead, Drift counts
// both and lists the subjects; a third push within drift.interval is not seen
// (the fetch is cached), and is once the interval has passed; HEAD and the
// working tree stay where they were throughout.
func TestDriftFetchesAtMostEveryIntervalAndNeverTouchesTheCheckout(t *testing.T) {
	srv := startSessionServer(t, 10)
	git, dev, checkout := gitCheckout(t)
	git(checkout, "commit", "-q", "--allow-empty", "-m", "a local hotfix")
	for _, v := range []string{"v2: faster", "v3: `quoted` $(not run)"} {
		git(dev, "commit", "-q", "--allow-empty", "-m", v)
	}
	git(dev, "push", "-q", "origin", "master")
	head := git(checkout, "rev-parse", "HEAD")

	h := srv.host(4)
	h.CommandTimeout = config.Duration{Duration: time.Minute}
	cfg := &Config{Hosts: map[string]*HostConfig{"local": h}, Services: map[string]*ServiceConfig{
		"app": {Name: "app", Host: "local", Kind: KindCompose, Container: "app", Directory: checkout, ComposeService: "app",
			GitRemote: "origin", GitBranch: "master"},
		"plain": {Name: "plain", Host: "local", Kind: KindContainer, Container: "plain"},
	}, Drift: DriftConfig{Interval: config.Duration{Duration: time.Hour}}}
	f, err := NewFleet(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ctx := context.Background()

	d := f.Drift(ctx, "app")
	if d.Err != nil || d.FetchErr != nil {
		t.Fatalf("drift: %v / %v", d.Err, d.FetchErr)
	}
	if d.Behind != 2 || d.Ahead != 1 || d.Ref() != "origin/master" || d.Head != head {
		t.Errorf("drift = %d behind, %d ahead of %s at %s; want 2 behind, 1 ahead of origin/master at %s", d.Behind, d.Ahead, d.Ref(), d.Head, head)
	}
	if len(d.Log) != 2 || !strings.HasSuffix(d.Log[0], " v3: `quoted` $(not run)") || !strings.HasSuffix(d.Log[1], " v2: faster") {
		t.Errorf("log = %q, want v3 then v2 with their subjects as written", d.Log)
	}

	git(dev, "commit", "-q", "--allow-empty", "-m", "v4")
	git(dev, "push", "-q", "origin", "master")
	if d := f.Drift(ctx, "app"); d.Behind != 2 {
		t.Errorf("within drift.interval: %d behind, want 2 (no second fetch)", d.Behind)
	}
	f.drift.setFetched("app", time.Now().Add(-2*time.Hour))
	if d := f.Drift(ctx, "app"); d.Behind != 3 || d.Err != nil {
		t.Errorf("after drift.interval: %d behind (%v), want 3", d.Behind, d.Err)
	}
	if now := git(checkout, "rev-parse", "HEAD"); now != head {
		t.Errorf("Drift moved HEAD to %s", now)
	}
	if st := git(checkout, "status", "--porcelain"); st != "" {
		t.Errorf("Drift changed the working tree: %q", st)
	}
	all := f.DriftAll(ctx)
	if names := []string{}; len(all) != 1 || all[0].Service != "app" {
		for _, d := range all {
			names = append(names, d.Service)
		}
		t.Errorf("DriftAll read %q, want only app (plain has no checkout)", names)
	}

	// A remote that is gone: the fetch fails, and says so.
	git(checkout, "remote", "set-url", "origin", filepath.Join(filepath.Dir(checkout), "gone.git"))
	f.drift.setFetched("app", time.Time{})
	d = f.Drift(ctx, "app")
	if d.FetchErr == nil || !strings.Contains(d.FetchErr.Error(), "gone.git") {
		t.Errorf("fetch from a missing remote: FetchErr %v, want one naming it", d.FetchErr)
	}
	if d.Err != nil || d.Behind != 3 {
		t.Errorf("after a failed fetch: %d behind (%v), want the count of the last fetch, 3", d.Behind, d.Err)
	}
}

func TestNextDigestIsTheNextTimeOfDayInTheDisplayZone(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skip("no zoneinfo:", err)
	}
	at := func(s string) time.Time {
		tm, err := time.ParseInLocation("2006-01-02 15:04", s, berlin)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	daily := DriftConfig{Digest: "09:00"}
	for now, want := range map[string]string{
		"2025-03-10 08:59": "2025-03-10 09:00",
		"2025-03-10 09:00": "2025-03-11 09:00", // the one due now was posted
		"2025-03-10 23:30": "2025-03-11 09:00",
		"2025-03-29 10:00": "2025-03-30 09:00", // the night the clocks go forward: 23 h later
	} {
		if got := daily.NextDigest(at(now)); !got.Equal(at(want)) {
			t.Errorf("NextDigest(%s) = %s, want %s", now, got, want)
		}
	}
	every := DriftConfig{DigestEvery: config.Duration{Duration: 10 * time.Second}}
	if got := every.NextDigest(at("2025-03-10 08:59")); !got.Equal(at("2025-03-10 08:59").Add(10 * time.Second)) {
		t.Errorf("digest_every: next at %s", got)
	}
	if got := (DriftConfig{}).NextDigest(time.Now()); !got.IsZero() {
		t.Errorf("no digest configured: next at %s, want never", got)
	}
}

func TestDriftConfigNamesTheKeyOfAMistake(t *testing.T) {
	for _, c := range []struct {
		cfg  DriftConfig
		want string
	}{
		{DriftConfig{Digest: "9am"}, "drift.digest: \"9am\" is not a time of day"},
		{DriftConfig{Digest: "24:00"}, "drift.digest"},
		{DriftConfig{Digest: "09:00", DigestEvery: config.Duration{Duration: time.Hour}}, "not both"},
	} {
		errs := c.cfg.validate()
		if !slices.ContainsFunc(errs, func(e error) bool { return strings.Contains(e.Error(), c.want) }) {
			t.Errorf("%+v: errors %v, want one saying %q", c.cfg, errs, c.want)
		}
	}
	ok := DriftConfig{Digest: "7:30"}
	if errs := ok.validate(); len(errs) > 0 || ok.Interval.Duration != time.Hour {
		t.Errorf("7:30: errors %v, interval %s; want none and the default 1h", errs, ok.Interval.Duration)
	}
}
