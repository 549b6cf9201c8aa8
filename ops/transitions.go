package ops

import (
	"time"
)

// AlertKind is what an alert says happened.
type AlertKind string

const (
	AlertExited      AlertKind = "exited"
	AlertNotDeployed AlertKind = "not-deployed"
	AlertUnhealthy   AlertKind = "unhealthy"
	AlertCrashLoop   AlertKind = "crash-loop"
	AlertUnreachable AlertKind = "unreachable" // a host, with the services on it
	AlertEngineDown  AlertKind = "engine-down" // a host whose container engine does not answer
	AlertRecovered   AlertKind = "recovered"
	AlertFlapping    AlertKind = "flapping"   // too many changes: alerts held back
	AlertFlapEnded   AlertKind = "flap-ended" // stable again: a summary
	// AlertResolved is a service a command brought back to running: not
	// posted, but the alert it fixed is edited to say who fixed it.
	AlertResolved AlertKind = "resolved"
)

// Rules are the thresholds of the transition rules.
type Rules struct {
	CrashLoopRestarts int           // RestartCount rising by this much ...
	CrashLoopWindow   time.Duration // ... within this window is a crash loop
	UnreachableProbes int           // consecutive failed probes before a host is unreachable
	// Settle is the probe interval. Event-driven probes come much closer
	// together, so the rules that need a state to last count time, not probes:
	// `restarting` for Settle is a crash loop, and out of one takes 2×Settle up.
	Settle time.Duration
	// UnhealthyFor is how long `unhealthy` must last before it is alerted: a
	// health check cut short by a kill reports unhealthy a moment before the
	// container dies, and that is an exit, not a failing health check.
	UnhealthyFor time.Duration
	// More than FlapChanges alerts within FlapWindow is flapping (0: off).
	FlapChanges int
	FlapWindow  time.Duration
}

// Remembered is what the watcher keeps of a service (or host) across probes
// and across restarts of opsroom: the state last reported, and whether it was
// alerted (so that a recovery is owed).
type Remembered struct {
	State        string // a State, or AlertCrashLoop; "" when nothing is known yet
	Alerted      bool
	Since        time.Time
	RestartCount int
	Flap         Flap
}

// Flap is a flapping service's silence: its alerts are held back until no
// change has come for the flap window.
type Flap struct {
	Flapping   bool
	LastChange time.Time // the last change worth an alert (kept while not flapping too)
	Suppressed int       // alerts held back while flapping
}

// tracker follows one service through its probes and decides when a change is
// an alert. It is pure: the watcher feeds it probes and persists what it remembers.
type tracker struct {
	rem Remembered

	samples         []restartSample // RestartCount over the crash-loop window
	restartingSince time.Time       // zero unless the last probe saw `restarting`
	unhealthySince  time.Time       // zero unless the last probe saw `unhealthy`
	upSince         time.Time       // running with RestartCount unchanged since; zero otherwise
	lastCount       int
	seen            bool

	alerts []time.Time // alerts within the flap window
}

type restartSample struct {
	at    time.Time
	count int
}

// observe takes one probe. quiet marks a change opsroom caused itself (a
// command ran): it is remembered, never alerted. It returns the alert kind, or "".
func (tr *tracker) observe(st Status, now time.Time, r Rules, quiet bool) AlertKind {
	return tr.damp(tr.transition(st, now, r, quiet), now, r)
}

// damp keeps a flapping service from flooding the room: more than
// FlapChanges alerts within FlapWindow give one "flapping" alert, then silence
// until no change has come for FlapWindow, then one summary.
func (tr *tracker) damp(kind AlertKind, now time.Time, r Rules) AlertKind {
	if r.FlapChanges <= 0 {
		return kind
	}
	f := &tr.rem.Flap
	if kind == "" {
		if f.Flapping && now.Sub(f.LastChange) >= r.FlapWindow {
			f.Flapping = false
			tr.alerts = nil
			tr.rem.Alerted = tr.rem.State != string(StateRunning)
			return AlertFlapEnded
		}
		return ""
	}
	f.LastChange = now
	if f.Flapping {
		f.Suppressed++
		return ""
	}
	tr.alerts = append(tr.alerts, now)
	for len(tr.alerts) > 0 && now.Sub(tr.alerts[0]) > r.FlapWindow {
		tr.alerts = tr.alerts[1:]
	}
	if len(tr.alerts) > r.FlapChanges {
		f.Flapping, f.Suppressed = true, 0
		return AlertFlapping
	}
	return kind
}

// transition applies the state rules to one probe.
func (tr *tracker) transition(st Status, now time.Time, r Rules, quiet bool) AlertKind {
	problem, decided := tr.judge(st, now, r)
	tr.lastCount, tr.seen = st.RestartCount, true
	if !decided {
		return ""
	}
	prev := tr.rem
	// The new state; the flap silence is damp's to keep or end.
	become := func(alerted bool) {
		tr.rem = Remembered{State: problem, Alerted: alerted, Since: now, RestartCount: st.RestartCount, Flap: prev.Flap}
	}
	switch {
	case problem == prev.State:
		tr.rem.RestartCount = st.RestartCount
		return ""
	case quiet || prev.State == "":
		// Our own doing, or the first probe ever: the new baseline, no alert.
		become(false)
		return ""
	case problem == string(StateRunning):
		become(false)
		if prev.Alerted {
			return AlertRecovered
		}
		return ""
	case prev.State == string(AlertCrashLoop) && problem == string(StateExited):
		// A crash loop that stopped looping but is still down says nothing new.
		return ""
	}
	become(true)
	switch problem {
	case string(AlertCrashLoop):
		return AlertCrashLoop
	case string(StateExited):
		return AlertExited
	case string(StateNotDeployed):
		return AlertNotDeployed
	case string(StateUnhealthy):
		return AlertUnhealthy
	}
	return ""
}

// judge reads a probe as a problem ("running" when there is none); decided is
// false while the probe alone is not enough to say (a first `restarting`, an
// unknown output, an unreachable host: the host tracker speaks for those).
func (tr *tracker) judge(st Status, now time.Time, r Rules) (problem string, decided bool) {
	// Samples of RestartCount within the window; a container recreated (count
	// back to 0) starts afresh.
	if n := len(tr.samples); n > 0 && st.RestartCount < tr.samples[n-1].count {
		tr.samples = nil
	}
	tr.samples = append(tr.samples, restartSample{now, st.RestartCount})
	for len(tr.samples) > 1 && now.Sub(tr.samples[0].at) > r.CrashLoopWindow {
		tr.samples = tr.samples[1:]
	}
	rising := st.RestartCount - tr.samples[0].count

	tr.restartingSince = since(tr.restartingSince, st.State == StateRestarting, now)
	tr.unhealthySince = since(tr.unhealthySince, st.State == StateUnhealthy, now)
	switch {
	case st.State != StateRunning:
		tr.upSince = time.Time{}
	case !tr.seen || st.RestartCount != tr.lastCount || tr.upSince.IsZero():
		tr.upSince = now
	}
	restartingLong := !tr.restartingSince.IsZero() && now.Sub(tr.restartingSince) >= r.Settle

	switch st.State {
	case StateUnreachable, StateUnknown:
		return "", false
	case StateNotDeployed:
		return string(StateNotDeployed), true
	}
	if tr.rem.State == string(AlertCrashLoop) {
		// Out of a crash loop only once it has stayed up for two probe
		// intervals with no new restart. Between crashes it looks running, and
		// that is no recovery.
		if st.State == StateRunning && now.Sub(tr.upSince) >= 2*r.Settle {
			tr.samples = tr.samples[len(tr.samples)-1:]
			return string(StateRunning), true
		}
		if st.State == StateExited {
			return string(StateExited), true
		}
		return string(AlertCrashLoop), true
	}
	if rising >= r.CrashLoopRestarts || restartingLong {
		return string(AlertCrashLoop), true
	}
	switch st.State {
	case StateRestarting:
		return "", false
	case StateUnhealthy:
		return string(StateUnhealthy), now.Sub(tr.unhealthySince) >= r.UnhealthyFor
	case StateRunning, StateExited:
		return string(st.State), true
	}
	return "", false
}

// since keeps the time a condition was first seen on consecutive probes: zero
// when it does not hold, the first probe's time while it does.
func since(first time.Time, holds bool, now time.Time) time.Time {
	switch {
	case !holds:
		return time.Time{}
	case first.IsZero():
		return now
	}
	return first
}

// recheck is how long until a probe can decide what this one left open (an
// `unhealthy` not yet held for UnhealthyFor); zero when nothing waits.
func (tr *tracker) recheck(now time.Time, r Rules) time.Duration {
	if tr.unhealthySince.IsZero() || tr.rem.State == string(StateUnhealthy) {
		return 0
	}
	if left := r.UnhealthyFor - now.Sub(tr.unhealthySince); left > 0 {
		return left
	}
	return 0 // decided already
}

// HostProblem is what is wrong with a host as a whole: "" when nothing is.
type HostProblem string

const (
	HostUnreachable HostProblem = "unreachable" // SSH could not reach or log in to it
	HostEngineDown  HostProblem = "engine-down" // it answers, its container engine does not
)

// hostAlerts is the alert that each host problem raises.
var hostAlerts = map[HostProblem]AlertKind{HostUnreachable: AlertUnreachable, HostEngineDown: AlertEngineDown}

// hostTracker follows whether a host and its engine answer, so that a host
// down (or its Docker) is one alert, not one per service.
type hostTracker struct {
	rem         Remembered
	failed      int
	firstFailed time.Time   // the first of the failed probes in a row: when it went down
	problem     HostProblem // what the last probe found
}

// observe takes one probe of the host: what was wrong with it, if anything.
// A problem is alerted once it has lasted UnreachableProbes probes.
func (ht *hostTracker) observe(problem HostProblem, now time.Time, r Rules) AlertKind {
	ht.problem = problem
	if problem == "" {
		ht.failed = 0
		if ht.rem.State != "" && ht.rem.State != string(StateRunning) {
			alerted := ht.rem.Alerted
			ht.rem = Remembered{State: string(StateRunning), Since: now}
			if alerted {
				return AlertRecovered
			}
		} else if ht.rem.State == "" {
			ht.rem = Remembered{State: string(StateRunning), Since: now}
		}
		return ""
	}
	if ht.failed++; ht.failed == 1 {
		ht.firstFailed = now
	}
	if ht.failed < r.UnreachableProbes || ht.rem.State == string(problem) {
		return ""
	}
	ht.rem = Remembered{State: string(problem), Alerted: true, Since: ht.firstFailed}
	return hostAlerts[problem]
}

// IsAlertKind says whether kind is one of the watcher's alert kinds (not a
// notice of opsroom's own).
func IsAlertKind(kind string) bool {
	switch AlertKind(kind) {
	case AlertExited, AlertNotDeployed, AlertUnhealthy, AlertCrashLoop, AlertUnreachable, AlertEngineDown,
		AlertRecovered, AlertFlapping, AlertFlapEnded:
		return true
	}
	return false
}
