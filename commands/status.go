package commands

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/opsroom/opsroom/ops"
	"github.com/opsroom/opsroom/store"
)

const (
	defaultLogLines = 50
	maxLogLines     = 500
)

var cmdStatus = &command{
	Name:    "status",
	Aliases: []string{"st"},
	Args:    "[SERVICE|all]",
	Summary: "state of every service, or details of one",
	Run: func(ce *Event, args []string) outcome {
		if len(args) == 0 || args[0] == "all" {
			muted, err := ce.Meta.Store.ActiveMutes(ce.Ctx, time.Now())
			if err != nil {
				return failed("", err)
			}
			return outcome{Reply: statusTable(ce.Meta.Fleet.StatusAll(ce.Ctx), muted, time.Now()), Result: store.ResultOK}
		}
		svc, bad := lookup(ce, args[0])
		if bad != nil {
			return *bad
		}
		st := ce.Meta.Fleet.Status(ce.Ctx, svc.Name)
		o := outcome{Reply: statusDetail(st, time.Now()), Service: svc.Name, Result: store.ResultOK}
		if st.State == ops.StateUnreachable || st.State == ops.StateUnknown {
			o.Result = store.ResultFailed
			if st.Err != nil {
				o.Detail = st.Err.Error()
			}
		}
		return o
	},
}

var cmdLogs = &command{
	Name:    "logs",
	Args:    "SERVICE [LINES]",
	Summary: fmt.Sprintf("the last LINES lines of output (default %d, at most %d)", defaultLogLines, maxLogLines),
	Run: func(ce *Event, args []string) outcome {
		svc, bad := lookup(ce, args[0])
		if bad != nil {
			return *bad
		}
		lines := defaultLogLines
		if len(args) > 1 {
			var bad *outcome
			if lines, bad = parseCount(args[1], "LINES", maxLogLines, cmdLogsUsage); bad != nil {
				return *bad
			}
		}
		out, err := ce.Meta.Fleet.Logs(ce.Ctx, svc.Name, lines)
		if err != nil {
			return failed(svc.Name, err)
		}
		reply := fmt.Sprintf("Last %d %s of **%s** on %s:\n\n", lines, plural(lines, "line", "lines"), escape(svc.Name), code(svc.Host))
		if strings.TrimSpace(out) == "" {
			reply += "_(no output)_"
		} else {
			reply += codeBlock(out, lines)
		}
		return outcome{Reply: reply, Service: svc.Name, Result: store.ResultOK}
	},
}

const cmdLogsUsage = Prefix + "logs SERVICE [LINES]"

// stateIcon gives each state a glyph that reads at a glance in a table.
func stateIcon(s ops.State) string {
	switch s {
	case ops.StateRunning:
		return "🟢"
	case ops.StateRestarting, ops.StateUnhealthy:
		return "🟠"
	case ops.StateExited, ops.StateNotDeployed, ops.StateUnreachable:
		return "🔴"
	default:
		return "⚪"
	}
}

// since says how long a service has been in its state: "up 2 h", "exited 5 min ago".
func since(st ops.Status, now time.Time) string {
	switch st.State {
	case ops.StateRunning, ops.StateUnhealthy, ops.StateRestarting:
		if !st.StartedAt.IsZero() {
			return "up " + ago(now.Sub(st.StartedAt))
		}
	case ops.StateExited:
		if !st.FinishedAt.IsZero() {
			return ago(now.Sub(st.FinishedAt)) + " ago"
		}
	}
	return "—"
}

// stateText is the state with what qualifies it: the exit code, docker's own word when it differs.
func stateText(st ops.Status) string {
	s := string(st.State)
	if st.State == ops.StateExited {
		if st.DockerStatus != "" && st.DockerStatus != "exited" {
			s += " (" + st.DockerStatus + ")"
		} else {
			s += fmt.Sprintf(" (code %d)", st.ExitCode)
		}
	}
	return s
}

// absence says how a not-deployed service's container is missing.
func absence(st ops.Status) string {
	if st.DockerStatus == "removing" {
		return "is being removed"
	}
	return "does not exist"
}

func statusTable(all []ops.Status, muted map[string]store.Mute, now time.Time) string {
	if len(all) == 0 {
		return "No services are registered: add them under `services:` in the config."
	}
	var b strings.Builder
	b.WriteString("| service | host | state | since | restarts | health |\n|---|---|---|---|---|---|\n")
	var problems []string
	for _, st := range all {
		health := st.Health
		if health == "" {
			health = "—"
		}
		name := escape(st.Service)
		if _, ok := muted[st.Service]; ok {
			name += " 🔕"
		}
		fmt.Fprintf(&b, "| %s %s | %s | %s | %s | %d | %s |\n",
			stateIcon(st.State), name, escape(st.Host), stateText(st), since(st, now), st.RestartCount, health)
		if st.Err != nil {
			problems = append(problems, fmt.Sprintf("- **%s**: %s", escape(st.Service), escape(st.Err.Error())))
		}
	}
	if len(problems) > 0 {
		b.WriteString("\n" + strings.Join(problems, "\n"))
	}
	return b.String()
}

func statusDetail(st ops.Status, now time.Time) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s **%s** on %s: **%s**\n\n", stateIcon(st.State), escape(st.Service), code(st.Host), stateText(st))
	item := func(label, value string) { fmt.Fprintf(&b, "- %s: %s\n", label, value) }
	switch st.State {
	case ops.StateUnreachable:
		item("error", escape(errText(st.Err)))
		return b.String()
	case ops.StateNotDeployed:
		item("container", code(st.Container)+" "+absence(st))
	default:
		container := code(st.Container)
		if st.Image != "" {
			container += " (image " + code(st.Image) + ")"
		}
		item("container", container)
		if s := since(st, now); s != "—" {
			item("since", s)
		}
		if st.State == ops.StateExited {
			item("exit code", strconv.Itoa(st.ExitCode))
		}
		item("restarts", strconv.Itoa(st.RestartCount))
		if st.Health != "" {
			item("health", st.Health)
		}
	}
	if st.Commit != "" {
		item("commit", code(shortCommit(st.Commit)))
	}
	if st.State == ops.StateUnknown {
		if st.Err != nil {
			item("error", escape(st.Err.Error()))
		}
		if st.Raw != "" {
			b.WriteString("\n" + codeBlock(st.Raw, errorTailLines))
		}
	}
	return b.String()
}

func errText(err error) string {
	if err == nil {
		return "unknown error"
	}
	return err.Error()
}

func shortCommit(c string) string {
	if len(c) > 7 {
		return c[:7]
	}
	return c
}
