package commands

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"maunium.net/go/mautrix/id"

	"github.com/opsroom/opsroom/ops"
	"github.com/opsroom/opsroom/store"
)

// deployment is an update or rollback under its claim of the service, shown
// in one progress message: its own run, and the rollback that may follow a
// failed verification.
type deployment struct {
	ce    *Event
	ctx   context.Context // the claim's: a !cancel ends it
	jb    *job
	svc   *ops.ServiceConfig
	p     *progress
	msgID id.EventID
}

// leg is one run of a recipe, and the verification after it, as it ended.
type leg struct {
	run    *store.UpdateRun
	res    *ops.UpdateResult // nil if the recipe failed
	err    error             // why the recipe or the verification could not finish
	by     id.UserID         // who cancelled it, if someone did
	verify *ops.Verification // nil when not verified (or not reached)
	now    ops.Status        // after a failure or cancel: the service as it is then
}

// unverified says the recipe ran but the service failed its verification.
func (l *leg) unverified() bool {
	return l.err == nil && l.verify != nil && !l.verify.OK
}

// outcome is what the audit log records of the leg.
func (l *leg) outcome(service string) outcome {
	o := outcome{Service: service, Result: store.ResultOK}
	if l.run.Result != store.UpdateSucceeded {
		o.Result, o.Detail = store.ResultFailed, l.run.Error
	}
	var cmdErr *ops.CommandError
	if errors.As(l.err, &cmdErr) {
		exitCode := cmdErr.ExitCode
		o.ExitCode = &exitCode
	}
	return o
}

// runLeg runs the recipe under run, then, if the service has update_verify,
// watches it for that long, editing the progress message as they go; it
// records how the run ended.
func (d *deployment) runLeg(run *store.UpdateRun, r *ops.Recipe) *leg {
	ce, p, fleet := d.ce, d.p, d.ce.Meta.Fleet
	l := &leg{run: run}
	stopEdits := keepEditing(ce, d.msgID, p, run, ce.Meta.editInterval())
	l.res, l.err = fleet.Deploy(d.ctx, r, p)
	if window := d.svc.UpdateVerify.Duration; l.err == nil && window > 0 {
		p.StageStarted(ops.StageVerify, fmt.Sprintf("watching it for %s: running, no restart%s", clock(window), healthClause(d.svc)))
		l.verify, l.err = fleet.Verify(d.ctx, d.svc.Name, window, p)
		if l.err != nil {
			l.res = nil
		} else {
			p.verified(l.verify)
		}
	}
	stopEdits()

	run.OldCommit, run.NewCommit = p.commits()
	switch {
	case l.err == nil:
		run.NewCommit = l.res.NewCommit
		run.Result = store.UpdateSucceeded
		if l.unverified() {
			run.Stage, run.Result, run.Error = string(ops.StageVerify), store.UpdateUnverified, "failed its verification: "+l.verify.Failure
		}
	default:
		run.Stage = string(p.failStage())
		if l.by = ce.Meta.jobs.canceller(d.jb); l.by != "" {
			run.Result, run.Error = store.UpdateCancelled, "cancelled by "+string(l.by)
		} else {
			run.Result, run.Error = store.UpdateFailed, p.failureText(l.err)
		}
		l.now = fleet.Status(context.WithoutCancel(ce.Ctx), d.svc.Name)
	}
	if err := ce.Meta.Store.Updates().Finish(context.WithoutCancel(ce.Ctx), run); err != nil {
		zerolog.Ctx(ce.Ctx).Err(err).Msg("Failed to record the end of the update")
	}
	return l
}

// healthClause is what a verification asks of the service's health, if it has any to ask.
func healthClause(svc *ops.ServiceConfig) string {
	if svc.Health != nil {
		return ", health probe passing"
	}
	return ", healthy if it has a health check"
}

// renderLeg is the progress message's final form for a run not followed by a rollback.
func (d *deployment) renderLeg(l *leg, at time.Time) string {
	p := d.p
	switch {
	case l.by != "":
		return p.renderCancelled(l.by, l.now, at)
	case l.err != nil:
		return p.renderFailure(l.err, l.now, at)
	case l.unverified():
		return p.renderUnverified(l, at, fmt.Sprintf("It stays deployed (update_on_failure: nothing); roll it back with `!rollback %s`.", d.svc.Name))
	}
	if l.verify == nil {
		return p.renderSuccess(l.res, at)
	}
	res := *l.res
	res.Status = l.verify.Status // "Now:" is the verification's last probe
	return p.renderSuccess(&res, at) + p.verifiedLine(l.verify)
}

// Verifying shows the countdown on the verify line.
func (p *progress) Verifying(st ops.Status, left time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if l := p.line(ops.StageVerify); l != nil {
		l.summary = fmt.Sprintf("%s; %s left", stateSummary(st, time.Now()), clock(left))
	}
	p.dirty = true
}

var _ ops.VerifyObserver = (*progress)(nil)

// verified marks the verify line with how the verification ended.
func (p *progress) verified(v *ops.Verification) {
	if v.OK {
		p.StageDone(ops.StageVerify, fmt.Sprintf("verified: running for %s without a restart", clock(v.Took)))
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if l := p.line(ops.StageVerify); l != nil {
		l.mark, l.summary = "❌", v.Failure
	}
	p.dirty = true
}

// verifiedLine closes a message whose last run was verified.
func (p *progress) verifiedLine(v *ops.Verification) string {
	return fmt.Sprintf("\nStayed up for %s with no restart: verified\n", clock(v.Took))
}

// version names what a run deployed: its short commit, or "the new version"
// when it has none (a service's own steps outside a git checkout).
func version(l *leg) string {
	if l.res != nil && l.res.NewCommit != "" {
		return code(ops.ShortCommit(l.res.NewCommit))
	}
	return "the new version"
}

// renderUnverified is the final form of an update that ran and failed its
// verification: the stages, the evidence, and then next.
func (p *progress) renderUnverified(l *leg, at time.Time, next string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "❌ %s of **%s** on %s: %s %s within %s of its verification (started by %s, %s)\n\n",
		p.noun(), escape(p.service), code(p.host), version(l), escape(l.verify.Failure), clock(l.verify.Took), p.who, clock(at.Sub(p.started)))
	p.writeStages(&b)
	writeEvidence(&b, l.verify, at)
	if next != "" {
		b.WriteString("\n" + next + "\n")
	}
	return b.String()
}

// writeEvidence shows why a verification failed: the state, the exit code,
// the restart count and the last lines.
func writeEvidence(b *strings.Builder, v *ops.Verification, at time.Time) {
	st := v.Status
	fmt.Fprintf(b, "\nEvidence: %s", stateSummary(st, at))
	if st.State == ops.StateRestarting {
		fmt.Fprintf(b, ", last exit code %d", st.ExitCode)
	}
	b.WriteString("\n")
	if logs := strings.TrimSpace(v.Logs); logs != "" {
		b.WriteString("\n" + codeBlock(v.Logs, errorTailLines) + "\n")
	}
}
