package commands

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/opsroom/opsroom/ops"
	"github.com/opsroom/opsroom/store"
)

// alertReserve is kept free in an alert for what delivery adds: mentions, and
// the "Resolved" line of the edit that marks it resolved.
const alertReserve = 2 * 1024

// maxAlertServices is how many services an alert about a host names.
const maxAlertServices = 20

// AlertMarkdown is how an alert reads in the room, with its evidence: last
// is the last change opsroom made to the service (nil: none known), said
// relative to now. It fits in one event even as the edit that marks it
// resolved, with room for mentions.
func AlertMarkdown(a *ops.Alert, last *store.Change, now time.Time) string {
	return fitEdit(alertMarkdown(a, last, now), alertReserve)
}

func alertMarkdown(a *ops.Alert, last *store.Change, now time.Time) string {
	var b strings.Builder
	st := a.Status
	switch a.Kind {
	case ops.AlertExited:
		fmt.Fprintf(&b, "🔴 **%s** on %s exited with code %d", escape(a.Service), code(a.Host), st.ExitCode)
		if st.Native != "" && st.Native != "exited" {
			fmt.Fprintf(&b, " (%s)", st.Native)
		}
		fmt.Fprintf(&b, ": %s", ops.ExitMeaning(st))
	case ops.AlertNotDeployed:
		fmt.Fprintf(&b, "🔴 **%s** on %s is not deployed: %s %s %s", escape(a.Service), code(a.Host), st.Noun, code(st.Object), absence(st))
	case ops.AlertUnhealthy:
		check := "health check"
		if st.Probe != nil && !st.Probe.OK {
			check = "health probe"
		}
		fmt.Fprintf(&b, "🟠 **%s** on %s is unhealthy: it runs, but its %s fails", escape(a.Service), code(a.Host), check)
		if a.Health != "" {
			fmt.Fprintf(&b, ": %s", code(a.Health))
		}
	case ops.AlertCrashLoop:
		fmt.Fprintf(&b, "🔁 **%s** on %s is in a crash loop: restart count %d", escape(a.Service), code(a.Host), st.RestartCount)
	case ops.AlertUnreachable:
		fmt.Fprintf(&b, "🔴 host %s is unreachable; its services: %s", code(a.Host), escape(nameList(a.Services, maxAlertServices)))
		if a.Err != nil {
			fmt.Fprintf(&b, "\n\n%s", escape(clip(a.Err.Error(), maxReasonRunes)))
		}
	case ops.AlertEngineDown:
		var engine *ops.EngineError
		name, output := "The container engine", ""
		if errors.As(a.Err, &engine) {
			name, output = engine.Engine, engine.Output
		}
		fmt.Fprintf(&b, "🔴 %s on %s does not answer; its services: %s", escape(name), code(a.Host), escape(nameList(a.Services, maxAlertServices)))
		if output != "" {
			b.WriteString("\n\n" + codeBlock(output, 0))
		}
	case ops.AlertRecovered:
		subject := "**" + escape(a.Service) + "** on " + code(a.Host)
		if a.Service == "" {
			subject = "host " + code(a.Host)
		}
		fmt.Fprintf(&b, "✅ %s recovered: ", subject)
		switch {
		case a.Service == "" && a.Was == string(ops.HostEngineDown):
			b.WriteString("Docker answers again")
		case a.Service == "":
			b.WriteString("reachable again")
		default:
			b.WriteString(stateText(st))
		}
		fmt.Fprintf(&b, " (was %s for %s)", a.Was, ago(a.Downtime))
	case ops.AlertFlapping:
		fmt.Fprintf(&b, "〰️ **%s** on %s is flapping: it changed state too often; its alerts are held back until it has been stable for %s (now %s)",
			escape(a.Service), code(a.Host), ago(a.Window), stateText(st))
	case ops.AlertResolved:
		by := ops.Cause{}
		if a.By != nil {
			by = *a.By
		}
		return ResolvedByLine(by)
	case ops.AlertFlapEnded:
		fmt.Fprintf(&b, "〰️ **%s** on %s is stable again: %s, after %d more %s held back",
			escape(a.Service), code(a.Host), stateText(st), a.Suppressed, ops.Plural(a.Suppressed, "change", "changes"))
	default:
		fmt.Fprintf(&b, "⚪ %s: %s", escape(a.Service), a.Kind)
	}
	if ev := evidence(a, last, now); len(ev) > 0 {
		b.WriteString("\n\n" + strings.Join(ev, "  \n"))
	}
	if strings.TrimSpace(a.Logs) != "" {
		b.WriteString("\n\nLast lines:\n\n" + codeBlock(a.Logs, 0))
	}
	return b.String()
}

// ResolvedByLine is what an alert a command fixed says at its end:
// "✅ Resolved by @alice:example.org's `!start` at 14:05 UTC".
func ResolvedByLine(c ops.Cause) string {
	return fmt.Sprintf("✅ Resolved by %s's %s at %s", escape(c.By), code(Prefix+c.Command), c.At.Format("15:04 MST"))
}

// RecoveredLine is what an alert a recovery ends says at its end:
// "**Resolved** 14:05:09 UTC: ✅ **web** on `spark` recovered: …".
func RecoveredLine(at time.Time, recovery string) string {
	first, _, _ := strings.Cut(recovery, "\n")
	return "**Resolved** " + at.Format("15:04:05 MST") + ": " + first
}

// AckLine is what an alert someone took says: "👀 Acknowledged by @bob:example.org at 14:05 UTC".
func AckLine(by id.UserID, at time.Time) string {
	return fmt.Sprintf("👀 Acknowledged by %s at %s", escape(string(by)), at.Format("15:04 MST"))
}

// ReminderMarkdown is the reply that reminds of alert n, which no one took
// for waited: step 1 is the reminder, the next ones escalate.
func ReminderMarkdown(alert string, n int64, step int, waited time.Duration) string {
	first, _, _ := strings.Cut(alert, "\n")
	icon, what := "⏰", "Not acknowledged for"
	if step > 1 {
		icon, what = "⏫", "Escalated: still not acknowledged after"
	}
	return fmt.Sprintf("%s %s %s: %s\n\nReact 👀 on the alert (or send %s) if you are taking it.",
		icon, what, ago(waited), first, code(fmt.Sprintf("%sack %d", Prefix, n)))
}

// AckReactions are the reaction commands an alert carries: 👀 takes alert n
// (mautrix's reaction commands; some clients add the variation selector).
func AckReactions(n int64) map[string]any {
	cmd := fmt.Sprintf("%sack %d", Prefix, n)
	return map[string]any{ackKeys[0]: cmd, ackKeys[1]: cmd}
}

var ackKeys = []string{"👀", "👀\ufe0f"}

// problemAlert says whether an alert says something is wrong with a service.
func problemAlert(k ops.AlertKind) bool {
	switch k {
	case ops.AlertExited, ops.AlertCrashLoop, ops.AlertUnhealthy, ops.AlertNotDeployed, ops.AlertFlapping:
		return true
	}
	return false
}

// evidence is what a problem alert says besides its state, a line each: the
// last exit of a crash loop, the deployed commit, the last change opsroom made.
func evidence(a *ops.Alert, last *store.Change, now time.Time) []string {
	if a.Service == "" || !problemAlert(a.Kind) {
		return nil
	}
	var out []string
	st := a.Status
	if a.Kind == ops.AlertCrashLoop && (st.ExitCode != 0 || st.OOMKilled) {
		out = append(out, fmt.Sprintf("Last exit: code %d, %s", st.ExitCode, ops.ExitMeaning(st)))
	}
	if st.Commit != "" {
		out = append(out, "Deployed commit: "+code(ops.ShortCommit(st.Commit)))
	}
	if last != nil {
		out = append(out, "Last change from the room: "+changeText(last, now))
	}
	return out
}

// changeText says a change as people do: "restarted by @alice 4 min ago",
// "updated to `9b7d4e2` by @alice 12 min ago".
func changeText(c *store.Change, now time.Time) string {
	verb := map[string]string{"restart": "restarted", "stop": "stopped", "start": "started",
		"update": "updated", "rollback": "rolled back"}[c.Command]
	if verb == "" {
		verb = "changed (" + escape(c.Command) + ")"
	}
	if c.Commit != "" {
		verb += " to " + code(ops.ShortCommit(c.Commit))
	}
	return fmt.Sprintf("%s by %s %s ago", verb, escape(string(c.Sender)), ago(now.Sub(c.Time)))
}
