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

const (
	defaultEditInterval = 2 * time.Second
	// elapsedRefresh is, in edit intervals, how often a progress message with
	// nothing new is edited all the same, so that its elapsed time moves.
	elapsedRefresh = 5
	// maxLogLinesShown is how many commits a finished update lists before "and N more".
	maxLogLinesShown = 10
)

var cmdUpdate = &command{
	Name:    "update",
	Role:    RoleOperator,
	Args:    "SERVICE",
	Summary: "run the service's own update steps, or (compose) fetch, reset to the tracked branch, build and restart, in one live message",
	Run: func(ce *Event, args []string) outcome {
		svc, bad := lookup(ce, args[0])
		if bad != nil {
			return *bad
		}
		r, err := ce.Meta.Fleet.UpdateRecipe(svc.Name)
		if err != nil {
			o := invalid(err.Error())
			o.Service = svc.Name
			return o
		}
		return deploy(ce, svc, store.RunUpdate, r)
	},
}

var cmdCancel = &command{
	Name:    "cancel",
	Role:    RoleOperator,
	Args:    "SERVICE",
	Summary: "stop a running update or rollback; its processes on the host are ended too",
	Run: func(ce *Event, args []string) outcome {
		svc, bad := lookup(ce, args[0])
		if bad != nil {
			return *bad
		}
		jb, err := ce.Meta.jobs.cancelJob(svc.Name, ce.Sender)
		if err != nil {
			o := invalid(err.Error())
			o.Service = svc.Name
			return o
		}
		// The progress message of the run says the rest when the run has stopped.
		return outcome{Reply: fmt.Sprintf("🛑 cancelling the %s of **%s** started by %s", jb.verb, escape(svc.Name), jb.who),
			Service: svc.Name, Result: store.ResultOK}
	},
}

var cmdRollback = &command{
	Name:    "rollback",
	Role:    RoleOperator,
	Args:    "SERVICE [COMMIT]",
	Summary: "run the service's own rollback steps, or (compose) go back to COMMIT, by default the one deployed before the last successful update, and rebuild",
	Run: func(ce *Event, args []string) outcome {
		svc, bad := lookup(ce, args[0])
		if bad != nil {
			return *bad
		}
		commit := ""
		if len(args) > 1 {
			commit = args[1]
		}
		r, err := ce.Meta.Fleet.RollbackRecipe(svc.Name, commit)
		if errors.Is(err, ops.ErrNoCommit) {
			// The git and compose recipe goes back, by default, to the commit deployed before the last update.
			last, lerr := ce.Meta.Store.Updates().LastSuccessfulUpdate(ce.Ctx, svc.Name)
			if lerr != nil {
				return failed(svc.Name, lerr)
			}
			if last == nil {
				return invalid(fmt.Sprintf("no earlier deploy of %s to roll back to: opsroom has not recorded a successful update that changed its commit", svc.Name))
			}
			r, err = ce.Meta.Fleet.RollbackRecipe(svc.Name, last.OldCommit)
		}
		if err != nil {
			o := invalid(err.Error())
			o.Service = svc.Name
			return o
		}
		return deploy(ce, svc, store.RunRollback, r)
	},
}

// deploy runs the recipe of an update or a rollback and shows it as one
// message that it keeps editing; with the service's update_verify, it then
// watches the service, and an update that fails that watch does what its
// update_on_failure says (see afterFailedVerify).
func deploy(ce *Event, svc *ops.ServiceConfig, kind store.RunKind, r *ops.Recipe) outcome {
	ctx, jb, release, busy := claim(ce, svc, string(kind))
	if busy != nil {
		return *busy
	}
	defer release()
	log := zerolog.Ctx(ce.Ctx)

	run := &store.UpdateRun{Kind: kind, Service: svc.Name, Sender: ce.Sender, RoomID: ce.RoomID}
	if err := ce.Meta.Store.Updates().Start(ce.Ctx, run); err != nil {
		return failed(svc.Name, err)
	}
	p := &progress{verb: "Updating", service: svc.Name, host: svc.Host, who: ce.Sender, started: run.Started,
		timeout: svc.UpdateTimeout.Duration}
	if kind == store.RunRollback {
		p.verb = "Rolling back"
	}
	p.plan(r)
	first := Render(p.render(time.Now()))
	relate(ce, &first)
	msgID, err := sendReliably(ce.Ctx, ce.Proc.Client, ce.RoomID, &first)
	if err != nil {
		log.Err(err).Msg("Failed to post the progress message")
		run.Result, run.Error = store.UpdateFailed, "could not post the progress message: "+refusal(err)
		_ = ce.Meta.Store.Updates().Finish(ce.Ctx, run)
		return outcome{Service: svc.Name, Result: store.ResultFailed, Detail: run.Error}
	}
	run.ProgressEventID = msgID
	recordAnswered(ce) // a cut-off run is reported by its progress message (MarkInterrupted)
	if err := ce.Meta.Store.Updates().SetProgressEvent(ce.Ctx, run); err != nil {
		log.Err(err).Msg("Failed to record the progress message")
	}

	d := &deployment{ce: ce, ctx: ctx, jb: jb, svc: svc, p: p, msgID: msgID}
	l := d.runLeg(run, r)
	var final string
	var ask *rollbackOffer
	switch {
	case l.unverified() && kind == store.RunUpdate && svc.UpdateOnFailure != ops.OnFailureNothing:
		final, ask = d.afterFailedVerify(l)
	default:
		final = d.renderLeg(l, time.Now())
	}
	o := l.outcome(svc.Name)
	d.show(final, &o)
	if ask != nil {
		// The prompt's ✅ claims the service for the rollback: let go of it first.
		release()
		d.offerRollback(ask)
	}
	return o
}

// show edits the progress message to its final form and posts the full
// output under it; o says so if the message could not be edited.
func (d *deployment) show(final string, o *outcome) {
	if err := sendEdit(d.ce, d.msgID, final); err != nil {
		zerolog.Ctx(d.ce.Ctx).Err(err).Msg("Failed to show the update's result")
		o.Result, o.Detail = store.ResultFailed, strings.TrimPrefix(o.Detail+"; the result could not be shown: "+refusal(err), "; ")
	}
	postFullOutput(d.ce, d.msgID, d.p)
	d.p.dropOutput()
}

// keepEditing edits the progress message when something changed, at most once
// per interval, until the returned stop is called.
func keepEditing(ce *Event, msgID id.EventID, p *progress, run *store.UpdateRun, interval time.Duration) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(interval)
		defer t.Stop()
		lastStage := ""
		lastEdit := time.Now()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			// An edit when something changed; otherwise now and then, for the elapsed time.
			if !p.takeDirty() && time.Since(lastEdit) < elapsedRefresh*interval {
				continue
			}
			lastEdit = time.Now()
			if err := sendEdit(ce, msgID, p.render(lastEdit)); err != nil {
				zerolog.Ctx(ce.Ctx).Warn().Err(err).Msg("Failed to edit the progress message")
			}
			run.OldCommit, run.NewCommit = p.commits()
			p.mu.Lock()
			stage := string(p.current)
			p.mu.Unlock()
			if stage != lastStage {
				lastStage, run.Stage = stage, stage
				if err := ce.Meta.Store.Updates().SetStage(ce.Ctx, run); err != nil {
					zerolog.Ctx(ce.Ctx).Err(err).Msg("Failed to record the update's stage")
				}
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}

// renderSuccess is the progress message's final form after a good update.
func (p *progress) renderSuccess(res *ops.UpdateResult, now time.Time) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var b strings.Builder
	done := "Updated"
	if p.verb != "Updating" {
		done = "Rolled back"
	}
	// The git recipe always knows both commits; a service's own steps know
	// them only in a git checkout, and may leave it where it was.
	own := p.recipe.OwnSteps()
	moved := res.OldCommit != "" && res.NewCommit != "" && res.OldCommit != res.NewCommit
	commits := ""
	if !own || moved {
		commits = fmt.Sprintf(": %s → %s", code(ops.ShortCommit(res.OldCommit)), code(ops.ShortCommit(res.NewCommit)))
	}
	fmt.Fprintf(&b, "✅ %s **%s** on %s%s (started by %s, took %s)\n\n", done, escape(p.service), code(p.host),
		commits, p.who, clock(now.Sub(p.started)))
	if own {
		names := make([]string, len(p.stages))
		for i, s := range p.stages {
			names[i] = code(string(s.stage))
		}
		fmt.Fprintf(&b, "Ran its own steps: %s", strings.Join(names, ", "))
		if !moved && res.NewCommit != "" {
			fmt.Fprintf(&b, "; its checkout stayed at %s", code(ops.ShortCommit(res.NewCommit)))
		}
		b.WriteString(".\n\n")
	} else if res.OldCommit == res.NewCommit {
		// A second rollback in a row goes to the same commit as the first.
		at := "the newest commit"
		if done != "Updated" {
			at = "that commit"
		}
		fmt.Fprintf(&b, "Already at %s; rebuilt and restarted.\n\n", at)
	}
	shown := res.Log
	if len(shown) > maxLogLinesShown {
		shown = shown[:maxLogLinesShown]
	}
	for _, l := range shown {
		hash, subject, _ := strings.Cut(l, " ")
		fmt.Fprintf(&b, "- %s %s\n", code(hash), escape(subject))
	}
	if more := len(res.Log) - len(shown); more > 0 {
		fmt.Fprintf(&b, "- and %d more\n", more)
	}
	st := res.Status
	fmt.Fprintf(&b, "\nNow: %s\n", stateSummary(st, now))
	return b.String()
}

// renderFailure is the progress message's final form after a failed or cancelled update.
func (p *progress) renderFailure(err error, now ops.Status, at time.Time) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "❌ %s of **%s** on %s failed at %s after %s (started by %s)\n\n",
		p.noun(), escape(p.service), code(p.host), p.label(p.current), clock(at.Sub(p.started)), p.who)
	p.writeStages(&b)
	var cmdErr *ops.CommandError
	if errors.As(err, &cmdErr) {
		fmt.Fprintf(&b, "\n%s failed: %s exited with code %d:\n\n", p.label(p.current), code(cmdErr.Command), cmdErr.ExitCode)
		out := cmdErr.Stdout
		if strings.TrimSpace(cmdErr.Stderr) != "" {
			out = strings.TrimRight(out, "\n") + "\n" + cmdErr.Stderr
		}
		b.WriteString(codeBlock(out, errorTailLines) + "\n")
	} else {
		fmt.Fprintf(&b, "\n%s\n", escape(p.failureTextLocked(err)))
	}
	fmt.Fprintf(&b, "\nStill running: %s\n", stateSummary(now, at))
	return b.String()
}

// failureText says in a line why the run failed, for the audit log and the
// message. A timeout is said in the run's own words: ops's text for it names
// the command line as sent to the host, wrapped in its process group
// (`exec setsid --wait bash -c …`), which is not the recipe users know.
func (p *progress) failureText(err error) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.failureTextLocked(err)
}

func (p *progress) failureTextLocked(err error) string {
	if !errors.Is(err, context.DeadlineExceeded) {
		return err.Error()
	}
	command := ""
	if l := p.line(p.current); l != nil && l.mark != "✅" {
		command = " (" + l.summary + ")" // a running stage's line shows its command
	}
	return fmt.Sprintf("%s%s did not finish within %s, the service's update_timeout", p.label(p.current), command, p.timeout)
}

// renderCancelled is the progress message's final form after a !cancel.
func (p *progress) renderCancelled(by id.UserID, now ops.Status, at time.Time) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "🛑 %s of **%s** on %s cancelled by %s at %s after %s (started by %s)\n\n",
		p.noun(), escape(p.service), code(p.host), by, p.label(p.current), clock(at.Sub(p.started)), p.who)
	p.writeStages(&b)
	fmt.Fprintf(&b, "\nNow: %s\n", stateSummary(now, at))
	return b.String()
}

// noun names the run: "Update" or "Rollback".
func (p *progress) noun() string {
	return runNoun(p.verb != "Updating")
}

// runNoun names a run: "Update" or "Rollback".
func runNoun(rollback bool) string {
	if rollback {
		return "Rollback"
	}
	return "Update"
}

// postFullOutput puts everything the run printed in the thread under the
// progress message (or, when the command was typed in a thread, in that
// thread: threads do not nest), split over as many messages as it takes.
func postFullOutput(ce *Event, msgID id.EventID, p *progress) {
	out, cut := p.fullOutput()
	if strings.TrimSpace(out) == "" {
		return
	}
	title := "Full output:"
	if cut > 0 {
		title = fmt.Sprintf("Full output (the first %d bytes are not kept):", cut)
	}
	root := msgID
	if parent := threadParent(ce); parent != "" {
		root = parent
	}
	if err := postOutputThread(ce, root, title, out); err != nil {
		zerolog.Ctx(ce.Ctx).Err(err).Msg("Failed to post the full output")
	}
}
