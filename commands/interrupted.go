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
// progress message is edited to say so, and each run is recorded as interrupted.
// Call it at start-up, before any command can start a new run.
func MarkInterrupted(ctx context.Context, cli *mautrix.Client, st *store.Store) error {
	runs, err := st.Updates().Running(ctx)
	if err != nil {
		return fmt.Errorf("reading unfinished updates: %w", err)
	}
	for _, run := range runs {
		log := zerolog.Ctx(ctx).With().Int64("run_id", run.ID).Str("service", run.Service).Logger()
		last, err := st.Updates().LastSuccessful(ctx, run.Service)
		if err != nil {
			return fmt.Errorf("reading the last update of %s: %w", run.Service, err)
		}
		md, stage := interruptedNotice(run, isRollback(run, last))
		if run.ProgressEventID != "" {
			content := Render(md)
			content.SetEdit(run.ProgressEventID)
			if _, err := cli.SendMessageEvent(ctx, run.RoomID, event.EventMessage, &content); err != nil {
				log.Err(err).Msg("Failed to mark the progress message interrupted")
			}
		}
		run.Result, run.Error = store.UpdateInterrupted, "interrupted by a restart of opsroom at stage "+stage
		if err := st.Updates().Finish(ctx, run); err != nil {
			return err
		}
		log.Warn().Str("stage", stage).Msg("Marked an update interrupted by the restart")
	}
	return nil
}

// interruptedNotice is what the progress message of an interrupted run says
// at the next start, and the stage the run had reached.
func interruptedNotice(run *store.UpdateRun, rollback bool) (md, stage string) {
	stage = run.Stage
	if stage == "" {
		stage = "start"
	}
	return fmt.Sprintf("⚠️ %s of **%s** was interrupted by a restart of opsroom at stage %s (started by %s at %s). "+
		"Check the service with `!status %s`.", runNoun(rollback), escape(run.Service), stage, run.Sender,
		run.Started.Format("15:04"), run.Service), stage
}

// isRollback says whether run, unfinished, was a rollback. update_runs does
// not record which kind a run is; a rollback is known by its target, which
// deploy records as it starts: the commit deployed before last, the service's
// last successful run, which is where a rollback goes back to. (An update
// records its target only once fetched, and that is the remote's tip.)
func isRollback(run, last *store.UpdateRun) bool {
	return last != nil && run.NewCommit != "" && run.NewCommit == last.OldCommit && last.OldCommit != last.NewCommit
}
