package commands

import (
	"fmt"
	"strings"
	"time"

	"github.com/opsroom/opsroom/internal/config"
	"github.com/opsroom/opsroom/ops"
	"github.com/opsroom/opsroom/store"
)

const (
	recentAlerts = 10
	maxMute      = 30 * 24 * time.Hour
)

var cmdAlerts = &command{
	Name:    "alerts",
	Args:    "[SERVICE]",
	Summary: fmt.Sprintf("the last %d alerts, of every service or of one", recentAlerts),
	Run: func(ce *Event, args []string) outcome {
		subject := ""
		if len(args) > 0 {
			svc, bad := lookup(ce, args[0])
			if bad != nil {
				return *bad
			}
			subject = svc.Name
		}
		alerts, err := ce.Meta.Store.RecentAlerts(ce.Ctx, subject, recentAlerts)
		if err != nil {
			return failed(subject, err)
		}
		if len(alerts) == 0 {
			return outcome{Reply: "No alerts yet.", Service: subject, Result: store.ResultOK}
		}
		var b strings.Builder
		b.WriteString("| # | time | service or host | alert | |\n|---|---|---|---|---|\n")
		for _, a := range alerts {
			fmt.Fprintf(&b, "| %d | %s | %s | %s | %s |\n", a.ID, a.Time.Format("Jan 2 15:04:05 MST"), escape(a.Subject), a.Kind, alertNote(a))
		}
		return outcome{Reply: b.String(), Service: subject, Result: store.ResultOK}
	},
}

var cmdMute = &command{
	Name:    "mute",
	Role:    RoleOperator,
	Args:    "SERVICE DURATION",
	Summary: "keep watching the service, but record its alerts instead of posting them, for DURATION (30m, 2h, 1d)",
	Run: func(ce *Event, args []string) outcome {
		svc, bad := lookup(ce, args[0])
		if bad != nil {
			return *bad
		}
		d, err := parseMuteDuration(args[1])
		if err != nil {
			return invalid(err.Error() + "; usage: " + code(Prefix+"mute SERVICE DURATION"))
		}
		until := time.Now().Add(d)
		if err := ce.Meta.Store.SetMute(ce.Ctx, store.Mute{Service: svc.Name, Until: until, By: ce.Sender}); err != nil {
			return failed(svc.Name, err)
		}
		return outcome{Reply: fmt.Sprintf("🔕 **%s** muted until %s: its alerts are recorded (see `!alerts %s`), not posted.",
			escape(svc.Name), until.Format("Jan 2 15:04 MST"), svc.Name), Service: svc.Name, Result: store.ResultOK}
	},
}

var cmdUnmute = &command{
	Name:    "unmute",
	Role:    RoleOperator,
	Args:    "SERVICE",
	Summary: "post the service's alerts again",
	Run: func(ce *Event, args []string) outcome {
		svc, bad := lookup(ce, args[0])
		if bad != nil {
			return *bad
		}
		was, err := ce.Meta.Store.Unmute(ce.Ctx, svc.Name)
		if err != nil {
			return failed(svc.Name, err)
		}
		if !was {
			return outcome{Reply: fmt.Sprintf("**%s** was not muted.", escape(svc.Name)), Service: svc.Name, Result: store.ResultOK}
		}
		return outcome{Reply: fmt.Sprintf("🔔 **%s** unmuted: its alerts are posted again.", escape(svc.Name)), Service: svc.Name, Result: store.ResultOK}
	},
}

var cmdWatch = &command{
	Name:    "watch",
	Summary: "the watcher: probe interval, when each host was last probed, whether its event stream is connected",
	Run: func(ce *Event, _ []string) outcome {
		w := ce.Meta.Watcher
		if w == nil {
			return outcome{Reply: "The watcher is off (`watch.disabled` in the config): no alerts are posted.", Result: store.ResultOK}
		}
		now := time.Now()
		var b strings.Builder
		fmt.Fprintf(&b, "Watching every %s.\n\n| host | last probe | answers | event stream |\n|---|---|---|---|\n", w.Interval())
		for _, h := range w.Hosts() {
			last, answers := "not yet", "—"
			if !h.LastProbe.IsZero() {
				last = ago(now.Sub(h.LastProbe)) + " ago"
				switch h.Problem {
				case "":
					answers = "yes"
				case ops.HostEngineDown:
					answers = "yes, but " + escape(h.Engine) + " does not"
				default:
					answers = "no"
				}
			}
			stream := streamText(h.Streams)
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", escape(h.Host), last, answers, stream)
		}
		problems, err := ce.Meta.Store.RoomProblems(ce.Ctx)
		if err != nil {
			return failed("", err)
		}
		if len(problems) > 0 {
			b.WriteString("\n")
		}
		for _, p := range problems {
			fmt.Fprintf(&b, "- ⚠️ alert room %s: cannot post (%s) since %s; its alerts wait\n",
				code(string(p.RoomID)), escape(p.Problem), p.Since.Format("Jan 2 15:04 MST"))
		}
		unpinned, err := ce.Meta.Store.BoardPinProblems(ce.Ctx)
		if err != nil {
			return failed("", err)
		}
		if len(unpinned) > 0 && len(problems) == 0 {
			b.WriteString("\n")
		}
		for _, p := range unpinned {
			fmt.Fprintf(&b, "- ⚠️ alert room %s: cannot pin the board (%s); give opsroom the power to change pinned events\n",
				code(string(p.RoomID)), escape(p.PinProblem))
		}
		if err := writeInstances(ce, &b); err != nil {
			return failed("", err)
		}
		fmt.Fprintf(&b, "Database: %s.\n", byteSize(ce.Meta.Store.Size()))
		return outcome{Reply: b.String(), Result: store.ResultOK}
	},
}

// instancesHeard is how far back !watch lists the instances sharing the database.
const instancesHeard = 10 * time.Minute

// writeInstances says which opsroom instance is active, since when, and the
// standbys' last heartbeats.
func writeInstances(ce *Event, b *strings.Builder) error {
	lease, _, err := ce.Meta.Store.CurrentLease(ce.Ctx)
	if err != nil || lease == nil {
		b.WriteString("\n")
		return err
	}
	fmt.Fprintf(b, "\nActive: %s, since %s (term %d).", escape(lease.Holder), lease.Since.Format("Jan 2 15:04:05 MST"), lease.Epoch)
	instances, now, err := ce.Meta.Store.Instances(ce.Ctx, instancesHeard)
	if err != nil {
		return err
	}
	var standbys []string
	for _, in := range instances {
		if in.Name != lease.Holder && !in.Active {
			standbys = append(standbys, fmt.Sprintf("%s (heard %s ago)", escape(in.Name), ago(now.Sub(in.Seen))))
		}
	}
	if len(standbys) > 0 {
		fmt.Fprintf(b, " Standing by: %s.", strings.Join(standbys, ", "))
	}
	b.WriteString("\n")
	return nil
}

// byteSize is a size as people read it: 812 kB, 3.4 MB.
func byteSize(n int64) string {
	switch {
	case n < 1000:
		return fmt.Sprintf("%d bytes", n)
	case n < 1000*1000:
		return fmt.Sprintf("%d kB", n/1000)
	}
	return fmt.Sprintf("%.1f MB", float64(n)/1e6)
}

// alertNote says what became of an alert: who took it, whether it was
// posted, what it edited or replied to, where it did not arrive.
func alertNote(a *store.Alert) string {
	var notes []string
	switch {
	case a.Kind == store.KindAcknowledged:
		notes = append(notes, fmt.Sprintf("by %s, on #%d", escape(a.Message), a.AboutID))
	case a.EditOnly && a.Kind == store.KindResolved:
		notes = append(notes, fmt.Sprintf("edited into #%d", a.AboutID))
	case a.EditOnly && a.AboutID != 0:
		notes = append(notes, fmt.Sprintf("muted; edited into #%d", a.AboutID))
	case a.Kind == store.KindReminder:
		notes = append(notes, fmt.Sprintf("of #%d", a.AboutID))
	case !a.Posted || a.EditOnly:
		notes = append(notes, "muted")
	}
	if a.AckedBy != "" {
		notes = append(notes, "👀 "+escape(string(a.AckedBy)))
	}
	if n := undeliveredNote(a); n != "" {
		notes = append(notes, n)
	}
	return strings.Join(notes, "; ")
}

// undeliveredNote says which rooms an alert did not reach: failed for good
// (with the reason), or still waiting.
func undeliveredNote(a *store.Alert) string {
	var notes []string
	for _, u := range a.Undelivered {
		if u.Failure == "" {
			notes = append(notes, "waiting for "+code(string(u.RoomID)))
			continue
		}
		// In a table cell: a pipe would end it.
		reason := strings.ReplaceAll(escape(clip(u.Failure, 80)), "|", `\|`)
		notes = append(notes, fmt.Sprintf("⚠️ not delivered to %s: %s", code(string(u.RoomID)), reason))
	}
	return strings.Join(notes, "; ")
}

// parseMuteDuration reads 30m, 2h, 1d (and anything time.ParseDuration takes).
func parseMuteDuration(s string) (time.Duration, error) {
	d, err := config.ParseDuration(s)
	if err != nil || d <= 0 || d > maxMute {
		return 0, fmt.Errorf("DURATION must be like 30m, 2h or 1d, at most 30d; got %s", code(s))
	}
	return d, nil
}

// streamText says how a host's event streams are: "connected", "not
// connected", or each engine's when it has several; none, "none (probed only)".
func streamText(streams []ops.Stream) string {
	if len(streams) == 0 {
		return "none (probed only)"
	}
	var parts []string
	for _, s := range streams {
		state := "not connected"
		if s.Connected {
			state = "connected"
		}
		if len(streams) > 1 {
			state = escape(s.Engine) + " " + state
		}
		parts = append(parts, state)
	}
	return strings.Join(parts, ", ")
}
