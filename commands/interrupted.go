package commands

import (
	"context"
	"fmt"
	"time"

	"github.com/rs/zerolog"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"

	"github.com/opsroom/opsroom/store"
)

// MarkInterrupted closes the update runs a stop of opsroom cut off: each
// progress message is edited to say so, and each run is recorded as
// interrupted by cause ("a restart of opsroom", "a failover (…)"). Call it
// when this instance becomes the active one, before any command can start a
// new run: a run is never started again, only reported.
func MarkInterrupted(ctx context.Context, cli *mautrix.Client, st *store.Store, cause string) error {
	runs, err := st.Updates().Running(ctx)
	if err != nil {
		return fmt.Errorf("reading unfinished updates: %w", err)
	}
	for _, run := range runs {
		log := zerolog.Ctx(ctx).With().Int64("run_id", run.ID).Str("service", run.Service).Logger()
		md, stage := interruptedNotice(run, cause)
		if run.ProgressEventID != "" {
			content := Render(md)
			content.SetEdit(run.ProgressEventID)
			if _, err := cli.SendMessageEvent(ctx, run.RoomID, event.EventMessage, &content); err != nil {
				log.Err(err).Msg("Failed to mark the progress message interrupted")
			}
		}
		run.Result, run.Error = store.UpdateInterrupted, "interrupted by "+cause+" at stage "+stage
		if err := st.Updates().Finish(ctx, run); err != nil {
			return err
		}
		log.Warn().Str("stage", stage).Str("cause", cause).Msg("Marked an update interrupted")
	}
	return nil
}

// interruptedNotice is what the progress message of an interrupted run says
// at the next start, and the stage the run had reached.
func interruptedNotice(run *store.UpdateRun, cause string) (md, stage string) {
	stage = run.Stage
	if stage == "" {
		stage = "start"
	}
	return fmt.Sprintf("⚠️ %s of **%s** was interrupted by %s at stage %s (started by %s at %s); it is not run again. "+
		"Check the service with `!status %s`.", runNoun(run.Kind == store.RunRollback), escape(run.Service), escape(cause), stage, run.Sender,
		run.Started.Format("15:04 MST"), run.Service), stage
}

// AnswerCutOff answers the commands an earlier instance claimed but stopped
// before answering (killed, or its term lost to a takeover), claimed since
// since: each gets one reply saying so. They are not run again: the one
// before may have run them.
func AnswerCutOff(ctx context.Context, cli *mautrix.Client, st *store.Store, cause string, since time.Time) error {
	claims, err := st.CutOffClaims(ctx, since)
	if err != nil {
		return err
	}
	for _, c := range claims {
		md := fmt.Sprintf("⚠️ %s was cut off by %s before it was answered: it may have run, and it is not run again. "+
			"Check with `!status`.", code(c.Command), escape(cause))
		content := Render(md)
		content.RelatesTo = (&event.RelatesTo{}).SetReplyTo(c.EventID)
		if _, err := sendReliably(ctx, cli, c.RoomID, &content); err != nil {
			return fmt.Errorf("answering the command %s cut off: %w", c.EventID, err)
		}
		if err := st.AnswerClaim(ctx, c.EventID); err != nil {
			return err
		}
		zerolog.Ctx(ctx).Warn().Stringer("event_id", c.EventID).Str("command", c.Command).Str("claimed_by", c.Holder).
			Msg("Answered a command an earlier instance was cut off running")
	}
	return nil
}

// recordAnswered records that ce has its first answer in the room, so that a
// later instance does not report it cut off.
func recordAnswered(ce *Event) {
	if err := ce.Meta.Store.AnswerClaim(ce.Ctx, ce.Event.ID); err != nil {
		zerolog.Ctx(ce.Ctx).Err(err).Msg("Failed to record that the command was answered")
	}
}
