package commands

import (
	"strings"
	"testing"
	"time"

	"github.com/opsroom/opsroom/store"
)

func TestAnInterruptedRunSaysWhetherItWasAnUpdateOrARollback(t *testing.T) {
	run := &store.UpdateRun{Kind: store.RunRollback, Service: "app", Sender: "@alice:example.org", Stage: "fetch",
		Started: time.Date(2026, 11, 24, 14, 2, 0, 0, time.Local)}
	md, stage := interruptedNotice(run, "a restart of opsroom")
	mustShow(t, shown(md), "⚠️ Rollback of **app** was interrupted by a restart of opsroom at stage fetch (started by @alice:example.org at 14:02 UTC); it is not run again.",
		"`!status app`")
	if stage != "fetch" {
		t.Errorf("stage %q, want fetch", stage)
	}
	run.Kind, run.Stage = store.RunUpdate, ""
	md, stage = interruptedNotice(run, "a failover (opsroom pid 7 on a stopped answering)")
	mustShow(t, shown(md), "⚠️ Update of **app** was interrupted by a failover (opsroom pid 7 on a stopped answering) at stage start")
	if stage != "start" {
		t.Errorf("stage %q, want start", stage)
	}
}

// A rollback cut off by a stop of opsroom is called a rollback at its next
// start: deploy records the run's kind as it starts, and MarkInterrupted reads
// it back.
func TestAnInterruptedRollbackSaysRollback(t *testing.T) {
	w := newHostWorld(t)
	// A successful update of slow to roll back from, as deploy records one.
	prev := &store.UpdateRun{Kind: store.RunUpdate, Service: "slow", Sender: hostWorldSender, RoomID: "!ops:wrappers.test"}
	if err := w.store.Updates().Start(w.ctx, prev); err != nil {
		t.Fatal(err)
	}
	prev.Result, prev.OldCommit, prev.NewCommit = store.UpdateSucceeded, strings.Repeat("a", 40), strings.Repeat("b", 40)
	if err := w.store.Updates().Finish(w.ctx, prev); err != nil {
		t.Fatal(err)
	}

	done := make(chan []string)
	go func() { done <- w.send("!rollback slow") }()
	// opsroom stops while the rollback fetches (slow's fetch takes 30 s): at
	// its next start the run is still running in the database.
	deadline := time.Now().Add(10 * time.Second)
	for {
		runs, err := w.store.Updates().Running(w.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(runs) == 1 && runs[0].ProgressEventID != "" && runs[0].Stage == "fetch" {
			if runs[0].Kind != store.RunRollback {
				t.Fatalf("the rollback is recorded as a %q", runs[0].Kind)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the rollback is not recorded at stage fetch with its progress message: %+v", runs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := MarkInterrupted(w.ctx, w.cli, w.store, "a restart of opsroom"); err != nil {
		t.Fatal(err)
	}
	said := strings.Join(append(<-done, w.room.take()...), "\n---\n")
	mustShow(t, said, "⚠️ Rollback of **slow** was interrupted by a restart of opsroom at stage fetch")
	if strings.Contains(said, "Update of **slow** was interrupted") {
		t.Errorf("the interrupted rollback is called an update:\n%s", said)
	}
}
