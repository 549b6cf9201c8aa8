package bot

import (
	"testing"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/opsroom/opsroom/internal/config"
	"github.com/opsroom/opsroom/store"
)

func TestReminderStepsComeOnTheirTimeAndMentionTheirPeople(t *testing.T) {
	c := AlertsConfig{RemindAfter: config.Duration{Duration: 30 * time.Minute}, Escalate: []EscalateStep{
		{After: config.Duration{Duration: 15 * time.Minute}, Mention: []id.UserID{"@lead:x"}},
		{After: config.Duration{Duration: time.Hour}, Mention: []id.UserID{"@boss:x", "@lead:x"}},
	}}
	if errs, _ := c.Validate(); len(errs) > 0 {
		t.Fatal(errs)
	}
	raised := time.Date(2025, 1, 2, 14, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		after time.Duration
		step  int
	}{{29 * time.Minute, 0}, {30 * time.Minute, 1}, {44 * time.Minute, 1}, {45 * time.Minute, 2}, {90 * time.Minute, 3}, {48 * time.Hour, 3}} {
		if got := c.dueStep(raised, raised.Add(tc.after)); got != tc.step {
			t.Errorf("after %s: step %d due, want %d", tc.after, got, tc.step)
		}
	}
	a := &store.Alert{Mentions: []id.UserID{"@alice:x"}}
	if got := c.mentions(a, 0, 1); len(got) != 1 || got[0] != "@alice:x" {
		t.Errorf("the reminder mentions %v, want the alert's people", got)
	}
	// Steps missed while opsroom was down are one message, mentioning each step's people once.
	if got := c.mentions(a, 1, 3); len(got) != 2 || got[0] != "@lead:x" || got[1] != "@boss:x" {
		t.Errorf("steps 2 and 3 mention %v, want lead and boss", got)
	}
	if got := c.tick(); got != 30*time.Second {
		t.Errorf("tick = %s, want the 30 s ceiling", got)
	}
}

func TestAnEscalationLadderMustClimb(t *testing.T) {
	c := AlertsConfig{Escalate: []EscalateStep{
		{After: config.Duration{Duration: time.Hour}, Mention: []id.UserID{"@lead:x"}},
		{After: config.Duration{Duration: 15 * time.Minute}},
	}}
	errs, _ := c.Validate()
	if len(errs) != 2 {
		t.Errorf("errors %v, want the step out of order and its missing mention", errs)
	}
	if c.RemindAfter.Duration != 30*time.Minute {
		t.Errorf("remind_after defaults to %s, want 30m", c.RemindAfter.Duration)
	}
}
