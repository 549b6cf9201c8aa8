package commands

import (
	"fmt"
	"strings"

	"github.com/opsroom/opsroom/ops"
	"github.com/opsroom/opsroom/store"
)

var cmdCheck = &command{
	Name:    "check",
	Args:    "SERVICE|all",
	Summary: "preflight, changing nothing, of one service or of `all` in one table: the host answers with its pinned key and run_as works, its engine (docker or podman, compose, systemctl, the journal) answers, the container or unit exists, a checkout is clean, on the tracked branch, its remote reachable",
	Run: func(ce *Event, args []string) outcome {
		if args[0] == "all" {
			checks, err := ce.Meta.Fleet.Preflight(ce.Ctx)
			if err != nil {
				return failed("", err)
			}
			o := outcome{Reply: preflightTable(checks), Result: store.ResultOK}
			if failed := failedChecks(checks); len(failed) > 0 {
				o.Result, o.Detail = store.ResultFailed, fmt.Sprintf("%d of %d checks failed", len(failed), len(checks))
			}
			return o
		}
		svc, bad := lookup(ce, args[0])
		if bad != nil {
			return *bad
		}
		checks, err := ce.Meta.Fleet.Preflight(ce.Ctx, svc.Name)
		if err != nil {
			return failed(svc.Name, err)
		}
		var b strings.Builder
		fmt.Fprintf(&b, "Preflight of **%s** on %s:\n\n", escape(svc.Name), code(svc.Host))
		o := outcome{Service: svc.Name, Result: store.ResultOK}
		for _, c := range checks {
			mark := "✅"
			if !c.OK {
				mark = "❌"
				if o.Result == store.ResultOK {
					o.Result, o.Detail = store.ResultFailed, c.Name+": "+c.Detail
				}
			}
			fmt.Fprintf(&b, "- %s %s — %s\n", mark, escape(c.Name), escape(c.Detail))
		}
		o.Reply = fitMessage(b.String())
		return o
	},
}

func failedChecks(checks []ops.Check) []ops.Check {
	var out []ops.Check
	for _, c := range checks {
		if !c.OK {
			out = append(out, c)
		}
	}
	return out
}

// preflightTable is !check all: a summary line, then one table of every
// check, host by host, the host's own (service —) first. When the table does
// not fit in a message, the failed checks come alone, as many as fit, and
// the passed ones are counted.
func preflightTable(checks []ops.Check) string {
	if len(checks) == 0 {
		return "No services are registered: add them under `services:` in the config."
	}
	failed := failedChecks(checks)
	hosts, badHosts := map[string]bool{}, map[string]bool{}
	for _, c := range checks {
		hosts[c.Host] = true
		if !c.OK {
			badHosts[c.Host] = true
		}
	}
	summary := fmt.Sprintf("✅ Preflight: all %d checks passed on %d %s", len(checks), len(hosts), ops.Plural(len(hosts), "host", "hosts"))
	if len(failed) > 0 {
		summary = fmt.Sprintf("❌ Preflight: %d of %d checks failed, on %d of %d %s", len(failed), len(checks),
			len(badHosts), len(hosts), ops.Plural(len(hosts), "host", "hosts"))
	}
	row := func(c ops.Check) string {
		mark, service := "✅", "—"
		if !c.OK {
			mark = "❌"
		}
		if c.Service != "" {
			service = escape(c.Service)
		}
		return fmt.Sprintf("| %s | %s | %s | %s | %s |", escape(c.Host), service, escape(c.Name), mark, escape(clip(c.Detail, maxReasonRunes)))
	}
	build := func(rows []ops.Check, note string) string {
		var b strings.Builder
		b.WriteString("**" + summary + "**\n\n| host | service | check | | result |\n|---|---|---|---|---|\n")
		for _, c := range rows {
			b.WriteString(row(c) + "\n")
		}
		if note != "" {
			b.WriteString("\n" + note + "\n")
		}
		return strings.TrimRight(b.String(), "\n")
	}
	if all := build(checks, ""); messageSize(all) <= maxSentSize {
		return all
	}
	passed := len(checks) - len(failed)
	note := func(shown int) string {
		n := fmt.Sprintf("_%d passed %s not shown", passed, ops.Plural(passed, "check", "checks"))
		if left := len(failed) - shown; left > 0 {
			n += fmt.Sprintf(", nor %d more failed; %s shows one service's", left, code(Prefix+"check SERVICE"))
		}
		return n + "_"
	}
	shown := largest(len(failed), func(k int) bool { return messageSize(build(failed[:k], note(k))) <= maxSentSize })
	return build(failed[:shown], note(shown))
}
