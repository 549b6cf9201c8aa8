package ops

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opsroom/opsroom/internal/config"
)

type quietObserver struct{}

func (quietObserver) StageStarted(UpdateStage, string) {}
func (quietObserver) StageDone(UpdateStage, string)    {}
func (quietObserver) Output(UpdateStage, []byte)       {}
func (quietObserver) Commits(string, string)           {}

// TestAResetThatLeavesHEADWhereItWasFailsTheUpdate: the checkout is read
// back after the reset; a reset that says yes and moves nothing (here a git
// whose reset does nothing) is a failed update, never a ✅.
func TestAResetThatLeavesHEADWhereItWasFailsTheUpdate(t *testing.T) {
	srv := startSessionServer(t, 10)
	git, dev, checkout := gitCheckout(t)
	git(dev, "commit", "-q", "--allow-empty", "-m", "v2")
	git(dev, "push", "-q", "origin", "master")
	old := git(checkout, "rev-parse", "HEAD")

	// The server runs commands with this process's environment: a git first
	// on PATH whose reset says yes and does nothing.
	shims := t.TempDir()
	shim := "#!/bin/sh\ncase \" $* \" in *\" reset \"*) echo 'HEAD is now at 0000000 (not really)'; exit 0;; esac\nexec " + gitPath(t) + " \"$@\"\n"
	if err := os.WriteFile(filepath.Join(shims, "git"), []byte(shim), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", shims+":"+os.Getenv("PATH"))

	h := srv.host(4)
	h.CommandTimeout = config.Duration{Duration: time.Minute}
	h.ComposeCommand = "true"
	cfg := &Config{Hosts: map[string]*HostConfig{"local": h}, Services: map[string]*ServiceConfig{"app": {
		Name: "app", Host: "local", Kind: KindCompose, Container: "app", Directory: checkout, ComposeService: "app",
		GitRemote: "origin", GitBranch: "master", UpdateTimeout: config.Duration{Duration: time.Minute}}}}
	f, err := NewFleet(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := f.Update(context.Background(), "app", quietObserver{})
	if err == nil || !strings.Contains(err.Error(), "after the reset HEAD is") || !strings.Contains(err.Error(), "nothing was deployed") {
		t.Fatalf("update with a reset that did nothing: %+v, %v; want a failure saying HEAD did not move", res, err)
	}
	if now := git(checkout, "rev-parse", "HEAD"); now != old {
		t.Fatalf("HEAD moved to %s after all; the shim did not stand in for reset", now)
	}
}

// gitCheckout makes a bare origin.git with one commit (v1), a developer's
// clone of it (dev) and a deploy checkout (app), all in a temporary
// directory, and returns a git that runs in a directory of it.
func gitCheckout(t *testing.T) (git func(dir string, args ...string) string, dev, checkout string) {
	t.Helper()
	root := t.TempDir()
	git = func(dir string, args ...string) string {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=master"}, args...)...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	git(root, "init", "-q", "--bare", "origin.git")
	git(root, "clone", "-q", "origin.git", "dev")
	dev, checkout = filepath.Join(root, "dev"), filepath.Join(root, "app")
	git(dev, "commit", "-q", "--allow-empty", "-m", "v1")
	git(dev, "push", "-q", "origin", "master")
	git(root, "clone", "-q", "origin.git", "app")
	return git, dev, checkout
}

func gitPath(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("git")
	if err != nil {
		t.Fatal(err)
	}
	return p
}
