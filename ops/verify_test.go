package ops

import (
	"strings"
	"testing"
	"time"

	"github.com/opsroom/opsroom/internal/config"
)

func TestVerifyJudgesEachProbeOfTheWindow(t *testing.T) {
	running := func(restarts int, health string) Status {
		return Status{State: StateRunning, RestartCount: restarts, Health: health}
	}
	unreachable := Status{State: StateUnreachable, Err: errString("ssh: connection refused")}
	for _, tc := range []struct {
		name   string
		probes []Status // the last one ends the window
		want   string   // "" passes; otherwise a part of the failure
	}{
		{"running throughout passes", []Status{running(0, ""), running(0, ""), running(0, "")}, ""},
		{"healthy at the end passes, starting on the way is fine", []Status{running(0, "starting"), running(0, "healthy")}, ""},
		{"a restart count that was not zero at the start is the baseline", []Status{running(4, ""), running(4, "")}, ""},
		{"one restart fails", []Status{running(0, ""), running(1, "")}, "restarted (restart count 0 → 1"},
		{"several restarts are a crash loop", []Status{running(0, ""), running(3, "")}, "crash-loops (restart count 0 → 3"},
		{"restarting is a crash loop", []Status{running(0, ""), {State: StateRestarting, RestartCount: 1, ExitCode: 1}},
			"crash-loops (restart count 0 → 1, exit code 1)"},
		{"an exit fails", []Status{running(0, ""), {State: StateExited, ExitCode: 137}}, "exited with code 137"},
		{"gone fails", []Status{{State: StateNotDeployed, Noun: "container"}}, "is not deployed (no such container)"},
		{"unhealthy fails", []Status{running(0, "starting"), {State: StateUnhealthy, Health: "unhealthy"}}, "is unhealthy: its health check fails"},
		{"a failing probe fails", []Status{{State: StateUnhealthy, Probe: &ProbeResult{Target: "http://127.0.0.1:8080/", Answer: "HTTP 502"}}},
			"its health probe says http://127.0.0.1:8080/"},
		{"still starting at the end fails", []Status{running(0, "starting"), running(0, "starting")}, "has not passed its health check within 5s"},
		{"a host that misses a probe fails nothing", []Status{running(0, ""), unreachable, running(0, "")}, ""},
		{"a host that never answers cannot verify", []Status{unreachable, unreachable}, "could not be checked: no probe in 5s reached it"},
		{"a host gone at the end cannot verify", []Status{running(0, ""), unreachable}, "could not be checked at the end of the window"},
	} {
		var j verifyJudge
		got := ""
		for i, st := range tc.probes {
			if got = j.observe(st); got == "" && i == len(tc.probes)-1 {
				got = j.final(st, 5*time.Second)
			}
			if got != "" {
				break
			}
		}
		switch {
		case tc.want == "" && got != "":
			t.Errorf("%s: failed with %q, want a pass", tc.name, got)
		case tc.want != "" && !strings.Contains(got, tc.want):
			t.Errorf("%s: %q, want it to contain %q", tc.name, got, tc.want)
		}
	}
}

type errString string

func (e errString) Error() string { return string(e) }

func TestValidateVerifyNamesTheKey(t *testing.T) {
	for _, tc := range []struct {
		name string
		svc  ServiceConfig
		want string // "" is valid
	}{
		{"compose, rollback", ServiceConfig{Kind: KindCompose, UpdateVerify: dur(time.Minute), UpdateOnFailure: OnFailureRollback}, ""},
		{"steps with rollback steps, ask", ServiceConfig{Kind: KindSystemd, Update: []Step{{"a", "x"}}, Rollback: []Step{{"b", "y"}},
			UpdateVerify: dur(time.Minute), UpdateOnFailure: OnFailureAsk}, ""},
		{"a typo", ServiceConfig{Kind: KindCompose, UpdateVerify: dur(time.Minute), UpdateOnFailure: "rolback"},
			`services.x.update_on_failure: "rolback" is not a choice: use rollback`},
		{"rollback without verify", ServiceConfig{Kind: KindCompose, UpdateOnFailure: OnFailureRollback},
			"services.x.update_on_failure: rollback acts when an update fails its verification, which needs update_verify too"},
		{"steps without a way back", ServiceConfig{Kind: KindSystemd, Update: []Step{{"a", "x"}}, UpdateVerify: dur(time.Minute), UpdateOnFailure: OnFailureAsk},
			"services.x.update_on_failure: ask needs a way back"},
		{"verify on what cannot be updated", ServiceConfig{Kind: KindContainer, UpdateVerify: dur(time.Minute)},
			"services.x.update_verify: x is a container service without update: steps"},
	} {
		tc.svc.Name = "x"
		errs := tc.svc.validateVerify("services.x")
		switch {
		case tc.want == "" && len(errs) > 0:
			t.Errorf("%s: %v, want no error", tc.name, errs)
		case tc.want != "" && (len(errs) != 1 || !strings.Contains(errs[0].Error(), tc.want)):
			t.Errorf("%s: %v, want one error containing %q", tc.name, errs, tc.want)
		}
	}
	var s ServiceConfig
	s.Kind = KindCompose
	s.validateVerify("services.x")
	if s.UpdateOnFailure != OnFailureNothing {
		t.Errorf("update_on_failure defaults to %q, want nothing", s.UpdateOnFailure)
	}
}

func dur(d time.Duration) config.Duration { return config.Duration{Duration: d} }
