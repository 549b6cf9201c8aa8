package ops

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opsroom/opsroom/internal/config"
)

// onSpark starts a config whose services are on the host spark, which is never dialled.
const onSpark = `
hosts:
  spark: {address: 10.0.0.2, user: deploy, use_agent: true, known_hosts: /nonexistent}
services:
`

func TestValidateStepsNamesTheKeyOfEachBadStep(t *testing.T) {
	c := parse(t, onSpark+`  empty:
    host: spark
    kind: container
    container: empty
    update: []
  web:
    host: spark
    kind: container
    container: web
    update:
      - {name: build, run: make release}
      - {name: migrate}
      - {run: ./restart.sh}
      - {name: build, run: make again}
      - {name: "run tests", run: make test}
    rollback:
      - {name: back, run: "   "}
`)
	errs, _ := c.Validate()
	got := joinErrs(errs)
	for _, want := range []string{
		`services.empty.update: empty list: give the steps in order, each {name: NAME, run: COMMAND}, or leave update out`,
		`services.web.update[1].run: required: the command this step runs`,
		`services.web.update[2].name: required: a short name the progress message shows`,
		`services.web.update[3].name: "build" is already the name of update[0]; each step needs a name of its own`,
		`services.web.update[4].name: "run tests" is not a step name`,
		`services.web.rollback[0].run: required: the command this step runs`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("errors lack %q; got:\n%s", want, got)
		}
	}
	if n := strings.Count(got, "services.web.update[0]"); n != 0 {
		t.Errorf("a good step was refused:\n%s", got)
	}
}

func TestAServiceWithStepsIsValidAndGetsTheDefaultUpdateTimeout(t *testing.T) {
	c := parse(t, onSpark+`  web:
    host: spark
    kind: container
    container: web
    update:
      - {name: pull, run: podman pull example.org/web:latest}
      - {name: restart, run: systemctl --user restart web}
    rollback:
      - name: switch-back
        run: |
          nixos-rebuild switch --rollback
          systemctl --user restart web
`)
	if errs, _ := c.Validate(); len(errs) > 0 {
		t.Fatalf("errors: %s", joinErrs(errs))
	}
	if got := c.Services["web"].UpdateTimeout.Duration; got != defaultUpdateTimeout {
		t.Errorf("update_timeout of a container service with steps: %s, want the default %s", got, defaultUpdateTimeout)
	}
}

// stepsFleet is a fleet on a host that is never dialled, for building recipes.
func stepsFleet(t *testing.T) *Fleet {
	t.Helper()
	c := parse(t, onSpark+`  app: {host: spark, kind: compose, container: app-1, directory: /srv/app, compose_service: app}
  custom:
    host: spark
    kind: compose
    container: custom-1
    directory: /srv/custom
    compose_service: custom
    update: [{name: deploy, run: ./deploy.sh}]
  site:
    host: spark
    kind: container
    container: site
    directory: /etc/nixos
    update:
      - {name: pull, run: git pull --ff-only}
      - name: switch
        run: |
          nixos-rebuild switch
          systemctl restart site
    rollback: [{name: switch-back, run: nixos-rebuild switch --rollback}]
  plain: {host: spark, kind: container, container: plain}
`)
	if errs, _ := c.Validate(); len(errs) > 0 {
		t.Fatalf("errors: %s", joinErrs(errs))
	}
	f, err := NewFleet(c)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func stagesOf(r *Recipe) (names, commands []string) {
	for _, s := range r.Stages() {
		names, commands = append(names, string(s.Name)), append(commands, s.Command)
	}
	return names, commands
}

func TestTheGitRecipeIsAListOfStagesLikeAServicesOwnSteps(t *testing.T) {
	f := stepsFleet(t)

	git, err := f.UpdateRecipe("app")
	if err != nil {
		t.Fatal(err)
	}
	names, commands := stagesOf(git)
	if want := []string{"fetch", "reset", "build", "up"}; !slices.Equal(names, want) {
		t.Errorf("git recipe: stages %q, want %q", names, want)
	}
	if want := []string{"git fetch origin master", "git reset --hard origin/master", "docker compose build app", "docker compose up -d app"}; !slices.Equal(commands, want) {
		t.Errorf("git recipe: commands %q, want %q", commands, want)
	}
	if git.OwnSteps() || git.Label(StageFetch) != "stage fetch" {
		t.Errorf("git recipe: own steps %v, label %q; want false, \"stage fetch\"", git.OwnSteps(), git.Label(StageFetch))
	}

	own, err := f.UpdateRecipe("site")
	if err != nil {
		t.Fatal(err)
	}
	names, commands = stagesOf(own)
	if want := []string{"pull", "switch"}; !slices.Equal(names, want) {
		t.Errorf("own steps: stages %q, want %q", names, want)
	}
	// A script of several lines shows as its first line.
	if want := []string{"git pull --ff-only", "nixos-rebuild switch …"}; !slices.Equal(commands, want) {
		t.Errorf("own steps: commands %q, want %q", commands, want)
	}
	if !own.OwnSteps() || own.Label("switch") != "step `switch`" {
		t.Errorf("own steps: own steps %v, label %q; want true, \"step `switch`\"", own.OwnSteps(), own.Label("switch"))
	}
	if r, err := f.UpdateRecipe("custom"); err != nil || !r.OwnSteps() {
		t.Errorf("a compose service's own update: steps replace the git recipe: %v, %v", r, err)
	}

	back, err := f.RollbackRecipe("site", "")
	if err != nil {
		t.Fatal(err)
	}
	if names, _ := stagesOf(back); !slices.Equal(names, []string{"switch-back"}) {
		t.Errorf("own rollback: stages %q, want its own rollback: steps", names)
	}
	toCommit, err := f.RollbackRecipe("app", "0123abcd")
	if err != nil {
		t.Fatal(err)
	}
	if _, commands := stagesOf(toCommit); commands[1] != "git reset --hard 0123abc" {
		t.Errorf("git rollback: reset shows %q, want the commit", commands[1])
	}
}

func TestRecipesRefuseWhatCannotRunSayingWhichKeyIsMissing(t *testing.T) {
	f := stepsFleet(t)
	for _, c := range []struct {
		what string
		err  func() error
		want []string
	}{
		{"update of a container without steps", func() error { _, err := f.UpdateRecipe("plain"); return err },
			[]string{"plain is a container service without update: steps", "services.plain.update"}},
		{"rollback of a container without steps", func() error { _, err := f.RollbackRecipe("plain", ""); return err },
			[]string{"plain is a container service without rollback: steps", "services.plain.rollback"}},
		{"rollback of a service with update: steps only", func() error { _, err := f.RollbackRecipe("custom", ""); return err },
			[]string{"custom updates with its own steps but has no rollback: steps", "services.custom.rollback"}},
		{"a commit for own rollback steps", func() error { _, err := f.RollbackRecipe("site", "0123abcd"); return err },
			[]string{"site rolls back with its own steps (services.site.rollback), which take no commit", "`!rollback site` alone", `nothing was run for "0123abcd"`}},
		{"a rollback to something not a commit", func() error { _, err := f.RollbackRecipe("app", "HEAD~1"); return err },
			[]string{`"HEAD~1" is not a commit ID`}},
	} {
		err := c.err()
		if err == nil {
			t.Errorf("%s: accepted", c.what)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %q lacks %q", c.what, err, w)
			}
		}
	}
	if _, err := f.RollbackRecipe("app", ""); !errors.Is(err, ErrNoCommit) {
		t.Errorf("git rollback without a commit: %v, want ErrNoCommit (the caller finds the commit)", err)
	}
}

// stageRecorder is an UpdateObserver that keeps what it hears.
type stageRecorder struct {
	mu      sync.Mutex
	started []string
	done    []string
	output  strings.Builder
	commits [][2]string
}

func (r *stageRecorder) StageStarted(s UpdateStage, command string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.started = append(r.started, string(s)+": "+command)
}

func (r *stageRecorder) StageDone(s UpdateStage, summary string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.done = append(r.done, string(s)+": "+summary)
}

func (r *stageRecorder) Output(_ UpdateStage, chunk []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.output.Write(chunk)
}

func (r *stageRecorder) Commits(old, target string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.commits = append(r.commits, [2]string{old, target})
}

// A service's own steps run in order in its directory, through the same
// machinery as the git recipe (process group, streamed output, stderr merged);
// the first that fails ends the run, named; HEAD is read before and after.
func TestOwnStepsRunInOrderInTheDirectoryAndAFailureNamesTheStep(t *testing.T) {
	srv := startSessionServer(t, 10)
	dir := t.TempDir()
	git := "git -c user.name=t -c user.email=t@t"
	h := srv.host(4)
	h.CommandTimeout = config.Duration{Duration: time.Minute}
	cfg := &Config{Hosts: map[string]*HostConfig{"local": h}, Services: map[string]*ServiceConfig{
		"site": {Host: "local", Kind: KindContainer, Container: "opsroom-steps-test-none", Directory: dir,
			Update: []Step{
				{Name: "init", Run: "git init -q . && " + git + " commit -q --allow-empty -m first # a comment ends the line"},
				{Name: "release", Run: "echo 'to stdout'; echo \"to $(echo stderr)\" >&2\n" + git + " commit -q --allow-empty -m 'second release'"},
			}},
		"broken": {Host: "local", Kind: KindContainer, Container: "opsroom-steps-test-none-2", Directory: dir,
			Update: []Step{
				{Name: "prepare", Run: "pwd > prepared"},
				{Name: "migrate", Run: "echo 'migration 7 failed' >&2; exit 2"},
				{Name: "never", Run: "touch never"},
			}},
	}}
	if errs, _ := cfg.Validate(); len(errs) > 0 {
		t.Fatalf("config: %s", joinErrs(errs))
	}
	f, err := NewFleet(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ctx := context.Background()

	// Before the first step the directory is no checkout yet: no old commit, and no failure for it.
	obs := &stageRecorder{}
	res, err := f.Update(ctx, "site", obs)
	if err != nil {
		t.Fatalf("update: %v", err)
	}
	if want := []string{"init: git init -q . && " + git + " commit -q --allow-empty -m first # a comment ends the line", "release: echo 'to stdout'; echo \"to $(echo stderr)\" >&2 …"}; !slices.Equal(obs.started, want) {
		t.Errorf("stages started: %q, want %q", obs.started, want)
	}
	if len(obs.done) != 2 || !strings.HasPrefix(obs.done[1], "release: echo 'to stdout'") {
		t.Errorf("stages done: %q", obs.done)
	}
	if out := obs.output.String(); !strings.Contains(out, "to stdout\nto stderr\n") {
		t.Errorf("the steps' output, stderr merged in order: %q", out)
	}
	if res.OldCommit != "" || !isCommitID(res.NewCommit) {
		t.Errorf("commits: %q -> %q, want none before (no checkout yet) and the new HEAD after", res.OldCommit, res.NewCommit)
	}

	// In a checkout the commits before and after are reported, with the log between them.
	obs = &stageRecorder{}
	f.now().cfg.Services["site"].Update = f.now().cfg.Services["site"].Update[1:]
	res2, err := f.Update(ctx, "site", obs)
	if err != nil {
		t.Fatalf("second update: %v", err)
	}
	if res2.OldCommit != res.NewCommit || !isCommitID(res2.NewCommit) || res2.NewCommit == res.NewCommit {
		t.Errorf("commits: %q -> %q, want %q -> the new HEAD", res2.OldCommit, res2.NewCommit, res.NewCommit)
	}
	if len(res2.Log) != 1 || !strings.HasSuffix(res2.Log[0], " second release") {
		t.Errorf("log: %q, want the one new commit", res2.Log)
	}
	if len(obs.commits) != 2 || obs.commits[0] != [2]string{res.NewCommit, ""} {
		t.Errorf("the observer heard the commits %q; want the old one before the steps, then both", obs.commits)
	}

	obs = &stageRecorder{}
	_, err = f.Update(ctx, "broken", obs)
	var cmdErr *CommandError
	if !errors.As(err, &cmdErr) {
		t.Fatalf("failing step: %v, want a *CommandError", err)
	}
	if cmdErr.Step != "step `migrate`" || cmdErr.ExitCode != 2 || cmdErr.Command != "echo 'migration 7 failed' >&2; exit 2" ||
		!strings.Contains(cmdErr.Stdout, "migration 7 failed") {
		t.Errorf("failure: %+v; want step `migrate`, exit 2, its own command, its stderr merged into its output", cmdErr)
	}
	if msg := err.Error(); !strings.Contains(msg, "step `migrate` of broken failed") || !strings.Contains(msg, "exited 2: migration 7 failed") {
		t.Errorf("error text: %q", msg)
	}
	if len(obs.started) != 2 {
		t.Errorf("stages started: %q, want prepare and migrate, not the one after the failure", obs.started)
	}
	if data, err := os.ReadFile(filepath.Join(dir, "prepared")); err != nil || strings.TrimSpace(string(data)) != dir {
		t.Errorf("the first step ran in %q (%v), want the service's directory %s", data, err, dir)
	}
	if _, err := os.Stat(filepath.Join(dir, "never")); err == nil {
		t.Error("a step after the failed one ran")
	}
}
