package commands

import (
	"context"
	"fmt"

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
