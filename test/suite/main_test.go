package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestBalanceGivesEachProcessAboutTheSameTime(t *testing.T) {
	known := map[string]time.Duration{"TestSoak": 240 * time.Second, "TestA": 60 * time.Second, "TestB": 50 * time.Second, "TestC": 40 * time.Second}
	names := []string{"TestA", "TestB", "TestC", "TestSoak", "TestNew1", "TestNew2"}
	groups := balance(names, known, 30*time.Second, 2)
	if len(groups) != 2 {
		t.Fatalf("%d groups, want 2", len(groups))
	}
	var all []string
	sums := make([]time.Duration, 2)
	for i, g := range groups {
		all = append(all, g...)
		for _, n := range g {
			sums[i] += durationOf(n, known, 30*time.Second)
		}
	}
	slices.Sort(all)
	if want := slices.Sorted(slices.Values(names)); !slices.Equal(all, want) {
		t.Errorf("the groups hold %v, want every test once: %v", all, want)
	}
	// 240 alone against 60+50+40+30+30 = 210: the soak gets a process of its own.
	if !slices.Contains(groups[0], "TestSoak") || len(groups[0]) != 1 {
		t.Errorf("groups %v (sums %v): want the soak alone in one process", groups, sums)
	}
	if got := balance(names, known, 30*time.Second, 10); len(got) != len(names) {
		t.Errorf("more processes than tests: %d groups, want one per test (%d)", len(got), len(names))
	}
}

func TestDurationsFileIsReadAndABadLineRefused(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.txt")
	os.WriteFile(good, []byte("# measured\nTestA 12.5\n\nTestB 3 # slow machine\n"), 0o644)
	known, err := readDurations(good)
	if err != nil || known["TestA"] != 12500*time.Millisecond || known["TestB"] != 3*time.Second {
		t.Errorf("readDurations = %v, %v; want TestA 12.5 s, TestB 3 s", known, err)
	}
	bad := filepath.Join(dir, "bad.txt")
	os.WriteFile(bad, []byte("TestA twelve\n"), 0o644)
	if _, err := readDurations(bad); err == nil || !strings.Contains(err.Error(), "bad.txt:1") {
		t.Errorf("a bad line: %v, want an error naming the file and line", err)
	}
	if known, err := readDurations(filepath.Join(dir, "missing.txt")); err != nil || len(known) != 0 {
		t.Errorf("a missing file: %v, %v; want no durations and no error", known, err)
	}
}

// TestAFailedOrUnfinishedTestFailsTheRun: the report's verdict, from the
// events a go test -json stream holds.
func TestAFailedOrUnfinishedTestFailsTheRun(t *testing.T) {
	run := func(events ...event) error {
		p := &proc{name: "e2e-1", running: map[string]*result{}}
		for _, e := range events {
			p.handle(e)
		}
		return report([]*proc{p}, t.TempDir(), time.Second, time.Second)
	}
	pass := event{Action: "pass", Package: e2ePkg, Test: "TestA", Elapsed: 1}
	if err := run(event{Action: "run", Package: e2ePkg, Test: "TestA"}, pass); err != nil {
		t.Errorf("a passing run: %v", err)
	}
	if err := run(event{Action: "fail", Package: e2ePkg, Test: "TestB"}); err == nil {
		t.Errorf("a failed test: the run passed")
	}
	// A test that started and never ended: its process died (a panic, a timeout).
	if err := run(event{Action: "output", Package: e2ePkg, Test: "TestC", Output: "=== RUN TestC\n"}, pass); err == nil {
		t.Errorf("a test with no result: the run passed")
	}
}
