package commands

import (
	"fmt"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/opsroom/opsroom/ops"
	"github.com/opsroom/opsroom/store"
)

// rollbackOffer is the rollback an update that failed its verification
// offers with a ✅ prompt (update_on_failure: ask).
type rollbackOffer struct {
	update *leg
	recipe *ops.Recipe
	target string // "`3f2a1c0`", or "its rollback steps"
}

// rollbackAfter is the way back from an update that failed its verification:
// the service's own rollback steps, or for the git and compose recipe the
// commit deployed before; or why there is none.
func (d *deployment) rollbackAfter(update *leg) (*ops.Recipe, string, error) {
	fleet := d.ce.Meta.Fleet
	if len(d.svc.Rollback) > 0 {
		r, err := fleet.RollbackRecipe(d.svc.Name, "")
		return r, "its rollback steps", err
	}
	old, newCommit := update.res.OldCommit, update.res.NewCommit
	if old == "" || old == newCommit {
		return nil, "", fmt.Errorf("the update did not change the commit (%s), so there is no earlier commit to roll back to", code(ops.ShortCommit(newCommit)))
	}
	r, err := fleet.RollbackRecipe(d.svc.Name, old)
	return r, code(ops.ShortCommit(old)), err
}

// afterFailedVerify does what the service's update_on_failure says once its
// update failed the verification: roll back at once (in this message), or
// offer to; it returns the message's final form, and the offer to post.
func (d *deployment) afterFailedVerify(update *leg) (string, *rollbackOffer) {
	p := d.p
	r, target, err := d.rollbackAfter(update)
	if err != nil {
		return p.renderUnverified(update, time.Now(), "opsroom cannot roll it back: "+escape(err.Error())+"."), nil
	}
	if d.svc.UpdateOnFailure == ops.OnFailureAsk {
		return p.renderUnverified(update, time.Now(), fmt.Sprintf("Roll back to %s? See the prompt below.", target)),
			&rollbackOffer{update: update, recipe: r, target: target}
	}
	final, _ := d.rollBack(update, r, target)
	return final, nil
}

// rollBack runs the rollback after a failed verification in the same
// progress message, as a run of its own (kind rollback), verifies it the same
// way, and returns the message's final form and the rollback's leg (nil if
// it could not start).
func (d *deployment) rollBack(update *leg, r *ops.Recipe, target string) (string, *leg) {
	p, ce := d.p, d.ce
	p.mu.Lock()
	p.phase = "Rolling back to " + target
	p.mu.Unlock()
	p.plan(r)
	run := &store.UpdateRun{Kind: store.RunRollback, Service: d.svc.Name, Sender: ce.Sender, RoomID: ce.RoomID}
	if err := ce.Meta.Store.Updates().Start(ce.Ctx, run); err != nil {
		return p.renderUnverified(update, time.Now(), "The rollback could not start: "+escape(err.Error())), nil
	}
	run.ProgressEventID = d.msgID
	if err := ce.Meta.Store.Updates().SetProgressEvent(ce.Ctx, run); err != nil {
		zerolog.Ctx(ce.Ctx).Err(err).Msg("Failed to record the progress message")
	}
	back := d.runLeg(run, r)
	return p.renderRolledBack(update, back, target, time.Now()), back
}

// renderRolledBack is the final form of an update that failed its
// verification and was rolled back: the update's evidence, then how the
// rollback went, last.
func (p *progress) renderRolledBack(update, back *leg, target string, at time.Time) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var b strings.Builder
	icon, how := "↩️", "rolled back to "+target
	switch {
	case back.by != "":
		icon, how = "🛑", "the rollback to "+target+" was cancelled by "+string(back.by)
	case back.err != nil:
		icon, how = "❌", "the rollback to "+target+" failed"
	case back.unverified():
		icon, how = "❌", "rolled back to "+target+", which failed its verification too"
	}
	fmt.Fprintf(&b, "%s Update of **%s** on %s: %s %s within %s of its verification; %s (started by %s, took %s)\n\n",
		icon, escape(p.service), code(p.host), version(update), escape(update.verify.Failure), clock(update.verify.Took),
		how, p.who, clock(at.Sub(p.started)))
	p.writePhase(&b, "")
	writeEvidence(&b, update.verify, at)
	fmt.Fprintf(&b, "\n%s:\n\n", p.phase)
	p.writePhase(&b, p.phase)
	switch {
	case back.by != "" || back.err != nil:
		fmt.Fprintf(&b, "\nThe rollback stopped at %s: %s\n", p.label(p.current), escape(p.failureTextLocked(back.err)))
		fmt.Fprintf(&b, "\nNow: %s\n", stateSummary(back.now, at))
	case back.unverified():
		fmt.Fprintf(&b, "\nAfter the rollback it %s:\n", escape(back.verify.Failure))
		writeEvidence(&b, back.verify, at)
	default:
		fmt.Fprintf(&b, "\nNow: %s\n", stateSummary(back.verify.Status, at))
		fmt.Fprintf(&b, "\n↩️ Rolled back to %s, verified\n", target)
	}
	return b.String()
}

// offerRollback posts the ✅/❌ prompt of update_on_failure: ask under the
// confirmation rules (who may confirm it, its timeout); a ✅ runs the
// rollback in the progress message, under a claim of its own.
func (d *deployment) offerRollback(offer *rollbackOffer) {
	svc := d.svc
	c := &command{Name: "rollback", Role: RoleOperator, Run: func(ce *Event, _ []string) outcome {
		ctx, jb, release, busy := claim(ce, svc, "rollback")
		if busy != nil {
			return *busy
		}
		defer release()
		again := &deployment{ce: ce, ctx: ctx, jb: jb, svc: svc, p: d.p, msgID: d.msgID}
		final, back := again.rollBack(offer.update, offer.recipe, offer.target)
		o := outcome{Service: svc.Name, Result: store.ResultFailed, Detail: "the rollback could not start"}
		if back != nil {
			o = back.outcome(svc.Name)
		}
		o.Detail = strings.TrimPrefix(o.Detail+"; rollback after a failed verification, confirmed", "; ")
		again.show(final, &o)
		return o
	}}
	question := fmt.Sprintf("%s %s: roll **%s** back to %s?", version(offer.update), escape(offer.update.verify.Failure), escape(svc.Name), offer.target)
	o := askConfirmationOf(d.ce, c, svc, question, d.msgID)
	if o.Result == store.ResultFailed {
		finish(d.ce, time.Now(), o)
	}
}
