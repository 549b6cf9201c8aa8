package commands

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/opsroom/opsroom/store"
)

const (
	defaultHistory = 10
	maxHistory     = 50
)

var cmdHistory = &command{
	Name:    "history",
	Args:    "[SERVICE] [N]",
	Summary: fmt.Sprintf("the last N entries of the audit log, of every service or of one (default %d, at most %d)", defaultHistory, maxHistory),
	Run: func(ce *Event, args []string) outcome {
		subject, n := "", defaultHistory
		if len(args) > 0 {
			if _, err := strconv.Atoi(args[0]); err != nil {
				svc, bad := lookup(ce, args[0])
				if bad != nil {
					return *bad
				}
				subject, args = svc.Name, args[1:]
			}
		}
		if len(args) == 2 {
			return invalid(fmt.Sprintf("too many arguments; usage: %s", code(Prefix+"history [SERVICE] [N]")))
		}
		if len(args) == 1 {
			var bad *outcome
			if n, bad = parseCount(args[0], "N", maxHistory, Prefix+"history [SERVICE] [N]"); bad != nil {
				return *bad
			}
		}
		entries, err := ce.Meta.Store.Audit().Recent(ce.Ctx, subject, n)
		if err != nil {
			return failed(subject, err)
		}
		if len(entries) == 0 {
			return outcome{Reply: "The audit log is empty.", Service: subject, Result: store.ResultOK}
		}
		var b strings.Builder
		b.WriteString("| time | who | command | result | detail |\n|---|---|---|---|---|\n")
		for _, e := range entries {
			who, cmd := escape(e.Sender.String()), code(strings.TrimSpace(Prefix+e.Command+" "+e.Args))
			if e.Command == store.AuditAlert {
				who, cmd = "watcher", "alert: "+escape(e.Args)
			}
			detail := e.Detail
			if e.ExitCode != nil {
				detail = strings.TrimSpace(fmt.Sprintf("exit %d %s", *e.ExitCode, detail))
			}
			if r := []rune(detail); len(r) > 80 {
				detail = string(r[:77]) + "…"
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", e.Time.Format("Jan 2 15:04:05 MST"), who,
				cmd, e.Result, escape(strings.ReplaceAll(detail, "\n", " ")))
		}
		return outcome{Reply: b.String(), Service: subject, Result: store.ResultOK}
	},
}

// parseCount reads a count argument from 1 to maxN, or says what would be right.
func parseCount(arg, name string, maxN int, usage string) (int, *outcome) {
	n, err := strconv.Atoi(arg)
	if err != nil || n < 1 || n > maxN {
		o := invalid(fmt.Sprintf("%s must be a whole number from 1 to %d, got %s; usage: %s", name, maxN, code(arg), code(usage)))
		return 0, &o
	}
	return n, nil
}
