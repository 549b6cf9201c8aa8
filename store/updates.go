package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"go.mau.fi/util/dbutil"

	"maunium.net/go/mautrix/id"
)

// UpdateResult is how an update run ended.
type UpdateResult string

const (
	UpdateRunning     UpdateResult = "running"
	UpdateSucceeded   UpdateResult = "succeeded"
	UpdateFailed      UpdateResult = "failed"
	UpdateCancelled   UpdateResult = "cancelled"
	UpdateInterrupted UpdateResult = "interrupted" // opsroom stopped while it ran
	// UpdateUnverified is a run whose stages all succeeded but whose service
	// then failed its verification (update_verify): it is deployed all the same.
	UpdateUnverified UpdateResult = "unverified"
)

// RunKind says what a run deploys: the tracked branch's tip, or an earlier commit.
type RunKind string

const (
	RunUpdate   RunKind = "update"
	RunRollback RunKind = "rollback"
)

// UpdateRun is one !update or !rollback.
type UpdateRun struct {
	ID              int64
	Kind            RunKind // RunUpdate when left empty
	Service         string
	Sender          id.UserID
	RoomID          id.RoomID
	ProgressEventID id.EventID
	Started         time.Time
	Ended           time.Time // zero while running
	OldCommit       string
	NewCommit       string
	Stage           string
	Result          UpdateResult
	Error           string
}

const (
	updateColumns     = `id, kind, service, sender, room_id, progress_event_id, started_ms, ended_ms, old_commit, new_commit, stage, result, error`
	insertUpdateQuery = `
		INSERT INTO update_runs (kind, service, sender, room_id, started_ms, result)
		VALUES ($1, $2, $3, $4, $5, 'running') RETURNING id`
	setUpdateEventQuery = `UPDATE update_runs SET progress_event_id=$2 WHERE id=$1`
	setUpdateStageQuery = `UPDATE update_runs SET stage=$2, old_commit=$3, new_commit=$4 WHERE id=$1 AND result='running'`
	finishUpdateQuery   = `
		UPDATE update_runs SET ended_ms=$2, result=$3, error=$4, stage=$5, old_commit=$6, new_commit=$7
		WHERE id=$1 AND result='running'`
	runningUpdatesQuery = `SELECT ` + updateColumns + ` FROM update_runs WHERE result='running' ORDER BY id`
	lastUpdateQuery     = `
		SELECT ` + updateColumns + ` FROM update_runs
		WHERE service=$1 AND kind=$2 AND result IN ('succeeded', 'unverified') AND old_commit<>'' AND old_commit<>new_commit
		ORDER BY id DESC LIMIT 1`
)

// UpdateQuery reads and writes update runs.
type UpdateQuery struct {
	*dbutil.QueryHelper[*UpdateRun]
}

// Updates returns the update runs' queries.
func (s *Store) Updates() UpdateQuery {
	return UpdateQuery{queryHelper[*UpdateRun](s)}
}

// Start records a new running update and fills in its ID.
func (uq UpdateQuery) Start(ctx context.Context, run *UpdateRun) error {
	if run.Started.IsZero() {
		run.Started = time.Now()
	}
	if run.Kind == "" {
		run.Kind = RunUpdate
	}
	run.Result = UpdateRunning
	err := uq.GetDB().QueryRow(ctx, insertUpdateQuery, run.Kind, run.Service, run.Sender, run.RoomID, run.Started.UnixMilli()).Scan(&run.ID)
	if err != nil {
		return fmt.Errorf("recording %s of %s: %w", run.Kind, run.Service, err)
	}
	return nil
}

// SetProgressEvent remembers the message that shows the run.
func (uq UpdateQuery) SetProgressEvent(ctx context.Context, run *UpdateRun) error {
	return uq.Exec(ctx, setUpdateEventQuery, run.ID, run.ProgressEventID)
}

// SetStage records how far a running update got.
func (uq UpdateQuery) SetStage(ctx context.Context, run *UpdateRun) error {
	return uq.Exec(ctx, setUpdateStageQuery, run.ID, run.Stage, run.OldCommit, run.NewCommit)
}

// Finish records the end of a run; a run already finished is left as it was.
func (uq UpdateQuery) Finish(ctx context.Context, run *UpdateRun) error {
	if run.Ended.IsZero() {
		run.Ended = time.Now()
	}
	return uq.Exec(ctx, finishUpdateQuery, run.ID, run.Ended.UnixMilli(), run.Result, run.Error, run.Stage, run.OldCommit, run.NewCommit)
}

// Running returns the runs that never finished: at start-up, those were cut off by a stop of opsroom.
func (uq UpdateQuery) Running(ctx context.Context) ([]*UpdateRun, error) {
	return uq.QueryMany(ctx, runningUpdatesQuery)
}

// LastSuccessfulUpdate returns the service's latest successful update that
// changed its commit, or nil: its OldCommit is where a rollback goes. An
// update that failed its verification counts: it is deployed. Rollbacks
// are not counted, so that a second rollback goes to the same commit instead
// of back to where the first one left; nor are updates that found nothing new,
// which would leave a rollback nowhere to go.
func (uq UpdateQuery) LastSuccessfulUpdate(ctx context.Context, service string) (*UpdateRun, error) {
	run, err := uq.QueryOne(ctx, lastUpdateQuery, service, RunUpdate)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return run, err
}

// Scan implements dbutil.DataStruct.
func (r *UpdateRun) Scan(row dbutil.Scannable) (*UpdateRun, error) {
	var started int64
	var ended sql.NullInt64
	err := row.Scan(&r.ID, &r.Kind, &r.Service, &r.Sender, &r.RoomID, &r.ProgressEventID, &started, &ended,
		&r.OldCommit, &r.NewCommit, &r.Stage, &r.Result, &r.Error)
	if err != nil {
		return nil, err
	}
	r.Started = time.UnixMilli(started)
	if ended.Valid {
		r.Ended = time.UnixMilli(ended.Int64)
	}
	return r, nil
}
