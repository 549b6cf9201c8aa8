package commands

import (
	"fmt"
	"strings"
	"testing"

	"github.com/opsroom/opsroom/ops"
	"github.com/opsroom/opsroom/store"
)

func TestPreflightTableShowsEveryCheck(t *testing.T) {
	checks := []ops.Check{
		{Host: "spark", Name: "connect", OK: true, Detail: "as deploy, host key pinned"},
		{Host: "spark", Service: "bridge", Name: "remote reachable", Detail: "exit 128: fatal: could not read"},
		{Host: "spark", Service: "db", Name: "container exists", OK: true, Detail: "db is running"},
	}
	got := preflightTable(checks)
	inOrder(t, got,
		"**❌ Preflight: 1 of 3 checks failed, on 1 of 1 host**",
		"| host | service | check | | result |",
		"| spark | — | connect | ✅ | as deploy, host key pinned |",
		"| spark | bridge | remote reachable | ❌ | exit 128: fatal: could not read |",
		"| spark | db | container exists | ✅ | db is running |",
	)
	checks[1].OK = true
	if got := preflightTable(checks); !strings.HasPrefix(got, "**✅ Preflight: all 3 checks passed on 1 host**") {
		t.Errorf("all passed:\n%s", got)
	}
}

// A fleet too big for one message keeps its failed checks and counts the others.
func TestPreflightTableOfABigFleetFits(t *testing.T) {
	var checks []ops.Check
	for i := range 2000 {
		c := ops.Check{Host: fmt.Sprintf("h%d", i/20), Service: fmt.Sprintf("svc%d", i), Name: "container exists", OK: i%50 != 0,
			Detail: strings.Repeat("a long explanation ", 5)}
		checks = append(checks, c)
	}
	got := preflightTable(checks)
	if size := messageSize(got); size > maxSentSize {
		t.Fatalf("the table weighs %d bytes, more than %d", size, maxSentSize)
	}
	mustShowAll := strings.Count(got, "❌ |")
	if mustShowAll != 40 || strings.Contains(got, "✅ |") {
		t.Errorf("want the 40 failed checks and no passed one, got %d failed:\n%s", mustShowAll, got)
	}
	if !strings.Contains(got, "_1960 passed checks not shown_") {
		t.Errorf("the passed checks are not counted:\n%s", got)
	}
}

func TestStatusShowsAFailedPreflight(t *testing.T) {
	failed := &ops.Check{Host: "spark", Service: "bridge", Name: "remote reachable", Detail: "exit 128"}
	all := []ops.Status{
		{Service: "bridge", Host: "spark", State: ops.StateRunning, Preflight: failed},
		{Service: "db", Host: "spark", State: ops.StateRunning},
	}
	got := statusReport(all, map[string]store.Mute{}, now)
	inOrder(t, got, "| 🟢 bridge ⚠️ | spark | running |", "| 🟢 db | spark | running |",
		"- **bridge**: ⚠️ failed preflight: remote reachable — exit 128 (`!check bridge`)")
	detail := statusDetail(all[0], now)
	if !strings.Contains(detail, "- ⚠️ preflight: failed preflight: remote reachable — exit 128") {
		t.Errorf("!status bridge does not show the failed preflight:\n%s", detail)
	}
	host := &ops.Check{Host: "spark", Name: "run_as svc", Detail: "sudo refused"}
	if got := preflightNote("db", host); !strings.Contains(got, "its host's run\\_as svc") {
		t.Errorf("a host's check is not named as the host's: %s", got)
	}
}
