package ops

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// UpdateStage is a step of an update, in the order they run.
type UpdateStage string

const (
	StageFetch UpdateStage = "fetch" // git fetch REMOTE BRANCH
	StageReset UpdateStage = "reset" // git reset --hard REMOTE/BRANCH
	StageBuild UpdateStage = "build" // COMPOSE build SERVICE
	StageUp    UpdateStage = "up"    // COMPOSE up -d SERVICE
)

// UpdateStages lists the stages in order.
var UpdateStages = []UpdateStage{StageFetch, StageReset, StageBuild, StageUp}

// UpdateObserver hears an update as it goes. ops declares it; whoever shows
// the progress implements it. Calls come from the updating goroutine, except
// that Output may come from the SSH session's copiers (never concurrently).
type UpdateObserver interface {
	StageStarted(stage UpdateStage, command string)
	// StageDone gives a one-line summary, e.g. "origin/master 3f2a1c0 -> 9b7d4e2 (3 new commits)".
	StageDone(stage UpdateStage, summary string)
	Output(stage UpdateStage, chunk []byte)
	// Commits is called once the old and target commits are known.
	Commits(old, target string)
}

// UpdateResult is a finished, successful update.
type UpdateResult struct {
	OldCommit, NewCommit string
	Log                  []string // one line per commit, newest first
	Status               Status   // a fresh probe after the update
}

// Update brings a compose service to the tip of its tracked branch: fetch,
// reset --hard (the deploy-box semantic: always match the remote; ignored
// files such as .env survive), build, up. A failed stage is a *CommandError
// whose Step is the stage; the running container is left alone until "up".
func (f *Fleet) Update(ctx context.Context, service string, obs UpdateObserver) (*UpdateResult, error) {
	return f.deploy(ctx, service, "", obs)
}

// Rollback is Update to a given commit instead of the branch tip.
func (f *Fleet) Rollback(ctx context.Context, service, commit string, obs UpdateObserver) (*UpdateResult, error) {
	if !isCommitID(commit) {
		return nil, fmt.Errorf("%q is not a commit ID", commit)
	}
	return f.deploy(ctx, service, commit, obs)
}

func (f *Fleet) deploy(ctx context.Context, service, commit string, obs UpdateObserver) (*UpdateResult, error) {
	s, err := f.Lookup(service)
	if err != nil {
		return nil, err
	}
	if s.Kind != KindCompose {
		return nil, fmt.Errorf("%s is a %s service: only compose services can be updated", s.Name, s.Kind)
	}
	ctx, cancel := context.WithTimeout(ctx, s.UpdateTimeout.Duration)
	defer cancel()
	h := f.cfg.Hosts[s.Host]
	dir := Quote(s.Directory)
	u := updater{f: f, s: s, obs: obs, ctx: ctx}

	ref := s.GitRemote + "/" + s.GitBranch
	target := Quote(ref)
	if commit != "" {
		target = Quote(commit)
	}
	obs.StageStarted(StageFetch, "git fetch "+s.GitRemote+" "+s.GitBranch)
	old, err := u.git(StageFetch, "git -C "+dir+" rev-parse HEAD")
	if err != nil {
		return nil, err
	}
	if _, err := u.stream(StageFetch, "git -C "+dir+" fetch "+Quote(s.GitRemote)+" "+Quote(s.GitBranch)+" 2>&1"); err != nil {
		return nil, err
	}
	newCommit, err := u.git(StageFetch, "git -C "+dir+" rev-parse --verify "+target+"^{commit}")
	if err != nil {
		return nil, err
	}
	if !isCommitID(old) || !isCommitID(newCommit) {
		return nil, fmt.Errorf("%s: host %q: git printed %.80q and %.80q where commit IDs were expected", StageFetch, s.Host, old, newCommit)
	}
	obs.Commits(old, newCommit)
	count, _ := u.git(StageFetch, "git -C "+dir+" rev-list --count "+Quote(old+".."+newCommit))
	n, _ := strconv.Atoi(count)
	obs.StageDone(StageFetch, fmt.Sprintf("%s %s -> %s (%s new %s)", ref, ShortCommit(old), ShortCommit(newCommit), count, Plural(n, "commit", "commits")))

	obs.StageStarted(StageReset, "git reset --hard "+ShortCommit(newCommit))
	if _, err := u.stream(StageReset, "git -C "+dir+" reset --hard "+Quote(newCommit)+" 2>&1"); err != nil {
		return nil, err
	}
	// Trust the checkout, not the exit codes: a reset that said yes and left
	// HEAD where it was must not be reported as deployed.
	if now, err := u.git(StageReset, "git -C "+dir+" rev-parse HEAD"); err != nil {
		return nil, err
	} else if now != newCommit {
		return nil, fmt.Errorf("%s: host %q: after the reset HEAD is %.80q, not %s; nothing was deployed", StageReset, s.Host, now, ShortCommit(newCommit))
	}
	obs.StageDone(StageReset, "HEAD is now "+ShortCommit(newCommit))

	compose := "cd " + dir + " && " + h.ComposeCommand
	obs.StageStarted(StageBuild, h.ComposeCommand+" build "+s.ComposeService)
	if _, err := u.stream(StageBuild, compose+" build "+Quote(s.ComposeService)+" 2>&1"); err != nil {
		return nil, err
	}
	obs.StageDone(StageBuild, "built")

	obs.StageStarted(StageUp, h.ComposeCommand+" up -d "+s.ComposeService)
	if _, err := u.stream(StageUp, compose+" up -d "+Quote(s.ComposeService)+" 2>&1"); err != nil {
		return nil, err
	}
	obs.StageDone(StageUp, "up")

	res := &UpdateResult{OldCommit: old, NewCommit: newCommit}
	if old != newCommit {
		if log, err := u.git(StageUp, "git -C "+dir+" log --format=%h%x20%s "+Quote(old+".."+newCommit)); err == nil && log != "" {
			res.Log = strings.Split(log, "\n")
		}
	}
	res.Status = f.Status(ctx, s.Name)
	return res, nil
}

// updater runs the commands of one update.
type updater struct {
	f   *Fleet
	s   *ServiceConfig
	obs UpdateObserver
	ctx context.Context
}

// git runs a short command whose trimmed stdout is the answer.
func (u *updater) git(stage UpdateStage, cmd string) (string, error) {
	res, err := u.run(stage, cmd, nil)
	return strings.TrimSpace(res.Stdout), err
}

// stream runs a command whose output the observer sees as it comes.
func (u *updater) stream(stage UpdateStage, cmd string) (RunResult, error) {
	return u.run(stage, cmd, observerWriter{u.obs, stage})
}

func (u *updater) run(stage UpdateStage, cmd string, stream io.Writer) (RunResult, error) {
	res, err := u.f.runGroup(u.ctx, u.s.Host, cmd, runOpts{timeout: u.s.UpdateTimeout.Duration, stream: stream})
	if err != nil {
		return res, fmt.Errorf("%s: %w", stage, err)
	}
	if res.ExitCode != 0 {
		return res, &CommandError{Host: u.s.Host, Service: u.s.Name, Step: string(stage), Command: cmd,
			ExitCode: res.ExitCode, Stdout: res.Stdout, Stderr: res.Stderr}
	}
	return res, nil
}

type observerWriter struct {
	obs   UpdateObserver
	stage UpdateStage
}

func (w observerWriter) Write(p []byte) (int, error) {
	w.obs.Output(w.stage, p)
	return len(p), nil
}

// ShortCommit is a commit ID as people write it: its first 7 characters.
func ShortCommit(commit string) string {
	if len(commit) > 7 {
		return commit[:7]
	}
	return commit
}

// Plural is one when n is 1, and many otherwise.
func Plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func isCommitID(s string) bool {
	if len(s) < 7 || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
