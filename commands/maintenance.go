package commands

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/opsroom/opsroom/store"
)

// maxReason is how much of a maintenance window's reason is kept.
const maxReason = 200

var cmdMaintenance = &command{
	Name: "maintenance",
	Args: "[SERVICE|HOST|all DURATION [REASON...]]",
	Summary: "maintenance windows: alone, the open ones; with a service, a host or all and a DURATION (30m, 2h), " +
		"record their alerts instead of posting them until it ends, then post a summary; `!maintenance end SERVICE|HOST|all` ends one",
	Run: func(ce *Event, args []string) outcome {
		if len(args) == 0 {
			return listMaintenance(ce)
		}
		usage := "usage: " + code(Prefix+"maintenance SERVICE|HOST|all DURATION [REASON]") + " or " + code(Prefix+"maintenance end SERVICE|HOST|all")
		target := args[0]
		if target == "end" && len(args) == 2 {
			target = args[1]
		} else if len(args) < 2 {
			return invalid("missing DURATION; " + usage)
		}
		// Changing windows is for operators (of the service, where it names its own).
		if refusal := authorize(ce, cmdMaintenanceChange, []string{target}); refusal != nil {
			return *refusal
		}
		scope, name, bad := maintenanceTarget(ce, target)
		if bad != nil {
			return *bad
		}
		if args[0] == "end" && len(args) == 2 {
			return endMaintenance(ce, scope, name)
		}
		d, err := parseMuteDuration(args[1])
		if err != nil {
			return invalid(err.Error() + "; " + usage)
		}
		now := time.Now()
		m := store.Maintenance{Scope: scope, Name: name, Start: now, End: now.Add(d),
			Reason: clip(strings.Join(args[2:], " "), maxReason), By: ce.Sender}
		extended, err := ce.Meta.Store.StartMaintenance(ce.Ctx, m)
		if err != nil {
			return failed(name, err)
		}
		ce.Meta.changed()
		verb := "started"
		if extended {
			verb = "now lasts"
		}
		return outcome{Reply: fmt.Sprintf("🔧 Maintenance of %s %s until %s: its alerts are recorded (see `!alerts`), not posted; "+
			"when it ends, a summary says what changed. End it sooner with %s.",
			MaintenanceScope(&m), verb, m.End.Format("Jan 2 15:04 MST"), code(Prefix+"maintenance end "+target)),
			Service: name, Result: store.ResultOK}
	},
}

// cmdMaintenanceChange stands for starting or ending a window, for the role check.
var cmdMaintenanceChange = &command{Name: "maintenance", Role: RoleOperator}

// maintenanceTarget reads what a window is for: all, a service, or a host.
func maintenanceTarget(ce *Event, target string) (scope, name string, bad *outcome) {
	if target == store.ScopeAll {
		return store.ScopeAll, "", nil
	}
	if svc, err := ce.Meta.Fleet.Lookup(target); err == nil {
		return store.ScopeService, svc.Name, nil
	}
	for _, c := range ce.Meta.Fleet.Connections() {
		if c.Host == target {
			return store.ScopeHost, c.Host, nil
		}
	}
	_, err := ce.Meta.Fleet.Lookup(target)
	o := invalid(fmt.Sprintf("%s is neither a service nor a host, nor `all` (%s)", code(target), err))
	return "", "", &o
}

func listMaintenance(ce *Event) outcome {
	now := time.Now()
	open, err := ce.Meta.Store.OpenMaintenance(ce.Ctx, now)
	if err != nil {
		return failed("", err)
	}
	open = slices.DeleteFunc(open, func(m *store.Maintenance) bool { return !m.End.After(now) })
	if len(open) == 0 {
		return outcome{Reply: "No maintenance window is open. Start one with " +
			code(Prefix+"maintenance SERVICE|HOST|all DURATION [REASON]") + ".", Result: store.ResultOK}
	}
	var b strings.Builder
	b.WriteString("🔧 In maintenance (alerts recorded, not posted):\n\n")
	for _, m := range open {
		fmt.Fprintf(&b, "- %s\n", maintenanceLine(m))
	}
	return outcome{Reply: b.String(), Result: store.ResultOK}
}

// endMaintenance ends the open windows for the target (for all: every open
// window) now; opsroom's maintenance loop posts their summaries.
func endMaintenance(ce *Event, scope, name string) outcome {
	now := time.Now()
	open, err := ce.Meta.Store.OpenMaintenance(ce.Ctx, now)
	if err != nil {
		return failed(name, err)
	}
	var ended []string
	for _, m := range open {
		if scope != store.ScopeAll && (m.Scope != scope || m.Name != name) {
			continue
		}
		if err := ce.Meta.Store.CloseMaintenance(ce.Ctx, m.ID, now, "ended by "+string(ce.Sender)); err != nil {
			return failed(name, err)
		}
		ended = append(ended, MaintenanceScope(m))
	}
	what := MaintenanceScope(&store.Maintenance{Scope: scope, Name: name})
	if len(ended) == 0 {
		return outcome{Reply: fmt.Sprintf("No maintenance window is open for %s.", what), Service: name, Result: store.ResultOK}
	}
	ce.Meta.changed()
	return outcome{Reply: fmt.Sprintf("🔧 Maintenance of %s ended; its summary follows in the alert rooms.", strings.Join(ended, ", ")),
		Service: name, Result: store.ResultOK}
}

// MaintenanceStarted announces a scheduled window as it starts.
func MaintenanceStarted(m *store.Maintenance) string {
	early := ""
	if m.EndEarly {
		early = ", or once everything in it is back up"
	}
	reason := ""
	if m.Reason != "" {
		reason = ": " + escape(m.Reason)
	}
	return fmt.Sprintf("🔧 Scheduled maintenance of %s started%s. Until %s%s, its alerts are recorded (see `!alerts`), not posted; "+
		"when it ends, a summary says what changed.", MaintenanceScope(m), reason, m.End.Format("15:04 MST"), early)
}

// MaintenanceSummary ends a window: why it ended, what changed during it
// (the alerts recorded, by subject), and whether everything in it runs now
// (down lists what does not).
func MaintenanceSummary(m *store.Maintenance, ended time.Time, why string, changes []*store.Alert, down []BoardRow) string {
	var b strings.Builder
	fmt.Fprintf(&b, "🔧 Maintenance of %s is over (%s) after %s", MaintenanceScope(m), escape(why), ago(ended.Sub(m.Start)))
	if m.Reason != "" {
		fmt.Fprintf(&b, "; it was for: %s", escape(m.Reason))
	}
	b.WriteString(".\n\n")
	var subjects []string
	bySubject := map[string][]string{}
	for _, a := range changes {
		if !slices.Contains(subjects, a.Subject) {
			subjects = append(subjects, a.Subject)
		}
		bySubject[a.Subject] = append(bySubject[a.Subject], a.Kind+" "+a.Time.Format("15:04:05"))
	}
	if len(subjects) == 0 {
		b.WriteString("Nothing changed during it.\n\n")
	} else {
		b.WriteString("During it:\n\n")
		for _, s := range subjects {
			fmt.Fprintf(&b, "- **%s**: %s\n", escape(s), strings.Join(bySubject[s], ", "))
		}
		b.WriteString("\n")
	}
	if len(down) == 0 {
		b.WriteString("✅ Everything in it is running.")
		return b.String()
	}
	var parts []string
	for _, r := range down {
		what := "host " + code(r.Host)
		if r.Service != "" {
			what = "**" + escape(r.Service) + "**"
		}
		parts = append(parts, fmt.Sprintf("%s %s since %s", what, escape(r.State), r.Since.Format("15:04 MST")))
	}
	fmt.Fprintf(&b, "⚠️ Not running now: %s.", strings.Join(parts, "; "))
	return b.String()
}

// changed tells the bot that a mute or a maintenance window changed.
func (d *Deps) changed() {
	if d.Changed != nil {
		d.Changed()
	}
}
