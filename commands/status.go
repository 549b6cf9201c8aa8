package commands

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/opsroom/opsroom/ops"
	"github.com/opsroom/opsroom/store"
)

const (
	defaultLogLines = 50
	maxLogLines     = 500
)

var cmdServices = &command{
	Name:    "services",
	Summary: "list the registered services: name, host, kind",
	Run: func(ce *Event, _ []string) outcome {
		services := ce.Meta.Fleet.Services()
		if len(services) == 0 {
			return outcome{Reply: "No services are registered: add them under `services:` in the config.", Result: store.ResultOK}
		}
		var b strings.Builder
		b.WriteString("| service | host | kind |\n|---|---|---|\n")
		for _, s := range services {
			fmt.Fprintf(&b, "| %s | %s | %s |\n", escape(s.Name), escape(s.Host), s.Kind)
		}
		return outcome{Reply: b.String(), Result: store.ResultOK}
	},
}

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
			return outcome{Reply: statusReport(ce.Meta.Fleet.StatusAll(ce.Ctx), muted, time.Now()), Result: store.ResultOK}
		}
		svc, bad := lookup(ce, args[0])
		if bad != nil {
			return *bad
		}
		var drift *ops.Drift
		drifted := make(chan ops.Drift, 1)
		if ops.Tracks(svc) {
			// The drift's commands run beside the probe's, not after them; a
			// slow fetch finishes on its own, for the next ask, while the
			// answer goes out without it.
			go func() { drifted <- ce.Meta.Fleet.Drift(context.WithoutCancel(ce.Ctx), svc.Name) }()
		}
		st := ce.Meta.Fleet.Status(ce.Ctx, svc.Name)
		if ops.Tracks(svc) {
			select {
			case d := <-drifted:
				drift = &d
			case <-time.After(driftWait):
				drift = &ops.Drift{Service: svc.Name, Err: errDriftSlow}
			}
		}
		o := outcome{Reply: statusDetailWithDrift(st, drift, time.Now()), Service: svc.Name, Result: store.ResultOK}
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
		reply := fmt.Sprintf("Last %d %s of **%s** on %s:\n\n", lines, ops.Plural(lines, "line", "lines"), escape(svc.Name), code(svc.Host))
		if strings.TrimSpace(out) == "" {
			reply += "_(no output)_"
		} else {
			reply += fencedTail(out, lines, maxSentSize)
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

// stateText is the state with what qualifies it: the exit code, the backend's own word when it differs.
func stateText(st ops.Status) string {
	s := string(st.State)
	if st.State == ops.StateExited {
		if st.Native != "" && st.Native != "exited" {
			s += " (" + st.Native + ")"
		} else {
			s += fmt.Sprintf(" (code %d)", st.ExitCode)
		}
	}
	return s
}

// absence says how a not-deployed service's container or unit is missing.
func absence(st ops.Status) string {
	if st.Native == "removing" {
		return "is being removed"
	}
	return "does not exist"
}

// driftWait is how long !status SERVICE waits for the drift after its probe:
// a fetch from a slow remote must not hold up the answer.
const driftWait = 3 * time.Second

var errDriftSlow = errors.New("the fetch of its tracked branch is still running; ask again shortly, or see !outdated")

// statusListAll is the most services a fleet may have for !status to list
// every one of them; a bigger fleet's running services are counted per host.
const statusListAll = 30

// maxReasonRunes is the most of one error !status all shows.
const maxReasonRunes = 300

// statusRow is a line of the !status table, and the error that explains it.
type statusRow struct {
	row, reason string
}

// statusReport is !status all: a summary line, then each host none of whose
// services could be reached as one row, then every service that is not running
// with its state and reason, then the running ones, each on its row in a small
// fleet, counted per host in a big one. Hosts and services come in natural
// order (h2 before h10). When the problems do not all fit in a message, it
// shows as many as fit and says how many it left out.
func statusReport(all []ops.Status, muted map[string]store.Mute, now time.Time) string {
	if len(all) == 0 {
		return "No services are registered: add them under `services:` in the config."
	}
	listAll := len(all) <= statusListAll
	var (
		hostsOut          []statusRow // hosts none of whose services could be reached, first: one row says much
		problems, running []statusRow
		perHost           []string // "spark: 40"
		counts            = map[ops.State]int{}
		hostsDown, onDown int
	)
	for _, g := range byHost(all) {
		down := allUnreachable(g)
		if down {
			hostsDown++
			onDown += len(g)
		}
		if down && len(g) > 1 {
			hostsOut = append(hostsOut, hostRow(g))
			continue
		}
		up := 0
		for _, st := range g {
			if !down {
				counts[st.State]++ // a host that is down is counted as a host
			}
			if st.State == ops.StateRunning && st.Preflight == nil {
				up++
				if listAll {
					running = append(running, serviceRow(st, muted, now))
				}
				continue
			}
			problems = append(problems, serviceRow(st, muted, now))
		}
		if up > 0 && !listAll {
			perHost = append(perHost, fmt.Sprintf("%s: %d", escape(g[0].Host), up))
		}
	}
	problems = append(hostsOut, problems...)
	summary := statusSummary(counts, hostsDown, onDown)
	build := func(shown int) string {
		var b strings.Builder
		b.WriteString("**" + summary + "**\n\n")
		if shown > 0 || len(running) > 0 {
			b.WriteString("| service | host | state | since | restarts | health |\n|---|---|---|---|---|---|\n")
			for _, r := range problems[:shown] {
				b.WriteString(r.row + "\n")
			}
			for _, r := range running {
				b.WriteString(r.row + "\n")
			}
		}
		var reasons []string
		for _, r := range problems[:shown] {
			if r.reason != "" {
				reasons = append(reasons, r.reason)
			}
		}
		if len(reasons) > 0 {
			b.WriteString("\n" + strings.Join(reasons, "\n") + "\n")
		}
		if left := len(problems) - shown; left > 0 {
			fmt.Fprintf(&b, "\n_… and %d more not running, not shown: %s shows one_\n", left, code(Prefix+"status SERVICE"))
		}
		if len(perHost) > 0 {
			b.WriteString("\n🟢 running — " + strings.Join(perHost, " · ") + "\n")
		}
		return strings.TrimRight(b.String(), "\n")
	}
	// A row weighs at least 8/3 of its Markdown in the event (a table's body
	// is its Markdown, and its HTML is as long), so more rows than that bound
	// allows need not be tried.
	hi, weight := 0, 0
	for hi < len(problems) && weight <= maxSentSize {
		weight += (len(problems[hi].row) + len(problems[hi].reason) + 2) * 8 / 3
		hi++
	}
	fits := func(shown int) bool { return messageSize(build(shown)) <= maxSentSize }
	if hi == len(problems) && fits(hi) {
		return build(hi)
	}
	return build(largest(hi, fits))
}

// byHost groups statuses per host, hosts and services in natural order.
func byHost(all []ops.Status) [][]ops.Status {
	sorted := slices.Clone(all)
	slices.SortFunc(sorted, func(a, b ops.Status) int {
		if c := naturalCompare(a.Host, b.Host); c != 0 {
			return c
		}
		return naturalCompare(a.Service, b.Service)
	})
	var groups [][]ops.Status
	for i, st := range sorted {
		if i == 0 || st.Host != sorted[i-1].Host {
			groups = append(groups, nil)
		}
		groups[len(groups)-1] = append(groups[len(groups)-1], st)
	}
	return groups
}

func allUnreachable(g []ops.Status) bool {
	for _, st := range g {
		if st.State != ops.StateUnreachable {
			return false
		}
	}
	return true
}

func serviceRow(st ops.Status, muted map[string]store.Mute, now time.Time) statusRow {
	health := escape(st.Health)
	if p := st.Probe; p != nil {
		health = strings.TrimPrefix(health+"; ", "; ") + escape(probeAnswer(p))
	}
	if health == "" {
		health = "—"
	}
	name := escape(st.Service)
	if _, ok := muted[st.Service]; ok {
		name += " 🔕"
	}
	if st.Preflight != nil {
		name += " ⚠️"
	}
	r := statusRow{row: fmt.Sprintf("| %s %s | %s | %s | %s | %d | %s |",
		stateIcon(st.State), name, escape(st.Host), stateText(st), since(st, now), st.RestartCount, health)}
	var reasons []string
	if st.Err != nil {
		reasons = append(reasons, fmt.Sprintf("- **%s**: %s", escape(st.Service), escape(clip(st.Err.Error(), maxReasonRunes))))
	}
	if st.Preflight != nil {
		reasons = append(reasons, fmt.Sprintf("- **%s**: ⚠️ %s", escape(st.Service), preflightNote(st.Service, st.Preflight)))
	}
	r.reason = strings.Join(reasons, "\n")
	return r
}

// hostRow is the one row of a host none of whose services could be reached.
func hostRow(g []ops.Status) statusRow {
	host := g[0].Host
	names := make([]string, len(g))
	for i, st := range g {
		names[i] = st.Service
	}
	list := nameList(names, 5)
	r := statusRow{row: fmt.Sprintf("| %s all %d services | %s | %s | — | — | — |",
		stateIcon(ops.StateUnreachable), len(g), escape(host), ops.StateUnreachable)}
	r.reason = fmt.Sprintf("- host **%s** (%s): %s", escape(host), escape(list), escape(clip(errText(g[0].Err), maxReasonRunes)))
	return r
}

// statusSummary is the first line of !status all: "198 running, 2 exited, 1 host unreachable (12 services)".
func statusSummary(counts map[ops.State]int, hostsDown, onDown int) string {
	var parts []string
	for _, s := range []ops.State{ops.StateRunning, ops.StateUnhealthy, ops.StateRestarting, ops.StateExited,
		ops.StateNotDeployed, ops.StateUnknown, ops.StateUnreachable} {
		if n := counts[s]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, s))
		}
	}
	if hostsDown > 0 {
		parts = append(parts, fmt.Sprintf("%d %s unreachable (%d %s)", hostsDown, ops.Plural(hostsDown, "host", "hosts"),
			onDown, ops.Plural(onDown, "service", "services")))
	}
	return strings.Join(parts, ", ")
}

// clip keeps the first n runes of s, marking a cut with "…".
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n]) + "…"
}

// naturalCompare orders names as people count: h2 before h10.
func naturalCompare(a, b string) int {
	for a != "" && b != "" {
		if isDigit(a[0]) && isDigit(b[0]) {
			da, db := digits(a), digits(b)
			na, nb := strings.TrimLeft(da, "0"), strings.TrimLeft(db, "0")
			if c := cmp.Compare(len(na), len(nb)); c != 0 {
				return c
			}
			if c := strings.Compare(na, nb); c != 0 {
				return c
			}
			if c := cmp.Compare(len(da), len(db)); c != 0 {
				return c
			}
			a, b = a[len(da):], b[len(db):]
			continue
		}
		if a[0] != b[0] {
			return cmp.Compare(a[0], b[0])
		}
		a, b = a[1:], b[1:]
	}
	return cmp.Compare(len(a), len(b))
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// digits is the run of digits s starts with.
func digits(s string) string {
	i := 0
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	return s[:i]
}

func statusDetail(st ops.Status, now time.Time) string {
	return statusDetailWithDrift(st, nil, now)
}

// statusDetailWithDrift is !status SERVICE: its state and what qualifies it,
// with how far its checkout is behind its tracked branch when drift is known.
func statusDetailWithDrift(st ops.Status, drift *ops.Drift, now time.Time) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s **%s** on %s: **%s**\n\n", stateIcon(st.State), escape(st.Service), code(st.Host), stateText(st))
	item := func(label, value string) { fmt.Fprintf(&b, "- %s: %s\n", label, value) }
	switch st.State {
	case ops.StateUnreachable:
		item("error", escape(errText(st.Err)))
		if st.Preflight != nil {
			item("⚠️ preflight", preflightNote(st.Service, st.Preflight))
		}
		return b.String()
	case ops.StateNotDeployed:
		item(st.Noun, code(st.Object)+" "+absence(st))
	default:
		object := code(st.Object)
		if st.Image != "" {
			object += " (image " + code(st.Image) + ")"
		}
		item(st.Noun, object)
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
		if p := st.Probe; p != nil {
			item("health probe", code(p.Target)+": "+escape(probeAnswer(p)))
		}
	}
	if st.Commit != "" {
		item("commit", code(ops.ShortCommit(st.Commit)))
	}
	if drift != nil {
		item("drift", driftText(*drift, now))
	}
	if st.Preflight != nil {
		item("⚠️ preflight", preflightNote(st.Service, st.Preflight))
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

// preflightNote says which check of the last preflight a service failed:
// "failed preflight: remote reachable — exit 128: …".
func preflightNote(service string, c *ops.Check) string {
	what := escape(c.Name)
	if c.Service == "" {
		what = "its host's " + what
	}
	return fmt.Sprintf("failed preflight: %s — %s (%s)", what, escape(clip(c.Detail, maxReasonRunes)), code(Prefix+"check "+service))
}

// probeAnswer is a health probe's answer and how long it took: "HTTP 401, 3ms".
func probeAnswer(p *ops.ProbeResult) string {
	return p.Answer + ", " + p.Took()
}

func errText(err error) string {
	if err == nil {
		return "unknown error"
	}
	return err.Error()
}
