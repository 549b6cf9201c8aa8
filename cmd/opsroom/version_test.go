package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"time"
)

func TestVersionFromWhatGoRecorded(t *testing.T) {
	info := &debug.BuildInfo{
		GoVersion: "go1.26.8",
		Main:      debug.Module{Path: "github.com/opsroom/opsroom", Version: "v0.0.0-20261201120000-f1bab87c1234+dirty"},
		Settings: []debug.BuildSetting{
			{Key: "-tags", Value: "goolm"},
			{Key: "CGO_ENABLED", Value: "0"},
			{Key: "vcs.revision", Value: "f1bab87c1234f1bab87c1234f1bab87c1234abcd"},
			{Key: "vcs.time", Value: "2026-12-01T12:00:00Z"},
			{Key: "vcs.modified", Value: "true"},
		},
	}
	got := fromBuildInfo(info, "", "", "").String()
	for _, want := range []string{
		"opsroom v0.0.0-20261201120000-f1bab87c1234+dirty\n",
		"revision:  f1bab87c1234f1bab87c1234f1bab87c1234abcd (with uncommitted changes)\n",
		"committed: 2026-12-01T12:00:00Z\n",
		"built:     unknown\n",
		"go:        go1.26.8 ",
		", tags goolm, CGO_ENABLED=0\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("-version lacks %q:\n%s", want, got)
		}
	}

	// -ldflags (the Dockerfile's build, whose context has no .git) win.
	got = fromBuildInfo(&debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "v1.4.0", "0123abc", "2026-12-02T08:30:00Z").String()
	for _, want := range []string{"opsroom v1.4.0\n", "revision:  0123abc\n", "committed: unknown\n", "built:     2026-12-02T08:30:00Z\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("-version with -ldflags lacks %q:\n%s", want, got)
		}
	}
	// Nothing recorded at all still says so, rather than printing blanks.
	got = fromBuildInfo(nil, "", "", "").String()
	if !strings.HasPrefix(got, "opsroom dev\nrevision:  unknown\n") {
		t.Errorf("-version of a build without information:\n%s", got)
	}
}

// TestVersionOfAPlainBuild builds opsroom as the README says, in a fresh
// git checkout of this tree, and reads -version: the revision and commit time
// are the checkout's, and the build time is the binary's.
func TestVersionOfAPlainBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds opsroom (-short)")
	}
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	// A copy of the working tree in a repository of its own: Go records no
	// VCS information in a git worktree (its .git is a file), as this
	// checkout may be.
	dir := t.TempDir()
	files := gitOut(t, root, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	for _, f := range strings.Split(strings.TrimRight(files, "\x00"), "\x00") {
		data, err := os.ReadFile(filepath.Join(root, f))
		if os.IsNotExist(err) {
			continue // deleted in the working tree
		} else if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	gitOut(t, dir, "init", "-q")
	gitOut(t, dir, "add", "-A")
	t.Setenv("GIT_COMMITTER_DATE", "2026-11-30T10:00:00Z") // what Go records as vcs.time
	gitOut(t, dir, "-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-q", "-m", "snapshot")
	head := strings.TrimSpace(gitOut(t, dir, "rev-parse", "HEAD"))

	before := time.Now().Add(-time.Second)
	bin := filepath.Join(t.TempDir(), "opsroom")
	build := exec.Command("go", "build", "-tags", "goolm", "-o", bin, "./cmd/opsroom")
	build.Dir = dir
	// This machine's go env may turn VCS stamping off; a user's build has it on.
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-buildvcs=true")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "-version").CombinedOutput()
	if err != nil {
		t.Fatalf("opsroom -version: %v\n%s", err, out)
	}
	got := string(out)
	t.Logf("opsroom -version:\n%s", got)
	for _, want := range []string{
		"opsroom v0.0.0-20261130100000-" + head[:12] + "\n",
		"revision:  " + head + "\n",
		"committed: 2026-11-30T10:00:00Z\n",
		"tags goolm, CGO_ENABLED=0",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("-version lacks %q", want)
		}
	}
	line := got[strings.Index(got, "built:"):]
	built, err := time.Parse(time.RFC3339, strings.Fields(line)[1])
	if err != nil || built.Before(before.Truncate(time.Second)) || built.After(time.Now()) {
		t.Errorf("build time %q is not the time of this build (%v)", line, err)
	}
}

func gitOut(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}
