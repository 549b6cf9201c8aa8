package bot

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/rs/zerolog"

	"maunium.net/go/mautrix/id"

	opscommands "github.com/opsroom/opsroom/commands"
	"github.com/opsroom/opsroom/internal/config"
	"github.com/opsroom/opsroom/store"
)

// AlertsConfig is the `alerts:` section: what happens to an alert no one takes.
type AlertsConfig struct {
	// RemindAfter is how long an alert may stay open with no one taking it
	// (👀 or !ack) before it is posted again, once, as a reply to itself
	// mentioning its people (default 30m).
	RemindAfter config.Duration `yaml:"remind_after" check:"positive"`
	// NoReminders turns reminders and escalation off.
	NoReminders bool `yaml:"no_reminders"`
	// Escalate are further reminders, each mentioning its own users, After
	// the first reminder; in increasing order.
	Escalate []EscalateStep `yaml:"escalate"`
}

// EscalateStep is one rung of the escalation ladder.
type EscalateStep struct {
	After   config.Duration `yaml:"after" check:"positive"`
	Mention []id.UserID     `yaml:"mention"`
}

const defaultRemindAfter = 30 * time.Minute

// Validate fills defaults and reports every problem at once, naming the key.
func (c *AlertsConfig) Validate() (errs, warnings []error) {
	if c.RemindAfter.Duration < 0 {
		errs = append(errs, fmt.Errorf("alerts.remind_after: must be a positive duration like 30m (alerts.no_reminders: true turns reminders off)"))
	} else if c.RemindAfter.Duration == 0 {
		c.RemindAfter.Duration = defaultRemindAfter
	}
	var last time.Duration
	for i, step := range c.Escalate {
		if step.After.Duration <= last {
			errs = append(errs, fmt.Errorf("alerts.escalate[%d].after: must be a positive duration after the first reminder, longer than the step before (%s); got %s",
				i, last, step.After.Duration))
		}
		last = step.After.Duration
		if len(step.Mention) == 0 {
			errs = append(errs, fmt.Errorf("alerts.escalate[%d].mention: required: whom this step mentions, e.g. [\"@lead:example.org\"]", i))
		}
		for j, u := range step.Mention {
			if !config.IsUserID(string(u)) {
				errs = append(errs, fmt.Errorf("alerts.escalate[%d].mention[%d]: %q is not a Matrix user ID like @alice:example.org", i, j, u))
			}
		}
	}
	if c.NoReminders && len(c.Escalate) > 0 {
		warnings = append(warnings, fmt.Errorf("alerts.escalate: alerts.no_reminders is true, so the ladder is not used"))
	}
	return errs, warnings
}

// stepAt is when step (1: the reminder, 2…: the escalate steps) is due for an
// alert raised at raised; ok is false past the last step.
func (c *AlertsConfig) stepAt(raised time.Time, step int) (at time.Time, ok bool) {
	switch {
	case step < 1 || step > 1+len(c.Escalate):
		return time.Time{}, false
	case step == 1:
		return raised.Add(c.RemindAfter.Duration), true
	}
	return raised.Add(c.RemindAfter.Duration + c.Escalate[step-2].After.Duration), true
}

// dueStep is the last step due at now for an alert raised at raised (0: none yet).
func (c *AlertsConfig) dueStep(raised, now time.Time) int {
	step := 0
	for {
		at, ok := c.stepAt(raised, step+1)
		if !ok || at.After(now) {
			return step
		}
		step++
	}
}

// mentions are whom the steps after done up to due mention: the reminder,
// the alert's own people; each escalate step, its users.
func (c *AlertsConfig) mentions(a *store.Alert, done, due int) []id.UserID {
	var out []id.UserID
	add := func(users []id.UserID) {
		for _, u := range users {
			if !slices.Contains(out, u) {
				out = append(out, u)
			}
		}
	}
	for step := done + 1; step <= due; step++ {
		if step == 1 {
			add(a.Mentions)
		} else {
			add(c.Escalate[step-2].Mention)
		}
	}
	return out
}

// tick is how often the reminder loop looks: often enough for the shortest
// wait it counts, bounded to between 1 s and 30 s.
func (c *AlertsConfig) tick() time.Duration {
	shortest := c.RemindAfter.Duration
	var last time.Duration
	for _, s := range c.Escalate {
		shortest = min(shortest, s.After.Duration-last)
		last = s.After.Duration
	}
	return min(max(shortest/10, time.Second), 30*time.Second)
}

// remind posts the reminders of the alerts no one takes, until ctx ends. Each
// step is recorded before it is sent, with the reminder itself, so a restart
// neither repeats nor loses one; an alert taken or resolved meanwhile is left be.
func (b *Bot) remind(ctx context.Context) {
	c := b.alertsCfg
	if c == nil || c.NoReminders {
		return
	}
	log := zerolog.Ctx(ctx).With().Str("component", "reminders").Logger()
	t := time.NewTicker(c.tick())
	defer t.Stop()
	for {
		if err := b.remindOnce(ctx, time.Now()); err != nil && ctx.Err() == nil {
			log.Err(err).Msg("Failed to look for alerts to remind of; will look again")
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// remindOnce records the reminders due at now.
func (b *Bot) remindOnce(ctx context.Context, now time.Time) error {
	c := b.alertsCfg
	open, err := b.store.Remindable(ctx)
	if err != nil || len(open) == 0 {
		return err
	}
	mutes, err := b.store.ActiveMutes(ctx, now)
	if err != nil {
		return err
	}
	woke := false
	for _, a := range open {
		if _, muted := mutes[a.Subject]; muted && !hostAlert(a.Kind) {
			continue
		}
		due := c.dueStep(a.Time, now)
		if due <= a.Reminded {
			continue
		}
		dueAt, _ := c.stepAt(a.Time, due)
		reminder := &store.Alert{Time: now, Mentions: c.mentions(a, a.Reminded, due),
			Message: opscommands.ReminderMarkdown(a.Message, a.ID, due, dueAt.Sub(a.Time))}
		recorded, err := b.store.RecordReminder(ctx, a, a.Reminded, due, reminder)
		if err != nil {
			return err
		}
		if recorded {
			zerolog.Ctx(ctx).Info().Int64("alert_id", a.ID).Str("subject", a.Subject).Int("step", due).Msg("Reminding of an alert no one took")
			b.obs().Alerted(store.KindReminder)
			woke = true
		}
	}
	if woke {
		b.wakeAlerts()
	}
	return nil
}
