package e2e

import (
	"cmp"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"
)

// The chaos soak's checker: a pure function of the run's timeline (what the
// soak did, what Docker saw, what the room says), so that it can be shown to
// fail on a timeline made to be wrong (TestChaosChecker).

// faultKind is one kind of fault the soak injects: what it breaks and what
// the room must then say, how soon.
type faultKind struct {
	name string
	// host: the fault breaks a host, whose alert is about the host;
	// otherwise it breaks (or, for a fault of the homeserver or of opsroom,
	// comes with the kill of) a service, the fault's victim.
	host bool
	// alert is the kind of alert the fault must give, as the alert's text
	// says it; before, one that may come first: a removed container can be
	// seen exited before it is gone, a crash loop's first crash as an exit.
	alert, before string
	// An alert comes at most bound after the episode began, a recovery at
	// most recovery after it ended; the time the room could not be reached
	// (the homeserver away, opsroom taking over) is added to both.
	bound, recovery time.Duration
}

var faultKinds = []faultKind{
	{name: "kill", alert: "exited", bound: 15 * time.Second, recovery: 15 * time.Second},
	{name: "stop", alert: "exited", bound: 15 * time.Second, recovery: 15 * time.Second},
	{name: "rm", alert: "not-deployed", before: "exited", bound: 15 * time.Second, recovery: 15 * time.Second},
	{name: "crash-loop", alert: "crash-loop", before: "exited", bound: 20 * time.Second, recovery: 20 * time.Second},
	{name: "sshd-stop", host: true, alert: "unreachable", bound: 25 * time.Second, recovery: 20 * time.Second},
	{name: "host-cut", host: true, alert: "unreachable", bound: 25 * time.Second, recovery: 20 * time.Second},
	// two probes that each time out (command_timeout 10 s)
	{name: "host-stall", host: true, alert: "unreachable", bound: 40 * time.Second, recovery: 20 * time.Second},
	{name: "homeserver-stall", alert: "exited", bound: 20 * time.Second, recovery: 20 * time.Second},
	{name: "homeserver-stop", alert: "exited", bound: 20 * time.Second, recovery: 20 * time.Second},
	{name: "kill-9-active", alert: "exited", bound: 20 * time.Second, recovery: 20 * time.Second},
	{name: "sigstop-active", alert: "exited", bound: 20 * time.Second, recovery: 20 * time.Second},
}

func kindNamed(name string) (faultKind, bool) {
	i := slices.IndexFunc(faultKinds, func(k faultKind) bool { return k.name == name })
	if i < 0 {
		return faultKind{}, false
	}
	return faultKinds[i], true
}

// fault is one fault the soak injected: what, on what, and when.
type fault struct {
	kind   string
	target string // a service, a host, the homeserver, the active instance
	// victim is the service the fault broke: the target of a service
	// fault, the one killed during a homeserver or opsroom fault.
	victim string
	// from is the fault's start, to the moment everything was mended: for a
	// host, its breaking and its mending.
	from, to time.Time
	takeover time.Duration // for a fault of the active instance: until another held the lease
}

type sentCommand struct {
	text    string
	id      id.EventID
	at      time.Time
	replies []string // opsroom's replies, oldest first
}

// roomAlert is one of the bot's messages that answer no one: its text and
// the homeserver's time of it, as the timeline holds it, and, once the
// checker has read it (readAlert), what it says.
type roomAlert struct {
	body string
	at   time.Time
	// What it says, when it is an alert the checker knows: its subject
	// ("web1", "host a"), its kind (as faultKind.alert) or that it is a
	// recovery, and what a recovery says it was.
	subject, kind, was string
	recovery, known    bool
}

var (
	serviceAlert  = regexp.MustCompile("\\*\\*([\\w.-]+)\\*\\* on `[^`]+` (exited with code|is not deployed|is in a crash loop|is unhealthy|is flapping|is stable again|recovered)")
	hostAlert     = regexp.MustCompile("host `([^`]+)` (is unreachable|recovered)")
	engineAlert   = regexp.MustCompile("on `([^`]+)` does not answer")
	recoveredWas  = regexp.MustCompile(`\(was ([\w-]+) for `)
	alertKindText = map[string]string{
		"exited with code": "exited", "is not deployed": "not-deployed", "is in a crash loop": "crash-loop",
		"is unhealthy": "unhealthy", "is flapping": "flapping", "is stable again": "flap-ended",
		"is unreachable": "unreachable", "does not answer": "engine-down",
	}
)

// readAlert reads an alert's first line.
func readAlert(body string, at time.Time) roomAlert {
	a := roomAlert{body: body, at: at}
	first, _, _ := strings.Cut(body, "\n")
	var verb string
	if m := serviceAlert.FindStringSubmatch(first); m != nil {
		a.subject, verb = m[1], m[2]
	} else if m := hostAlert.FindStringSubmatch(first); m != nil {
		a.subject, verb = "host "+m[1], m[2]
	} else if m := engineAlert.FindStringSubmatch(first); m != nil {
		a.subject, verb = "host "+m[1], "does not answer"
	} else {
		return a
	}
	a.known = true
	if verb == "recovered" {
		a.recovery = true
		if m := recoveredWas.FindStringSubmatch(first); m != nil {
			a.was = m[1]
		}
		return a
	}
	a.kind = alertKindText[verb]
	return a
}

// chaosTimeline is what the checker reads.
type chaosTimeline struct {
	services []string                 // the services !status must list
	faults   []fault                  // in the order injected
	docker   map[string][]dockerEvent // each service's events from the Docker engine, by service name
	alerts   []roomAlert              // the bot's messages that answer no one, oldest first (body and time)
	commands []sentCommand
}

// episode is the time a subject was broken by a fault, from the ground truth,
// and the alerts the checker gave it.
type episode struct {
	fault      int // index in the timeline's faults
	kind       faultKind
	subject    string
	from, to   time.Time
	problems   []roomAlert
	recoveries []roomAlert
}

func (e *episode) String() string {
	return fmt.Sprintf("%s of %s (fault %d), down %s-%s", e.kind.name, e.subject, e.fault+1,
		e.from.Format("15:04:05.0"), e.to.Format("15:04:05.0"))
}

type chaosReport struct {
	faults                                      map[string]int
	episodes, right, missed, doubled, wrongKind int
	unexpected                                  int
	sent, answered, unanswered, answeredTwice   int
	wrongReply, ranTwice                        int
	takeovers                                   []time.Duration
	alertLatency, recoveryLatency               map[string][]time.Duration // by fault kind
	problems                                    []string
	commandsSent                                map[string]int
}

func (r *chaosReport) fail(format string, args ...any) {
	r.problems = append(r.problems, fmt.Sprintf(format, args...))
}

// soakCommands are the commands the soak sends, and what a right reply
// to each says.
var soakCommands = map[string]*regexp.Regexp{
	"!status":       regexp.MustCompile(`^\*\*\d+ [a-z]`), // the summary line; then every service, checked below
	"!status web1":  regexp.MustCompile("^\\S+ \\*\\*web1\\*\\* on `[^`]+`: \\*\\*(running|restarting|exited|not-deployed|unhealthy|unreachable|unknown)\\b"),
	"!restart echo": regexp.MustCompile(`^🟢 restarted \*\*echo\*\*: running`),
}

// Slack for the soak's clock against Docker's around a fault's window.
const episodeSlack = 2 * time.Second

// checkChaos compares the room with the ground truth.
func checkChaos(tl chaosTimeline) *chaosReport {
	rep := &chaosReport{faults: map[string]int{}, alertLatency: map[string][]time.Duration{},
		recoveryLatency: map[string][]time.Duration{}, commandsSent: map[string]int{}}

	// The episodes the faults made, and the time the room was away.
	var episodes []*episode
	var away [][2]time.Time
	for i, f := range tl.faults {
		rep.faults[f.kind]++
		k, ok := kindNamed(f.kind)
		if !ok {
			rep.fail("fault %d: unknown kind %q", i+1, f.kind)
			continue
		}
		if f.takeover > 0 {
			rep.takeovers = append(rep.takeovers, f.takeover)
		}
		switch {
		case strings.HasPrefix(f.kind, "homeserver-"):
			away = append(away, [2]time.Time{f.from, f.to})
		case strings.HasSuffix(f.kind, "-active"):
			away = append(away, [2]time.Time{f.from, f.from.Add(f.takeover)})
		}
		if k.host {
			episodes = append(episodes, &episode{fault: i, kind: k, subject: "host " + f.target, from: f.from, to: f.to})
			continue
		}
		e := &episode{fault: i, kind: k, subject: f.victim}
		for _, ev := range tl.docker[f.victim] {
			at := ev.time()
			if at.Before(f.from.Add(-episodeSlack)) || at.After(f.to.Add(episodeSlack)) {
				continue
			}
			switch ev.Action {
			case "die", "destroy":
				if e.from.IsZero() {
					e.from = at
				}
			case "start":
				if !e.from.IsZero() {
					e.to = at
				}
			}
		}
		switch {
		case e.from.IsZero():
			rep.fail("fault %d, %s of %s: Docker saw no die or destroy of %s between %s and %s: the soak did not break it",
				i+1, f.kind, f.target, f.victim, f.from.Format("15:04:05.0"), f.to.Format("15:04:05.0"))
		case e.to.IsZero():
			rep.fail("fault %d, %s of %s: Docker saw %s not start again before %s", i+1, f.kind, f.target, f.victim, f.to.Format("15:04:05.0"))
		default:
			episodes = append(episodes, e)
		}
	}
	sort.Slice(away, func(i, j int) bool { return away[i][0].Before(away[j][0]) })
	// deadline is start+bound, lengthened by the time the room was away
	// within it: what could not be delivered then comes after.
	deadline := func(start time.Time, bound time.Duration) time.Time {
		d := start.Add(bound)
		for _, iv := range away {
			if iv[0].Before(d) && iv[1].After(start) {
				d = d.Add(minTime(iv[1], d).Sub(maxTime(iv[0], start)))
			}
		}
		return d
	}

	// Every coverage the run owes.
	var missing []string
	for _, k := range faultKinds {
		if rep.faults[k.name] == 0 {
			missing = append(missing, k.name)
		}
	}
	if len(missing) > 0 {
		rep.fail("not exercised: the run injected no %s fault; a run must exercise every fault kind (a longer random run, or the fixed schedule)",
			strings.Join(missing, ", "))
	}

	// A service Docker saw go down outside every fault of it: a change the soak did not make.
	for name, events := range tl.docker {
		if name == "echo" {
			continue // only commands touch it; its starts are counted below
		}
		for _, ev := range events {
			if ev.Action != "die" && ev.Action != "destroy" {
				continue
			}
			at := ev.time()
			planned := slices.ContainsFunc(tl.faults, func(f fault) bool {
				return f.victim == name && !at.Before(f.from.Add(-episodeSlack)) && !at.After(f.to.Add(episodeSlack))
			})
			if !planned {
				rep.fail("unplanned: Docker saw %s %s at %s, during none of the soak's faults of it", name, ev.Action, at.Format("15:04:05.0"))
			}
		}
	}

	// Each alert to the episode it belongs to, by time: a problem to the
	// latest episode of its subject begun before it, a recovery to the
	// latest ended before it, each within its bound.
	bySubject := map[string][]*episode{}
	for _, e := range episodes {
		bySubject[e.subject] = append(bySubject[e.subject], e)
	}
	for _, raw := range tl.alerts {
		a := readAlert(raw.body, raw.at)
		when := a.at.Format("15:04:05.0")
		if !a.known {
			rep.unexpected++
			rep.fail("unexpected alert at %s, none the soak can cause: %q", when, a.body)
			continue
		}
		var owner *episode
		for _, e := range bySubject[a.subject] { // in the order injected, which is the order in time
			start, bound := e.from, e.kind.bound
			if a.recovery {
				start, bound = e.to, e.kind.recovery
			}
			if !a.at.Before(start) {
				owner = nil
				if !a.at.After(deadline(start, bound)) {
					owner = e
				}
			}
		}
		if owner == nil {
			rep.unexpected++
			what := "problem"
			if a.recovery {
				what = "recovery"
			}
			rep.fail("unexpected alert at %s: no episode of %s whose %s it can be, within its bound: %q", when, a.subject, what, a.body)
			continue
		}
		if a.recovery {
			owner.recoveries = append(owner.recoveries, a)
		} else {
			owner.problems = append(owner.problems, a)
		}
	}

	// Each episode: its one alert of its fault's kind (after one it may come
	// after), and one recovery, saying what it recovered from.
	for _, e := range episodes {
		rep.episodes++
		var kinds []string
		for _, a := range e.problems {
			kinds = append(kinds, a.kind)
		}
		bodies := func(list []roomAlert) []string {
			var out []string
			for _, a := range list {
				out = append(out, a.body)
			}
			return out
		}
		ok := true
		switch {
		case len(kinds) == 0:
			rep.missed++
			ok = false
			rep.fail("missed: %s: no alert within %s", e, e.kind.bound)
		case slices.Equal(kinds, []string{e.kind.alert}) || e.kind.before != "" && slices.Equal(kinds, []string{e.kind.before, e.kind.alert}):
		case e.kind.name == "rm" && slices.Equal(kinds, []string{"not-deployed", "exited"}) && strings.Contains(e.problems[1].body, "(created)"):
			// Brought back with docker run, the container is created before it
			// starts: a probe in between rightly sees it exited (created).
		case len(slices.Compact(slices.Sorted(slices.Values(kinds)))) < len(kinds):
			rep.doubled++
			ok = false
			rep.fail("doubled: %s: %d alerts %q", e, len(kinds), bodies(e.problems))
		default:
			rep.wrongKind++
			ok = false
			want := e.kind.alert
			if e.kind.before != "" {
				want = e.kind.before + " (or not), then " + want
			}
			rep.fail("wrong kind: %s: want %s, the room says %s: %q", e, want, strings.Join(kinds, ", "), bodies(e.problems))
		}
		switch len(e.recoveries) {
		case 0:
			rep.missed++
			ok = false
			rep.fail("missed: %s: no recovery within %s of its end", e, e.kind.recovery)
		case 1:
			r := e.recoveries[0]
			if len(kinds) > 0 && r.was != kinds[len(kinds)-1] {
				rep.wrongKind++
				ok = false
				rep.fail("wrong kind: %s: its recovery says it was %q, its alert said %s: %q", e, r.was, kinds[len(kinds)-1], r.body)
			}
			if len(e.problems) > 0 && r.at.Before(e.problems[len(e.problems)-1].at) {
				ok = false
				rep.fail("out of order: %s: its recovery came before its alert: %q", e, append(bodies(e.recoveries), bodies(e.problems)...))
			}
			rep.recoveryLatency[e.kind.name] = append(rep.recoveryLatency[e.kind.name], r.at.Sub(e.to))
		default:
			rep.doubled++
			ok = false
			rep.fail("doubled: %s: %d recoveries %q", e, len(e.recoveries), bodies(e.recoveries))
		}
		if len(e.problems) > 0 {
			rep.alertLatency[e.kind.name] = append(rep.alertLatency[e.kind.name], e.problems[0].at.Sub(e.from))
		}
		if ok {
			rep.right++
		}
	}

	// Commands: each answered once, saying what was asked; echo started
	// exactly as often as a reply said it restarted.
	restarted := 0
	for _, cmd := range tl.commands {
		rep.sent++
		rep.commandsSent[cmd.text]++
		sent := fmt.Sprintf("%q sent at %s", cmd.text, cmd.at.Format("15:04:05.0"))
		switch len(cmd.replies) {
		case 0:
			rep.unanswered++
			rep.fail("unanswered: %s", sent)
			continue
		case 1:
		default:
			rep.answeredTwice++
			rep.fail("answered %d times: %s: %q", len(cmd.replies), sent, cmd.replies)
		}
		reply := cmd.replies[0]
		if why := wrongReply(cmd.text, reply, tl.services); why != "" {
			rep.wrongReply++
			rep.fail("wrong reply: %s: %s: %q", sent, why, reply)
			continue
		}
		if len(cmd.replies) == 1 {
			rep.answered++
		}
		if cmd.text == "!restart echo" {
			restarted++
		}
	}
	for text := range soakCommands {
		if rep.commandsSent[text] == 0 {
			rep.fail("not exercised: the run sent no %q", text)
		}
	}
	starts := 0
	for _, ev := range tl.docker["echo"] {
		if ev.Action == "start" {
			starts++
		}
	}
	switch {
	case starts > restarted:
		rep.ranTwice = starts - restarted
		rep.fail("run twice: echo started %d times for %d replies saying it restarted", starts, restarted)
	case starts < restarted:
		rep.fail("not run: %d replies say echo restarted, Docker saw it start %d times", restarted, starts)
	}
	return rep
}

// wrongReply says what is wrong with a reply to a soak command, or "".
func wrongReply(text, reply string, services []string) string {
	want, ok := soakCommands[text]
	switch {
	case !ok:
		return "not a command the soak sends"
	case !want.MatchString(reply):
		return "it does not say what was asked (want " + want.String() + ")"
	}
	if text == "!status" {
		var absent []string
		for _, s := range services {
			if !regexp.MustCompile(`\b` + regexp.QuoteMeta(s) + `\b`).MatchString(reply) {
				absent = append(absent, s)
			}
		}
		if len(absent) > 0 {
			return "it does not list " + strings.Join(absent, ", ")
		}
	}
	return ""
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// table is the report: the counts, then the latencies per fault kind.
func (r *chaosReport) table(title string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n\n", title)
	kinds := make([]string, 0, len(r.faults))
	total := 0
	for _, k := range faultKinds {
		if n := r.faults[k.name]; n > 0 {
			kinds = append(kinds, fmt.Sprintf("%s %d", k.name, n))
			total += n
		}
	}
	fmt.Fprintf(&b, "| figure | count |\n|---|---|\n")
	fmt.Fprintf(&b, "| faults injected | %d (%s) |\n", total, strings.Join(kinds, ", "))
	fmt.Fprintf(&b, "| episodes (a subject broken) | %d |\n| alerted once, of the right kind, and recovered once | %d |\n", r.episodes, r.right)
	fmt.Fprintf(&b, "| missed / doubled / wrong kind | %d / %d / %d |\n| unexpected alerts | %d |\n", r.missed, r.doubled, r.wrongKind, r.unexpected)
	var sent []string
	for _, text := range slices.Sorted(maps.Keys(r.commandsSent)) {
		sent = append(sent, fmt.Sprintf("%s %d", text, r.commandsSent[text]))
	}
	fmt.Fprintf(&b, "| commands sent | %d (%s) |\n| answered once, saying what was asked | %d |\n", r.sent, strings.Join(sent, ", "), r.answered)
	fmt.Fprintf(&b, "| unanswered / answered twice / wrong reply / run twice | %d / %d / %d / %d |\n",
		r.unanswered, r.answeredTwice, r.wrongReply, r.ranTwice)
	var times []string
	for _, d := range r.takeovers {
		times = append(times, seconds(d))
	}
	fmt.Fprintf(&b, "| failovers (takeover times) | %d (%s) |\n", len(r.takeovers), strings.Join(times, ", "))

	fmt.Fprintf(&b, "\n| fault kind | n | to its alert p50 / max | to its recovery p50 / max | bound (alert / recovery) |\n|---|---|---|---|---|\n")
	for _, k := range faultKinds {
		if r.faults[k.name] == 0 {
			continue
		}
		fmt.Fprintf(&b, "| %s | %d | %s | %s | %s / %s |\n", k.name, r.faults[k.name],
			p50max(r.alertLatency[k.name]), p50max(r.recoveryLatency[k.name]), seconds(k.bound), seconds(k.recovery))
	}
	return b.String()
}

func p50max(list []time.Duration) string {
	if len(list) == 0 {
		return "—"
	}
	s := slices.Sorted(slices.Values(list))
	return seconds(s[(len(s)-1)/2]) + " / " + seconds(s[len(s)-1])
}

func seconds(d time.Duration) string { return fmt.Sprintf("%.1f s", d.Seconds()) }

// The checker on a synthetic run: a good one passes, and each way of being
// wrong fails it. No world is needed.

// goodRun is a run of every fault kind, one a minute from t0, whose room
// says everything right.
func goodRun(t0 time.Time) chaosTimeline {
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	hostOf := map[string]string{}
	for h, names := range chaosLayout {
		for _, n := range names {
			hostOf[n] = h
		}
	}
	tl := chaosTimeline{docker: map[string][]dockerEvent{}}
	for s := range hostOf {
		tl.services = append(tl.services, s)
	}
	sort.Strings(tl.services)
	ev := func(service, action string, s float64) {
		tl.docker[service] = append(tl.docker[service], dockerEvent{Action: action, TimeNano: at(s).UnixNano()})
	}
	alert := func(s float64, body string) { tl.alerts = append(tl.alerts, roomAlert{body: body, at: at(s)}) }
	problem := map[string]string{
		"exited":       "🔴 **%s** on `%s` exited with code 137: killed (SIGKILL)",
		"not-deployed": "🔴 **%s** on `%s` is not deployed: container `x-%[1]s` does not exist",
		"crash-loop":   "🔁 **%s** on `%s` is in a crash loop: restart count 4\n\nLast exit: code 1",
	}
	victims := map[string]string{"kill": "web1", "stop": "web3", "rm": "web5", "crash-loop": "loop",
		"homeserver-stall": "web2", "homeserver-stop": "web4", "kill-9-active": "web6", "sigstop-active": "web1"}
	for i, k := range faultKinds {
		b := float64(60 * i)
		if k.host {
			h := []string{"a", "b", "c"}[i%3]
			tl.faults = append(tl.faults, fault{kind: k.name, target: h, from: at(b), to: at(b + 12)})
			alert(b+4, fmt.Sprintf("🔴 host `%s` is unreachable; its services: …", h))
			alert(b+13, fmt.Sprintf("✅ host `%s` recovered: reachable again (was unreachable for 9 s)", h))
			continue
		}
		v := victims[k.name]
		f := fault{kind: k.name, target: v, victim: v, from: at(b), to: at(b + 10)}
		died, started, alerted, recovered := b+0.1, b+6, b+1.2, b+7
		switch {
		case strings.HasPrefix(k.name, "homeserver-"):
			f.target = "homeserver"
			alerted, recovered = b+11, b+11.2 // both held back until the homeserver is back
		case strings.HasSuffix(k.name, "-active"):
			f.target, f.takeover = "opsroom pid 1", 3*time.Second
			alerted = b + 3.4
		}
		tl.faults = append(tl.faults, f)
		ev(v, "die", died)
		if k.name == "rm" {
			ev(v, "destroy", died+0.1)
		}
		if k.name == "crash-loop" {
			ev(v, "start", died+0.2) // its short runs between crashes
			ev(v, "die", died+0.5)
		}
		ev(v, "start", started)
		if k.name == "rm" {
			alert(alerted-0.5, fmt.Sprintf(problem["exited"], v, hostOf[v])) // seen exited before it was gone
		}
		alert(alerted, fmt.Sprintf(problem[k.alert], v, hostOf[v]))
		alert(recovered, fmt.Sprintf("✅ **%s** on `%s` recovered: running (was %s for 6 s)", v, hostOf[v], k.alert))
	}
	end := float64(60 * len(faultKinds))
	statusAll := "**8 running**\n\n| service | host | state | since | restarts | health |\n|---|---|---|---|---|---|\n"
	for _, s := range tl.services {
		statusAll += fmt.Sprintf("| 🟢 %s | %s | running | up 2 min | 0 | — |\n", s, hostOf[s])
	}
	tl.commands = []sentCommand{
		{text: "!status", at: at(end), replies: []string{statusAll}},
		{text: "!status web1", at: at(end + 1), replies: []string{"🟢 **web1** on `a`: **running**\n\n- container: `x-web1`\n- restarts: 0"}},
		{text: "!restart echo", at: at(end + 2), replies: []string{"🟢 restarted **echo**: running since 1 s, restart count 0"}},
	}
	ev("echo", "kill", end+2.1)
	ev("echo", "die", end+2.1)
	ev("echo", "start", end+2.5)
	ev("echo", "restart", end+2.5)
	return tl
}

func TestChaosCheckerPassesAGoodRun(t *testing.T) {
	rep := checkChaos(goodRun(time.Date(2026, 12, 2, 14, 0, 0, 0, time.UTC)))
	for _, p := range rep.problems {
		t.Error(p)
	}
	if rep.episodes != len(faultKinds) || rep.right != len(faultKinds) || rep.answered != 3 {
		t.Errorf("%d episodes, %d right, %d commands answered; want %d, %d, 3", rep.episodes, rep.right, rep.answered, len(faultKinds), len(faultKinds))
	}
	table := rep.table("a synthetic run")
	for _, want := range []string{"| kill | 1 | 1.1 s / 1.1 s | 1.0 s / 1.0 s | 15.0 s / 15.0 s |", "| homeserver-stop | 1 | 10.9 s / 10.9 s |",
		"| failovers (takeover times) | 2 (3.0 s, 3.0 s) |"} {
		if !strings.Contains(table, want) {
			t.Errorf("the report lacks %q:\n%s", want, table)
		}
	}
}

func TestChaosCheckerFails(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 14, 0, 0, 0, time.UTC)
	// find is the index of the first alert of the good run containing text.
	find := func(tl chaosTimeline, text string) int {
		i := slices.IndexFunc(tl.alerts, func(a roomAlert) bool { return strings.Contains(a.body, text) })
		if i < 0 {
			t.Fatalf("the good run has no alert with %q", text)
		}
		return i
	}
	command := func(tl chaosTimeline, text string) *sentCommand {
		return &tl.commands[slices.IndexFunc(tl.commands, func(c sentCommand) bool { return c.text == text })]
	}
	for _, tc := range []struct {
		name   string
		break_ func(tl *chaosTimeline)
		want   []string // in the problems, each
	}{
		{"an alert dropped", func(tl *chaosTimeline) {
			tl.alerts = slices.Delete(tl.alerts, find(*tl, "web1** on `a` exited"), find(*tl, "web1** on `a` exited")+1)
		}, []string{"missed: kill of web1 (fault 1)"}},
		{"an alert doubled", func(tl *chaosTimeline) {
			a := tl.alerts[find(*tl, "web3** on `b` exited")]
			a.at = a.at.Add(time.Second)
			tl.alerts = slices.Insert(tl.alerts, find(*tl, "web3** on `b` exited")+1, a)
		}, []string{"doubled: stop of web3 (fault 2)"}},
		{"a missed episode and a doubled one do not cancel out", func(tl *chaosTimeline) {
			// web1: fault 1's alert gone, fault 11's twice
			tl.alerts = slices.Delete(tl.alerts, find(*tl, "web1** on `a` exited"), find(*tl, "web1** on `a` exited")+1)
			i := slices.IndexFunc(tl.alerts, func(a roomAlert) bool {
				return strings.Contains(a.body, "web1** on `a` exited") && a.at.After(t0.Add(10*time.Minute))
			})
			tl.alerts = slices.Insert(tl.alerts, i+1, tl.alerts[i])
		}, []string{"missed: kill of web1 (fault 1)", "doubled: sigstop-active of web1 (fault 11)"}},
		{"a recovery dropped", func(tl *chaosTimeline) {
			i := find(*tl, "host `a` recovered")
			tl.alerts = slices.Delete(tl.alerts, i, i+1)
		}, []string{"missed: host-stall of host a (fault 7)", "no recovery within 20s"}},
		{"a recovery doubled", func(tl *chaosTimeline) {
			i := find(*tl, "web5** on `c` recovered")
			tl.alerts = slices.Insert(tl.alerts, i+1, tl.alerts[i])
		}, []string{"doubled: rm of web5 (fault 3)", ": 2 recoveries"}},
		{"an alert of the wrong kind", func(tl *chaosTimeline) {
			i := find(*tl, "web3** on `b` exited")
			tl.alerts[i].body = "🔴 **web3** on `b` is not deployed: container `x` does not exist"
		}, []string{"wrong kind: stop of web3 (fault 2)", "want exited, the room says not-deployed"}},
		{"a recovery from the wrong state", func(tl *chaosTimeline) {
			i := find(*tl, "loop** on `b` recovered")
			tl.alerts[i].body = "✅ **loop** on `b` recovered: running (was exited for 6 s)"
		}, []string{"wrong kind: crash-loop of loop (fault 4)", "its recovery says it was \"exited\""}},
		{"an alert past its bound", func(tl *chaosTimeline) {
			i := find(*tl, "web3** on `b` exited")
			tl.alerts[i].at = tl.alerts[i].at.Add(20 * time.Second)
		}, []string{"missed: stop of web3 (fault 2)", "no alert within 15s", "unexpected alert at 14:01:21.2: no episode of web3"}},
		{"an alert no fault explains", func(tl *chaosTimeline) {
			tl.alerts = append(tl.alerts, roomAlert{body: "🔴 **web6** on `c` exited with code 1: failed", at: t0.Add(2 * time.Minute)})
		}, []string{"unexpected alert", "no episode of web6"}},
		{"an alert the checker cannot read", func(tl *chaosTimeline) {
			tl.alerts = append(tl.alerts, roomAlert{body: "⚪ web6: something", at: t0.Add(2 * time.Minute)})
		}, []string{"unexpected alert", "none the soak can cause"}},
		{"a restart answered with an error", func(tl *chaosTimeline) {
			command(*tl, "!restart echo").replies = []string{"❌ **echo**: host `a` is unreachable: ssh: handshake failed"}
		}, []string{"wrong reply: \"!restart echo\"", "run twice: echo started 1 times for 0 replies"}},
		{"a restart answered twice", func(tl *chaosTimeline) {
			c := command(*tl, "!restart echo")
			c.replies = append(c.replies, c.replies[0])
		}, []string{"answered 2 times: \"!restart echo\""}},
		{"a restart run twice", func(tl *chaosTimeline) {
			tl.docker["echo"] = append(tl.docker["echo"], dockerEvent{Action: "start", TimeNano: t0.Add(11*time.Minute + 5*time.Second).UnixNano()})
		}, []string{"run twice: echo started 2 times for 1 replies"}},
		{"a command unanswered", func(tl *chaosTimeline) {
			command(*tl, "!status web1").replies = nil
		}, []string{"unanswered: \"!status web1\""}},
		{"a status that does not list a service", func(tl *chaosTimeline) {
			c := command(*tl, "!status")
			c.replies = []string{strings.ReplaceAll(c.replies[0], "| 🟢 web4 | b | running | up 2 min | 0 | — |\n", "")}
		}, []string{"wrong reply: \"!status\"", "does not list web4"}},
		{"a status of web1 that names no state", func(tl *chaosTimeline) {
			command(*tl, "!status web1").replies = []string{"❌ **web1**: timed out: context deadline exceeded"}
		}, []string{"wrong reply: \"!status web1\""}},
		{"a fault kind not exercised", func(tl *chaosTimeline) {
			tl.faults = tl.faults[:len(tl.faults)-1]
			tl.alerts = tl.alerts[:len(tl.alerts)-2]
			tl.docker["web1"] = tl.docker["web1"][:2]
		}, []string{"not exercised: the run injected no sigstop-active fault"}},
		{"a command not exercised", func(tl *chaosTimeline) {
			tl.commands = tl.commands[:2]
			tl.docker["echo"] = nil
		}, []string{"not exercised: the run sent no \"!restart echo\""}},
		{"a change the soak did not make", func(tl *chaosTimeline) {
			tl.docker["web6"] = append(tl.docker["web6"], dockerEvent{Action: "die", TimeNano: t0.Add(30 * time.Second).UnixNano()})
		}, []string{"unplanned: Docker saw web6 die"}},
		{"a fault Docker did not see", func(tl *chaosTimeline) {
			tl.docker["web3"] = nil
		}, []string{"fault 2, stop of web3: Docker saw no die", "unexpected alert"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tl := goodRun(t0)
			tc.break_(&tl)
			problems := strings.Join(checkChaos(tl).problems, "\n")
			if problems == "" {
				t.Fatal("the checker passed it")
			}
			for _, want := range tc.want {
				if !strings.Contains(problems, want) {
					t.Errorf("the problems lack %q:\n%s", want, problems)
				}
			}
		})
	}
}

// The fixed schedule exercises every fault kind and command, and rests each
// host for two faults after one touched it, as the random one does.
func TestChaosCISchedule(t *testing.T) {
	hostOf := map[string]string{}
	for h, names := range chaosLayout {
		for _, n := range names {
			hostOf[n] = h
		}
	}
	kinds, commands := map[string]int{}, map[string]int{}
	var touched []string
	for i, s := range ciSchedule {
		kinds[s.kind]++
		for _, text := range []string{s.during, s.after} {
			if text != "" {
				commands[text]++
			}
		}
		k, _ := kindNamed(s.kind)
		h := s.target
		if !k.host {
			h = hostOf[cmp.Or(s.victim, s.target)]
		}
		if h == "" {
			t.Errorf("step %d, %s: on no host of the soak", i+1, s.kind)
		}
		if slices.Contains(touched[max(0, len(touched)-2):], h) {
			t.Errorf("step %d, %s: on host %s, which one of the two faults before touched", i+1, s.kind, h)
		}
		touched = append(touched, h)
	}
	for _, k := range faultKinds {
		if kinds[k.name] != 1 {
			t.Errorf("the schedule has %d %s faults, want 1", kinds[k.name], k.name)
		}
	}
	for text := range soakCommands {
		if commands[text] < 2 {
			t.Errorf("the schedule sends %q %d times, want at least 2", text, commands[text])
		}
	}
}
