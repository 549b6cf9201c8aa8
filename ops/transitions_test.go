package ops

import (
	"testing"
	"time"
)

var rules = Rules{CrashLoopRestarts: 3, CrashLoopWindow: 10 * time.Minute, UnreachableProbes: 2, Settle: 30 * time.Second}

type probe struct {
	state    State
	restarts int
	quiet    bool
	want     AlertKind
}

func run(t *testing.T, name string, start Remembered, probes []probe) {
	t.Helper()
	tr := &tracker{rem: start}
	now := time.Date(2026, 11, 24, 14, 0, 0, 0, time.UTC)
	for i, p := range probes {
		got := tr.observe(Status{State: p.state, RestartCount: p.restarts}, now, rules, p.quiet)
		if got != p.want {
			t.Errorf("%s: probe %d (%s, restarts %d): alert %q, want %q", name, i+1, p.state, p.restarts, got, p.want)
		}
		now = now.Add(30 * time.Second)
	}
}

func TestTransitionRules(t *testing.T) {
	running := Remembered{State: string(StateRunning)}
	for _, tc := range []struct {
		name   string
		start  Remembered
		probes []probe
	}{
		{"a first probe is the baseline, whatever it shows", Remembered{}, []probe{
			{state: StateExited}, {state: StateExited}, {state: StateRunning}}},
		{"a kill alerts once, a start recovers once", running, []probe{
			{state: StateRunning}, {state: StateExited, want: AlertExited}, {state: StateExited},
			{state: StateRunning, want: AlertRecovered}, {state: StateRunning}}},
		{"removed, then deployed again", running, []probe{
			{state: StateNotDeployed, want: AlertNotDeployed}, {state: StateRunning, want: AlertRecovered}}},
		{"unhealthy, then healthy", running, []probe{
			{state: StateUnhealthy, want: AlertUnhealthy}, {state: StateUnhealthy}, {state: StateRunning, want: AlertRecovered}}},
		{"restart count climbing is one crash loop, not one alert per restart", running, []probe{
			{state: StateRunning, restarts: 0}, {state: StateRunning, restarts: 1}, {state: StateRunning, restarts: 2},
			{state: StateRunning, restarts: 3, want: AlertCrashLoop}, {state: StateRunning, restarts: 4}, {state: StateRestarting, restarts: 5},
			{state: StateRunning, restarts: 6}, {state: StateExited, restarts: 6},
			// up again and stays up: recovered once it has held for two probes
			{state: StateRunning, restarts: 7}, {state: StateRunning, restarts: 7}, {state: StateRunning, restarts: 7, want: AlertRecovered}}},
		{"restarting for a probe interval is a crash loop", running, []probe{
			{state: StateRestarting, restarts: 1}, {state: StateRestarting, restarts: 1, want: AlertCrashLoop}}},
		{"one restarting probe is not yet anything", running, []probe{
			{state: StateRestarting, restarts: 1}, {state: StateRunning, restarts: 1}}},
		{"restarts spread wider than the window are no loop", running, func() []probe {
			var ps []probe
			for i := 0; i < 60; i += 10 { // a restart every 5 minutes
				for j := 0; j < 10; j++ {
					ps = append(ps, probe{state: StateRunning, restarts: i / 10})
				}
			}
			return ps
		}()},
		{"what a command did is not alerted, and is the new baseline", running, []probe{
			{state: StateExited, quiet: true}, {state: StateExited}, {state: StateRunning}, {state: StateExited, want: AlertExited}}},
		{"an unreachable host is the host tracker's to say", running, []probe{
			{state: StateUnreachable}, {state: StateUnreachable}, {state: StateRunning}}},
		{"a state known before a restart of opsroom is not alerted again", Remembered{State: string(StateExited), Alerted: true}, []probe{
			{state: StateExited}, {state: StateRunning, want: AlertRecovered}}},
		{"a change while opsroom was down is alerted once", running, []probe{
			{state: StateExited, want: AlertExited}, {state: StateExited}}},
	} {
		run(t, tc.name, tc.start, tc.probes)
	}
}

func TestHostUnreachableAfterTwoFailedProbes(t *testing.T) {
	ht := &hostTracker{}
	now := time.Now()
	const down = HostUnreachable
	for i, tc := range []struct {
		problem HostProblem
		want    AlertKind
	}{{"", ""}, {down, ""}, {"", ""}, {down, ""}, {down, AlertUnreachable}, {down, ""}, {"", AlertRecovered}, {"", ""}} {
		at := now.Add(time.Duration(i) * time.Second)
		if got := ht.observe(tc.problem, at, rules); got != tc.want {
			t.Errorf("probe %d (%q): %q, want %q", i+1, tc.problem, got, tc.want)
		}
		// The downtime a recovery reports counts from the first failed probe, not from the alert.
		if got := ht.rem; got.State == string(StateUnreachable) && !got.Since.Equal(now.Add(3*time.Second)) {
			t.Errorf("probe %d: unreachable since %s, want the 4th probe's time", i+1, got.Since.Sub(now))
		}
	}
}

// TestEngineDownIsOneHostAlert: a host whose Docker does not answer is one
// alert and one recovery, like a host down; a host that comes back with its
// Docker still down says so.
func TestEngineDownIsOneHostAlert(t *testing.T) {
	ht := &hostTracker{}
	now := time.Now()
	for i, tc := range []struct {
		problem HostProblem
		want    AlertKind
	}{
		{"", ""}, {HostEngineDown, ""}, {HostEngineDown, AlertEngineDown}, {HostEngineDown, ""},
		{"", AlertRecovered},
		{HostUnreachable, ""}, {HostUnreachable, AlertUnreachable}, {HostEngineDown, AlertEngineDown}, {HostEngineDown, ""}, {"", AlertRecovered},
	} {
		if got := ht.observe(tc.problem, now.Add(time.Duration(i)*time.Second), rules); got != tc.want {
			t.Errorf("probe %d (%q): %q, want %q", i+1, tc.problem, got, tc.want)
		}
	}
}

func TestEngineFailureIsToldFromACommandFailing(t *testing.T) {
	for _, tc := range []struct {
		res  RunResult
		want bool
	}{
		{RunResult{ExitCode: 1, Stderr: "Cannot connect to the Docker daemon at unix:///nowhere.sock. Is the docker daemon running?\n"}, true},
		{RunResult{ExitCode: 1, Stderr: "permission denied while trying to connect to the Docker daemon socket at unix:///var/run/docker.sock: ...\n"}, true},
		{RunResult{ExitCode: 127, Stderr: "bash: line 4: docker: command not found\n"}, true},
		{RunResult{ExitCode: 1, Stderr: "Error: No such object: web\n"}, false},
		{RunResult{ExitCode: 0, Stdout: "/web|running|...\n"}, false},
	} {
		if got := engineFailure(tc.res); got != tc.want {
			t.Errorf("%q: engine failure %v, want %v", tc.res.Stderr, got, tc.want)
		}
	}
}

// Event-driven probes come milliseconds apart: many of them are not "stayed up".
func TestCloseProbesDoNotEndACrashLoopOrStartOne(t *testing.T) {
	tr := &tracker{rem: Remembered{State: string(AlertCrashLoop), Alerted: true}}
	now := time.Now()
	for i := 0; i < 20; i++ {
		if got := tr.observe(Status{State: StateRunning, RestartCount: 9}, now, rules, false); got != "" {
			t.Fatalf("probe %d, %s after the restart: %q; a crash loop ends only after 2 intervals up", i+1, time.Duration(i)*100*time.Millisecond, got)
		}
		now = now.Add(100 * time.Millisecond)
	}
	fresh := &tracker{rem: Remembered{State: string(StateRunning)}}
	for i := 0; i < 5; i++ {
		if got := fresh.observe(Status{State: StateRestarting, RestartCount: 1}, now, rules, false); got != "" {
			t.Fatalf("a single restart seen by %d close probes was alerted as %q", i+1, got)
		}
		now = now.Add(50 * time.Millisecond)
	}
}

func TestFlappingIsOneAlertThenASummary(t *testing.T) {
	r := rules
	r.FlapChanges, r.FlapWindow = 5, 15*time.Minute
	tr := &tracker{rem: Remembered{State: string(StateRunning)}}
	now := time.Now()
	var got []AlertKind
	for i := 0; i < 12; i++ {
		state := StateExited
		if i%2 == 1 {
			state = StateRunning
		}
		if k := tr.observe(Status{State: state}, now, r, false); k != "" {
			got = append(got, k)
		}
		now = now.Add(time.Minute)
	}
	want := []AlertKind{AlertExited, AlertRecovered, AlertExited, AlertRecovered, AlertExited, AlertFlapping}
	if len(got) != len(want) {
		t.Fatalf("alerts %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("alerts %q, want %q", got, want)
		}
	}
	// Stable (running) for the whole window: one summary, with what was held back.
	var end AlertKind
	for i := 0; i < 16 && end == ""; i++ {
		end = tr.observe(Status{State: StateRunning}, now, r, false)
		now = now.Add(time.Minute)
	}
	if end != AlertFlapEnded || tr.rem.Flap.Suppressed != 6 {
		t.Errorf("after a stable window: %q with %d held back, want flap-ended with 6", end, tr.rem.Flap.Suppressed)
	}
}

// A kill can land during a health check: the cut-short check says unhealthy a
// moment before the container dies. That is one exit, not unhealthy + exit.
func TestUnhealthyMustLastBeforeItIsAlerted(t *testing.T) {
	r := rules
	r.UnhealthyFor = 2 * time.Second
	now := time.Now()
	tr := &tracker{rem: Remembered{State: string(StateRunning)}}
	for _, step := range []struct {
		state State
		after time.Duration
		want  AlertKind
		wait  time.Duration // what recheck says afterwards
	}{
		{StateUnhealthy, 0, "", 2 * time.Second},
		{StateExited, 40 * time.Millisecond, AlertExited, 0},
		{StateRunning, time.Second, AlertRecovered, 0},
		{StateUnhealthy, time.Second, "", 2 * time.Second},
		{StateUnhealthy, 500 * time.Millisecond, "", 1500 * time.Millisecond},
		{StateUnhealthy, 1500 * time.Millisecond, AlertUnhealthy, 0},
		{StateUnhealthy, time.Second, "", 0},
		{StateRunning, time.Second, AlertRecovered, 0},
	} {
		now = now.Add(step.after)
		if got := tr.observe(Status{State: step.state}, now, r, false); got != step.want {
			t.Fatalf("%s after %s: alert %q, want %q", step.state, step.after, got, step.want)
		}
		if got := tr.recheck(now, r); got != step.wait {
			t.Fatalf("%s after %s: recheck in %s, want %s", step.state, step.after, got, step.wait)
		}
	}
}

// A restart of opsroom while a service flaps keeps the silence: the tracker
// starts from what was remembered, holds back the next change, and ends the
// flap with one summary counting what was held back before and after.
func TestFlappingSurvivesARestart(t *testing.T) {
	r := rules
	r.FlapChanges, r.FlapWindow = 5, 15*time.Minute
	now := time.Now()
	remembered := Remembered{State: string(StateExited), Alerted: true, Since: now,
		Flap: Flap{Flapping: true, LastChange: now, Suppressed: 4}}
	tr := &tracker{rem: remembered}
	now = now.Add(time.Minute)
	if k := tr.observe(Status{State: StateRunning}, now, r, false); k != "" {
		t.Fatalf("a change while flapping was alerted after a restart: %q", k)
	}
	var end AlertKind
	for i := 0; i < 16 && end == ""; i++ {
		now = now.Add(time.Minute)
		end = tr.observe(Status{State: StateRunning}, now, r, false)
	}
	if end != AlertFlapEnded || tr.rem.Flap.Suppressed != 5 || tr.rem.Flap.Flapping {
		t.Errorf("after a stable window: %q, %+v; want flap-ended with 5 held back", end, tr.rem.Flap)
	}
}
