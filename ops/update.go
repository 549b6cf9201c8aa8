package ops

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// UpdateStage names a stage of an update or rollback, as the progress
// message and the update_runs table show it: a stage of the git and compose
// recipe, or one of the service's own steps (its update: and rollback:).
type UpdateStage string

// The stages of the git and compose recipe, in the order they run.
const (
	StageFetch UpdateStage = "fetch" // git fetch REMOTE BRANCH
	StageReset UpdateStage = "reset" // git reset --hard REMOTE/BRANCH
	StageBuild UpdateStage = "build" // COMPOSE build SERVICE
	StageUp    UpdateStage = "up"    // COMPOSE up -d SERVICE
)

// UpdateObserver hears an update as it goes. ops declares it; whoever shows
// the progress implements it. Calls come from the updating goroutine, except
// that Output may come from the SSH session's copiers (never concurrently).
type UpdateObserver interface {
	StageStarted(stage UpdateStage, command string)
	// StageDone gives a one-line summary, e.g. "origin/master 3f2a1c0 -> 9b7d4e2 (3 new commits)".
	StageDone(stage UpdateStage, summary string)
	Output(stage UpdateStage, chunk []byte)
	// Commits is called once the old and target commits are known (with
	// a service's own steps: the old one before they run, if the directory
	// is a git checkout, and both once they are done).
	Commits(old, target string)
}

// UpdateResult is a finished, successful update.
type UpdateResult struct {
	// OldCommit and NewCommit are "" when the service has no checkout to
	// read them from (its own steps, in a directory that is not a git checkout).
	OldCommit, NewCommit string
	Log                  []string // one line per commit, newest first
	Status               Status   // a fresh probe after the update
}

// Recipe is what an update or rollback of a service runs: its stages, in
// order. The git and compose recipe is one (fetch, reset --hard, build, up);
// a service's own update: or rollback: steps are another, and Deploy runs
// either the same way.
type Recipe struct {
	service *ServiceConfig
	stages  []Stage
	// ownSteps says the stages are the service's own steps. Their commits
	// are read from the directory's HEAD before and after, as far as it is a
	// git checkout; the git recipe's stages find them themselves.
	ownSteps bool
}

// Stage is one stage of a recipe: its name and the command the progress
// message shows for it. Only Deploy runs it.
type Stage struct {
	Name    UpdateStage
	Command string
	// run does the stage and returns the line the progress message shows
	// once it is done.
	run func(u *updater) (done string, err error)
}

// Stages lists the recipe's stages in the order they run.
func (r *Recipe) Stages() []Stage { return r.stages }

// OwnSteps says whether the recipe is the service's own steps rather than
// the git and compose recipe (a nil recipe is the git and compose one).
func (r *Recipe) OwnSteps() bool { return r != nil && r.ownSteps }

// Label names a stage in messages: "step `migrate`" for one of the service's
// own steps, "stage fetch" for one of the git and compose recipe.
func (r *Recipe) Label(stage UpdateStage) string {
	if r.OwnSteps() {
		return "step `" + string(stage) + "`"
	}
	return "stage " + string(stage)
}

// ErrNoCommit is what RollbackRecipe says of a service that rolls back to a
// commit (the git and compose recipe) when it was given none.
var ErrNoCommit = errors.New("no commit to roll back to was given")

// UpdateRecipe is what !update runs on the service: its own update: steps,
// or for a compose service without them the git and compose recipe to the
// tip of its tracked branch; or why it cannot be updated.
func (f *Fleet) UpdateRecipe(service string) (*Recipe, error) {
	s, err := f.Lookup(service)
	if err != nil {
		return nil, err
	}
	h := f.hostOf(s)
	switch {
	case len(s.Update) > 0:
		return stepsRecipe(s, s.Update), nil
	case s.Kind == KindCompose:
		return gitRecipe(h, s, ""), nil
	}
	return nil, fmt.Errorf("%s is a %s service without update: steps: opsroom updates compose services (git and compose) "+
		"and services with steps of their own; give it some in services.%s.update", s.Name, s.Kind, s.Name)
}

// RollbackRecipe is what !rollback runs on the service: its own rollback:
// steps, which take no commit (they know where they go back to), or for a
// compose service without update: steps the git and compose recipe to
// commit (ErrNoCommit if there is none); or why it cannot be rolled back.
func (f *Fleet) RollbackRecipe(service, commit string) (*Recipe, error) {
	s, err := f.Lookup(service)
	if err != nil {
		return nil, err
	}
	h := f.hostOf(s)
	switch {
	case len(s.Rollback) > 0:
		if commit != "" {
			return nil, fmt.Errorf("%s rolls back with its own steps (services.%s.rollback), which take no commit: "+
				"send `!rollback %s` alone to run them (nothing was run for %.80q)", s.Name, s.Name, s.Name, commit)
		}
		return stepsRecipe(s, s.Rollback), nil
	case len(s.Update) > 0:
		return nil, fmt.Errorf("%s updates with its own steps but has no rollback: steps, so opsroom does not know how to roll it back; "+
			"give it some in services.%s.rollback", s.Name, s.Name)
	case s.Kind != KindCompose:
		return nil, fmt.Errorf("%s is a %s service without rollback: steps: opsroom rolls back compose services (to an earlier commit) "+
			"and services with steps of their own; give it some in services.%s.rollback", s.Name, s.Kind, s.Name)
	case commit == "":
		return nil, ErrNoCommit
	case !isCommitID(commit):
		return nil, fmt.Errorf("%.80q is not a commit ID: 7 to 64 hexadecimal digits, as `git log` shows them", commit)
	}
	return gitRecipe(h, s, commit), nil
}

// gitRecipe brings a compose service to commit, or to the tip of its tracked
// branch: fetch, reset --hard (the deploy-box semantic: always match the
// remote; ignored files such as .env survive), build, up. The running
// container is left alone until "up".
func gitRecipe(h *HostConfig, s *ServiceConfig, commit string) *Recipe {
	dir := Quote(s.Directory)
	ref := s.GitRemote + "/" + s.GitBranch
	target, shownTarget := Quote(ref), ref
	if commit != "" {
		target, shownTarget = Quote(commit), ShortCommit(commit)
	}
	fetch := Stage{Name: StageFetch, Command: "git fetch " + s.GitRemote + " " + s.GitBranch, run: func(u *updater) (string, error) {
		old, err := u.output(StageFetch, "git -C "+dir+" rev-parse HEAD")
		if err != nil {
			return "", err
		}
		if _, err := u.stream(StageFetch, "git -C "+dir+" fetch "+Quote(s.GitRemote)+" "+Quote(s.GitBranch)+" 2>&1", ""); err != nil {
			return "", err
		}
		newCommit, err := u.output(StageFetch, "git -C "+dir+" rev-parse --verify "+target+"^{commit}")
		if err != nil {
			return "", err
		}
		if !isCommitID(old) || !isCommitID(newCommit) {
			return "", fmt.Errorf("%s: host %q: git printed %.80q and %.80q where commit IDs were expected", u.r.Label(StageFetch), s.Host, old, newCommit)
		}
		u.commits(old, newCommit)
		count, _ := u.output(StageFetch, "git -C "+dir+" rev-list --count "+Quote(old+".."+newCommit))
		n, _ := strconv.Atoi(count)
		return fmt.Sprintf("%s %s -> %s (%s new %s)", ref, ShortCommit(old), ShortCommit(newCommit), count, Plural(n, "commit", "commits")), nil
	}}
	reset := Stage{Name: StageReset, Command: "git reset --hard " + shownTarget, run: func(u *updater) (string, error) {
		if _, err := u.stream(StageReset, "git -C "+dir+" reset --hard "+Quote(u.newCommit)+" 2>&1", ""); err != nil {
			return "", err
		}
		// Trust the checkout, not the exit codes: a reset that said yes and left
		// HEAD where it was must not be reported as deployed.
		if now, err := u.output(StageReset, "git -C "+dir+" rev-parse HEAD"); err != nil {
			return "", err
		} else if now != u.newCommit {
			return "", fmt.Errorf("%s: host %q: after the reset HEAD is %.80q, not %s; nothing was deployed", u.r.Label(StageReset), s.Host, now, ShortCommit(u.newCommit))
		}
		return "HEAD is now " + ShortCommit(u.newCommit), nil
	}}
	compose := "cd " + dir + " && " + h.ComposeCommand
	b := backendFor(h, s).(composeBackend)
	return &Recipe{service: s, stages: []Stage{
		fetch,
		reset,
		commandStage(StageBuild, h.ComposeCommand+" build "+s.ComposeService, compose+" build "+Quote(s.ComposeService)+" 2>&1", "built", b.composeOutcome),
		commandStage(StageUp, h.ComposeCommand+" "+b.composeUp()+" "+s.ComposeService, compose+" "+b.composeUp()+" "+Quote(s.ComposeService)+" 2>&1", "up", b.composeOutcome),
	}}
}

// commandStage is a stage that runs one command, its output streamed to the
// observer; a failure names the command as shown. Done, its line says done
// and how long it took. outcome, if not nil, reads how the command went where
// its exit code does not say (see composeBackend).
func commandStage(name UpdateStage, shown, cmd, done string, outcome func(RunResult) RunResult) Stage {
	return Stage{Name: name, Command: shown, run: func(u *updater) (string, error) {
		start := time.Now()
		if _, err := u.run(name, cmd, shown, observerWriter{u.obs, name}, outcome); err != nil {
			return "", err
		}
		return fmt.Sprintf("%s (%s)", done, time.Since(start).Round(time.Second)), nil
	}}
}

// Update runs what !update runs on the service (see UpdateRecipe).
func (f *Fleet) Update(ctx context.Context, service string, obs UpdateObserver) (*UpdateResult, error) {
	r, err := f.UpdateRecipe(service)
	if err != nil {
		return nil, err
	}
	return f.Deploy(ctx, r, obs)
}

// Deploy runs the recipe's stages in order, all within the service's
// update_timeout, each command in a process group of its own on the host (a
// cancel or a timeout ends it there too). The first stage that fails ends the
// run: a *CommandError whose Step is the stage's Label, or the error that
// stopped it.
func (f *Fleet) Deploy(ctx context.Context, r *Recipe, obs UpdateObserver) (*UpdateResult, error) {
	s := r.service
	ctx, cancel := context.WithTimeout(ctx, s.UpdateTimeout.Duration)
	defer cancel()
	if s.Directory != "" {
		// A drift's fetch of the checkout waits for another day (see driftCache).
		l := f.drift.checkout(s)
		l.Lock()
		defer l.Unlock()
	}
	u := &updater{f: f, r: r, obs: obs, ctx: ctx}
	if r.ownSteps {
		u.commits(u.head(), "")
	}
	for _, st := range r.stages {
		obs.StageStarted(st.Name, st.Command)
		done, err := st.run(u)
		if err != nil {
			return nil, err
		}
		obs.StageDone(st.Name, done)
	}
	if r.ownSteps {
		u.commits(u.oldCommit, u.head())
	}
	res := &UpdateResult{OldCommit: u.oldCommit, NewCommit: u.newCommit}
	if res.OldCommit != "" && res.NewCommit != "" && res.OldCommit != res.NewCommit {
		if log, err := u.output("", "git -C "+Quote(s.Directory)+" log --format=%h%x20%s "+Quote(res.OldCommit+".."+res.NewCommit)); err == nil && log != "" {
			res.Log = strings.Split(log, "\n")
		}
	}
	res.Status = f.Status(ctx, s.Name)
	return res, nil
}

// updater runs the commands of one update.
type updater struct {
	f   *Fleet
	r   *Recipe
	obs UpdateObserver
	ctx context.Context

	oldCommit, newCommit string // as far as they are known
}

// commits records the commits before and after, and tells the observer.
func (u *updater) commits(old, newCommit string) {
	u.oldCommit, u.newCommit = old, newCommit
	if old != "" || newCommit != "" {
		u.obs.Commits(old, newCommit)
	}
}

// head is the commit checked out in the service's directory, or "" if it
// has none or it is not a git checkout.
func (u *updater) head() string {
	if u.r.service.Directory == "" {
		return ""
	}
	commit, err := u.output("", "git -C "+Quote(u.r.service.Directory)+" rev-parse HEAD")
	if err != nil || !isCommitID(commit) {
		return ""
	}
	return commit
}

// output runs a short command whose trimmed stdout is the answer.
func (u *updater) output(stage UpdateStage, cmd string) (string, error) {
	res, err := u.run(stage, cmd, "", nil, nil)
	return strings.TrimSpace(res.Stdout), err
}

// stream runs a command whose output the observer sees as it comes; a
// failure names it as shown ("" for the command itself).
func (u *updater) stream(stage UpdateStage, cmd, shown string) (RunResult, error) {
	return u.run(stage, cmd, shown, observerWriter{u.obs, stage}, nil)
}

func (u *updater) run(stage UpdateStage, cmd, shown string, stream io.Writer, outcome func(RunResult) RunResult) (RunResult, error) {
	s := u.r.service
	res, err := u.f.runGroup(u.ctx, s.Host, cmd, runOpts{timeout: s.UpdateTimeout.Duration, stream: stream})
	if err != nil {
		return res, fmt.Errorf("%s: %w", u.r.Label(stage), err)
	}
	if outcome != nil {
		res = outcome(res)
	}
	if res.ExitCode != 0 {
		return res, &CommandError{Host: s.Host, Service: s.Name, Step: u.r.Label(stage), Command: cmp.Or(shown, cmd),
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
