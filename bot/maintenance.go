package bot

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rs/zerolog"

	opscommands "github.com/opsroom/opsroom/commands"
	"github.com/opsroom/opsroom/internal/config"
	"github.com/opsroom/opsroom/ops"
	"github.com/opsroom/opsroom/store"
)

// MaintenanceWindow is one entry of the `maintenance:` section: a window that
// opens on a schedule, in display_timezone, for some services or hosts.
type MaintenanceWindow struct {
	Services []string `yaml:"services"`
	Hosts    []string `yaml:"hosts"`
	// Weekdays it opens on (mon … sun); none: every day. Weekday is one.
	Weekdays []string        `yaml:"weekdays"`
	Weekday  string          `yaml:"weekday"`
	At       string          `yaml:"at"` // "03:00"
	Duration config.Duration `yaml:"duration"`
	// EndEarly ends it once everything in it that went down is back up.
	EndEarly bool   `yaml:"end_early"`
	Reason   string `yaml:"reason"`

	days       []time.Weekday
	hour, mins int
}

// maxWindow is the longest a scheduled window may last: a week, or it would overlap itself.
const maxWindow = 7 * 24 * time.Hour

var weekdays = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

// ValidateMaintenance checks the scheduled windows against the fleet's
// services and hosts, and reports every problem at once, naming the key.
func ValidateMaintenance(windows []MaintenanceWindow, services map[string]bool, hosts map[string]bool) (errs []error) {
	for i := range windows {
		w := &windows[i]
		bad := func(key, format string, args ...any) {
			errs = append(errs, fmt.Errorf("maintenance[%d].%s: "+format, append([]any{i, key}, args...)...))
		}
		if len(w.Services) == 0 && len(w.Hosts) == 0 {
			bad("services", "name the services or the hosts (hosts: [...]) the window is for")
		}
		for j, s := range w.Services {
			if !services[s] {
				bad(fmt.Sprintf("services[%d]", j), "%q is not a service in services:", s)
			}
		}
		for j, h := range w.Hosts {
			if !hosts[h] {
				bad(fmt.Sprintf("hosts[%d]", j), "%q is not a host in hosts:", h)
			}
		}
		days := w.Weekdays
		if w.Weekday != "" {
			days = append(days, w.Weekday)
		}
		w.days = nil
		for _, d := range days {
			d = strings.ToLower(d)
			day, ok := weekdays[d[:min(3, len(d))]]
			if !ok || (len(d) > 3 && !strings.EqualFold(day.String(), d)) {
				bad("weekdays", "%q is not a weekday; use mon, tue, wed, thu, fri, sat or sun", d)
				continue
			}
			w.days = append(w.days, day)
		}
		at, err := time.Parse("15:04", w.At)
		if err != nil {
			bad("at", "%q is not a time of day like \"03:00\" (in display_timezone)", w.At)
		}
		w.hour, w.mins = at.Hour(), at.Minute()
		if w.Duration.Duration <= 0 || w.Duration.Duration > maxWindow {
			bad("duration", "must be a duration like 1h, at most 7d")
		}
	}
	return errs
}

// openAt returns the start of the window's occurrence open at now, if one
// is: the latest start, on one of its days at its time (in now's zone), not
// after now and less than its duration before it.
func (w *MaintenanceWindow) openAt(now time.Time) (time.Time, bool) {
	for back := 0; back <= 7; back++ {
		day := now.AddDate(0, 0, -back)
		start := time.Date(day.Year(), day.Month(), day.Day(), w.hour, w.mins, 0, 0, now.Location())
		if start.After(now) || (len(w.days) > 0 && !slices.Contains(w.days, start.Weekday())) {
			continue
		}
		if now.Before(start.Add(w.Duration.Duration)) {
			return start, true
		}
		return time.Time{}, false // the latest start is over; earlier ones ended before it
	}
	return time.Time{}, false
}

// maintenanceTick is how often the maintenance loop looks at the windows,
// besides when something changes.
const maintenanceTick = time.Second

// changed wakes the boards and the maintenance loop: a state, a mute or a
// window changed.
func (b *Bot) changed() {
	b.boardChanged()
	select {
	case b.wakeWindows <- struct{}{}:
	default:
	}
}

// runMaintenance opens the scheduled windows when they are due and ends the
// windows that are over, each with its summary, until ctx ends.
func (b *Bot) runMaintenance(ctx context.Context) {
	log := zerolog.Ctx(ctx).With().Str("component", "maintenance").Logger()
	ctx = log.WithContext(ctx)
	t := time.NewTicker(maintenanceTick)
	defer t.Stop()
	for {
		if err := b.maintain(ctx, time.Now()); err != nil && ctx.Err() == nil {
			log.Err(err).Msg("Failed to open or end maintenance windows; will retry")
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-b.wakeWindows:
		}
	}
}

// maintain opens the scheduled windows due at now and ends those that are over.
func (b *Bot) maintain(ctx context.Context, now time.Time) error {
	log := zerolog.Ctx(ctx)
	for i := range b.schedule {
		w := &b.schedule[i]
		start, open := w.openAt(now)
		if !open {
			continue
		}
		m := store.Maintenance{Scope: store.ScopeList, Name: store.ListTargets(w.Services, w.Hosts), Start: start,
			End: start.Add(w.Duration.Duration), Reason: w.Reason, EndEarly: w.EndEarly,
			Schedule: fmt.Sprintf("maintenance[%d]@%d", i, start.UnixMilli())}
		notice := &store.Alert{Subject: "maintenance", Kind: "maintenance-started", Message: opscommands.MaintenanceStarted(&m)}
		started, err := b.store.StartScheduled(ctx, m, notice, b.cfg.alertRooms())
		if err != nil {
			return err
		}
		if started {
			log.Info().Str("window", m.Schedule).Time("until", m.End).Msg("Scheduled maintenance started")
			b.wakeAll()
		}
	}
	open, err := b.store.OpenMaintenance(ctx, now)
	if err != nil {
		return err
	}
	for _, m := range open {
		why := ""
		switch {
		case !now.Before(m.End):
			why = "its time is up"
			if m.EndedWhy != "" {
				why = m.EndedWhy
			}
		case m.EndEarly:
			back, err := b.backUp(ctx, m, now)
			if err != nil {
				return err
			}
			if back {
				why = "everything in it is back up"
			}
		}
		if why == "" {
			continue
		}
		if err := b.endWindow(ctx, m, why, now); err != nil {
			return err
		}
	}
	return nil
}

// wakeAll has the boards and the alert delivery look again: a window opened or ended.
func (b *Bot) wakeAll() {
	b.boardChanged()
	select {
	case b.wakeDelivery <- struct{}{}:
	default:
	}
}

// covered are the rows of brokenNow that the window covers.
func covered(rows []opscommands.BoardRow, m *store.Maintenance) []opscommands.BoardRow {
	return slices.DeleteFunc(rows, func(r opscommands.BoardRow) bool { return !m.Covers(r.Service, r.Host) })
}

// changesDuring are the alerts recorded for what the window covers while it was open.
func (b *Bot) changesDuring(ctx context.Context, m *store.Maintenance, now time.Time) ([]*store.Alert, error) {
	alerts, err := b.store.AlertsBetween(ctx, nil, m.Start, now)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(alerts, func(a *store.Alert) bool {
		if !ops.IsAlertKind(a.Kind) {
			return true // opsroom's own notices
		}
		host := ""
		if b.fleet != nil {
			if svc, err := b.fleet.Lookup(a.Subject); err == nil {
				host = svc.Host
			}
		}
		return !m.Covers(a.Subject, host) && !m.Covers("", a.Subject)
	}), nil
}

// backUp says whether a window that ends early may end: something in it went
// down while it was open, and everything in it is up now.
func (b *Bot) backUp(ctx context.Context, m *store.Maintenance, now time.Time) (bool, error) {
	changes, err := b.changesDuring(ctx, m, now)
	if err != nil || len(changes) == 0 {
		return false, err
	}
	rows, err := b.brokenNow(ctx, now)
	if err != nil {
		return false, err
	}
	return len(covered(rows, m)) == 0, nil
}

// endWindow ends a window with its summary in the alert rooms.
func (b *Bot) endWindow(ctx context.Context, m *store.Maintenance, why string, now time.Time) error {
	changes, err := b.changesDuring(ctx, m, now)
	if err != nil {
		return err
	}
	rows, err := b.brokenNow(ctx, now)
	if err != nil {
		return err
	}
	summary := &store.Alert{Subject: "maintenance", Kind: "maintenance-ended",
		Message: opscommands.MaintenanceSummary(m, now, why, changes, covered(rows, m))}
	ended, err := b.store.EndMaintenance(ctx, m.ID, why, now, summary, b.cfg.alertRooms())
	if err != nil {
		return err
	}
	if ended {
		zerolog.Ctx(ctx).Info().Int64("window", m.ID).Str("why", why).Int("changes", len(changes)).Msg("Maintenance ended")
		b.wakeAll()
	}
	return nil
}
