package ops

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/opsroom/opsroom/internal/testworld"
)

// hostileSeeds add to hostile what a chat client can send and a fuzzer is slow
// to find: NUL, a body near Matrix's size limit, bytes that are not UTF-8, and
// characters that look like shell syntax or like other letters.
var hostileSeeds = append(slices.Clone(hostile),
	"a\x00b",
	strings.Repeat("'$(id)`id`", 6000),
	"\xff\xfe\xc3(",
	"\xed\xa0\x80 lone surrogate",
	"ｗｅｂ；ｉｄ ＇ quote",
	"wеb", // Cyrillic е
	"we\u200bb\u202e",
	"\u00a0nbsp\u2028line\u2029para",
	"-rf",
	"--help",
	"'\n'\r\n\\\n",
)

// bashOutput runs script with bash, reading it from stdin so that no argument
// length limit applies, in a UTF-8 locale as on a typical host.
func bashOutput(t *testing.T, script string, env ...string) []byte {
	t.Helper()
	cmd := exec.Command("bash", "-s")
	cmd.Stdin = strings.NewReader(script)
	cmd.Env = append(os.Environ(), append([]string{"LC_ALL=C.UTF-8"}, env...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("bash: %v\n%s\nscript:\n%q", err, stderr.String(), script)
	}
	return out
}

// maxExecArg is about what Linux lets one argument of exec be (MAX_ARG_STRLEN
// is 128 KiB): a command line longer than that cannot be started at all.
const maxExecArg = 120 * 1024

// FuzzQuote: whatever a value holds, the shell gets it back as exactly one
// word, unchanged, also through the real run_as wrapper (sudo -iu and the
// owner's login shell, which parses once more); a value the shell cannot
// carry (NUL) is refused before anything runs.
func FuzzQuote(f *testing.F) {
	for _, s := range hostileSeeds {
		f.Add(s)
	}
	h := runAsOwner(f)
	f.Fuzz(func(t *testing.T, s string) {
		cmd := "printf '%s\\0' " + Quote(s)
		if strings.ContainsRune(s, 0) {
			if checkArg(cmd) == nil {
				t.Fatalf("a command with a NUL byte was not refused: %q", cmd)
			}
			return
		}
		if got := string(bashOutput(t, cmd)); got != s+"\x00" {
			t.Fatalf("Quote(%q) came back from bash as %q", s, got)
		}
		if len(newEnvelope().commandLine(h, cmd)) > maxExecArg {
			return
		}
		res, err := onHost(t, h, cmd, runOpts{})
		if err != nil || res.Stdout != s+"\x00" {
			t.Fatalf("Quote(%q) came back through run_as as %q (%v)", s, res.Stdout, err)
		}
	})
}

// anyWord in an expected argument list matches whatever the shell passed.
const anyWord = "\x00any"

// recorder stands in for the programs the recipes call: each call appends its
// argument count and arguments, NUL-separated, to $REC, so the test sees the
// exact argument vectors the shell built. It is the shell setup of the
// recording owner (recordingOwner), whose functions are exported so that
// every shell under its login shell (the envelope's bash, a process group's)
// has them.
const recorder = `REC="$HOME/rec"; export REC
rec() { printf '%s\0' "$#" "$@" >>"$REC"; }
docker() { rec docker "$@"; }
docker-compose() { rec docker-compose "$@"; }
git() { rec git "$@"; }
cd() { rec cd "$@"; }
command_not_found_handle() { rec "not found:" "$@"; }
export -f rec docker docker-compose git cd command_not_found_handle
`

// recordingOwner is the owner of FuzzRecipes' hosts, whose shells record
// instead of running docker, git and cd.
const recordingOwner = "svcrec"

// recorded reads the argument vectors written by the recorder, cut into one
// list per command at the "@@" markers.
func recorded(t *testing.T, data []byte) [][][]string {
	t.Helper()
	fields := strings.Split(string(data), "\x00")
	var out [][][]string
	var cur [][]string
	for i := 0; i+1 < len(fields); {
		n, err := strconv.Atoi(fields[i])
		if err != nil || i+1+n > len(fields) {
			t.Fatalf("garbled record at field %d: %q", i, fields)
		}
		argv := fields[i+1 : i+1+n]
		i += 1 + n
		if len(argv) == 1 && argv[0] == "@@" {
			out = append(out, cur)
			cur = nil
			continue
		}
		cur = append(cur, argv)
	}
	return out
}

// FuzzRecipes builds every action's command for fuzzed config values and a
// fuzzed line count, runs it on a host as opsroom does (through the real
// sudo -iu and the owner's login shell with run_as, or logged in as the owner
// without), where docker, git, cd and docker-compose only record their
// arguments, and checks that each value arrived as exactly one argument,
// unchanged, inside a process group or not. A value with a NUL byte is
// refused before it runs.
func FuzzRecipes(f *testing.F) {
	for i, s := range hostileSeeds {
		f.Add(s, "/srv/"+s, s, i*37-50, i%2 == 0)
	}
	f.Add("bridge-1", "/srv/my bridge", "bridge", 50, true)
	testworld.Short(f)
	owner := testworld.OwnerWith(f, recordingOwner, recorder)
	testworld.LoginUser(f)
	rec := filepath.Join(owner.Home, "rec")
	f.Fuzz(func(t *testing.T, container, directory, composeService string, lines int, runAs bool) {
		h := &HostConfig{Name: "spark", ComposeCommand: "docker-compose", User: recordingOwner}
		if runAs {
			h.User, h.RunAs = "", recordingOwner
		}
		plain := &ServiceConfig{Kind: KindContainer, Container: container}
		compose := &ServiceConfig{Kind: KindCompose, Container: container, Directory: directory, ComposeService: composeService}
		restart := actionCommand(h, plain, "restart", 0)
		cases := []struct {
			cmd  string
			want [][]string
		}{
			{actionCommand(h, plain, "logs", lines), [][]string{{"docker", "logs", "--tail", strconv.Itoa(lines), container}}},
			{restart, [][]string{{"docker", "restart", container}}},
			{actionCommand(h, plain, "stop", 0), [][]string{{"docker", "stop", container}}},
			{actionCommand(h, plain, "start", 0), [][]string{{"docker", "start", container}}},
			{actionCommand(h, compose, "start", 0), [][]string{{"cd", directory}, {"docker-compose", "up", "-d", composeService}}},
			{dockerCLI.inspectCommand([]string{container, composeService}), [][]string{{"docker", "inspect", "--type", "container", "-f", inspectFormat, container, composeService}}},
			{commitCommand(compose), [][]string{{"git", "-C", directory, "rev-parse", "HEAD"}}},
			{dockerCLI.healthLogCommand(container), [][]string{{"docker", "inspect", "--type", "container", "-f", anyWord, container}}},
			{groupCommand(restart), [][]string{{"docker", "restart", container}}},
		}
		var script strings.Builder
		var want [][][]string
		for _, c := range cases {
			if strings.ContainsRune(c.cmd, 0) {
				if checkArg(c.cmd) == nil {
					t.Fatalf("a command with a NUL byte was not refused: %q", c.cmd)
				}
				continue
			}
			// A subshell each, since a grouped command ends with exec.
			script.WriteString("(" + c.cmd + "\n)\nrec @@\n")
			want = append(want, c.want)
		}
		if len(newEnvelope().commandLine(h, script.String())) > maxExecArg {
			t.Skip("too long for one command line")
		}
		// The fuzzing processes share the owner's record.
		unlock := flock(t, rec+".lock")
		defer unlock()
		_ = os.Remove(rec)
		res, err := onHost(t, h, script.String(), runOpts{})
		if err != nil || res.Stdout != "" || res.ExitCode != 0 {
			t.Fatalf("exit %d, %v: something other than the recorded programs printed %q %q", res.ExitCode, err, res.Stdout, res.Stderr)
		}
		data, err := os.ReadFile(rec)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		got := recorded(t, data)
		if len(got) != len(want) {
			t.Fatalf("%d commands recorded, want %d: %q", len(got), len(want), got)
		}
		for i := range want {
			if !sameArgv(got[i], want[i]) {
				t.Errorf("command %d ran as %q, want %q", i, got[i], want[i])
			}
		}
	})
}

// flock holds an exclusive lock on path until the returned function is called.
func flock(t *testing.T, path string) func() {
	t.Helper()
	fd, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(fd.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	return func() { _ = fd.Close() }
}

func sameArgv(got, want [][]string) bool {
	return slices.EqualFunc(got, want, func(g, w []string) bool {
		return slices.EqualFunc(g, w, func(a, b string) bool { return b == anyWord || a == b })
	})
}
