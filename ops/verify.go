package ops

import (
	"context"
	"fmt"
	"time"
)

// OnFailure is what an update does when the service fails its verification
// (a service's update_on_failure).
type OnFailure string

const (
	OnFailureNothing  OnFailure = "nothing"  // leave it deployed, say so
	OnFailureRollback OnFailure = "rollback" // roll back at once
	OnFailureAsk      OnFailure = "ask"      // ask for a ✅ to roll back
)

// StageVerify is the stage that watches the service after its update's last stage.
const StageVerify UpdateStage = "verify"

// verifyEvery is how often a verification probes the service.
const verifyEvery = time.Second

// VerifyObserver hears a verification as it goes: after each probe, the
// probe and how long the window has left.
type VerifyObserver interface {
	Verifying(st Status, left time.Duration)
}

// Verification is how a verification ended.
type Verification struct {
	OK bool
	// Failure says what went wrong, as a phrase after the service's name or
	// version: "restarted (restart count 0 → 1)", "exited with code 1".
	Failure string
	Status  Status        // the last probe
	Logs    string        // the service's last lines, when it failed
	Took    time.Duration // how long it watched
}

// Verify watches the service for window after an update: it must stay
// running (healthy, where it has a health check or probe) with its restart
// count not climbing for the whole window. It stops at the first probe that
// fails it; a cancelled ctx ends it with ctx's error.
func (f *Fleet) Verify(ctx context.Context, service string, window time.Duration, obs VerifyObserver) (*Verification, error) {
	s, err := f.Lookup(service)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	var j verifyJudge
	for {
		st := f.probe(ctx, s.Host, []*ServiceConfig{s})[0]
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		left := window - time.Since(start)
		failure := j.observe(st)
		if failure == "" && left <= 0 {
			failure = j.final(st, window)
		}
		if failure != "" {
			v := &Verification{Failure: failure, Status: st, Took: time.Since(start)}
			logs, err := f.Logs(ctx, s.Name, f.now().cfg.Watch.LogLines)
			if err != nil {
				logs = "(could not read the logs: " + err.Error() + ")"
			}
			v.Logs = logs
			return v, nil
		}
		if left <= 0 {
			return &Verification{OK: true, Status: st, Took: time.Since(start)}, nil
		}
		obs.Verifying(st, left)
		t := time.NewTimer(min(verifyEvery, left))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}

// verifyJudge reads the probes of one verification window. It is pure: Verify
// feeds it probes.
type verifyJudge struct {
	baseline int  // the restart count at the first probe that answered
	answered bool // a probe found the service (not an unreachable host)
	lastErr  error
}

// observe takes one probe and says why it fails the verification, or "".
// A host that does not answer fails nothing by itself: the final probe must.
func (j *verifyJudge) observe(st Status) string {
	switch st.State {
	case StateUnreachable, StateUnknown:
		j.lastErr = st.Err
		return ""
	}
	if !j.answered {
		j.answered, j.baseline = true, st.RestartCount
	}
	if rose := st.RestartCount - j.baseline; rose > 0 || st.State == StateRestarting {
		what := "restarted"
		if rose > 1 || st.State == StateRestarting {
			what = "crash-loops"
		}
		// A running container's exit code is 0 again: only a stopped one says how it ended.
		exit := ""
		if st.State != StateRunning {
			exit = fmt.Sprintf(", exit code %d", st.ExitCode)
		}
		return fmt.Sprintf("%s (restart count %d → %d%s)", what, j.baseline, st.RestartCount, exit)
	}
	switch st.State {
	case StateExited:
		return fmt.Sprintf("exited with code %d", st.ExitCode)
	case StateNotDeployed:
		return "is not deployed (no such " + nounOr(st.Noun) + ")"
	case StateUnhealthy:
		if st.Probe != nil && !st.Probe.OK {
			return "is unhealthy: its health probe says " + st.Probe.String()
		}
		return "is unhealthy: its health check fails"
	}
	return ""
}

// final judges the last probe of a window that nothing failed so far.
func (j *verifyJudge) final(st Status, window time.Duration) string {
	switch {
	case !j.answered:
		return fmt.Sprintf("could not be checked: no probe in %s reached it (%v)", window.Round(time.Second), j.lastErr)
	case st.State == StateUnreachable || st.State == StateUnknown:
		return fmt.Sprintf("could not be checked at the end of the window: %v", st.Err)
	case st.Health == "starting":
		return fmt.Sprintf("has not passed its health check within %s (still starting); a longer update_verify gives it more time", window.Round(time.Second))
	case st.Probe != nil && !st.Probe.OK:
		return "is unhealthy: its health probe says " + st.Probe.String()
	}
	return ""
}

func nounOr(noun string) string {
	if noun == "" {
		return "container"
	}
	return noun
}

// validateVerify checks update_verify and update_on_failure, each error
// naming its key, and fills the default update_on_failure (nothing).
func (s *ServiceConfig) validateVerify(key string) (errs []error) {
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{key}, args...)...))
	}
	switch s.UpdateOnFailure {
	case "":
		s.UpdateOnFailure = OnFailureNothing
	case OnFailureNothing, OnFailureRollback, OnFailureAsk:
	default:
		bad(key+".update_on_failure", "%.40q is not a choice: use rollback (at once), ask (a ✅ prompt) or nothing (the default)", s.UpdateOnFailure)
	}
	updatable := len(s.Update) > 0 || s.Kind == KindCompose
	if s.UpdateVerify.Duration > 0 && !updatable {
		bad(key+".update_verify", "%s is a %s service without update: steps, which !update cannot update; give it steps in %s.update, or leave update_verify out",
			s.Name, s.Kind, key)
	}
	if s.UpdateOnFailure != OnFailureRollback && s.UpdateOnFailure != OnFailureAsk {
		return errs
	}
	switch {
	case s.UpdateVerify.Duration <= 0:
		bad(key+".update_on_failure", "%s acts when an update fails its verification, which needs update_verify too (e.g. update_verify: 60s)", s.UpdateOnFailure)
	case len(s.Update) > 0 && len(s.Rollback) == 0:
		bad(key+".update_on_failure", "%s needs a way back, but the service updates with its own steps and has no rollback: steps; give it some in %s.rollback",
			s.UpdateOnFailure, key)
	}
	return errs
}
