package ops

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
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
// is 128 KiB): a run_as command longer than that cannot be started at all.
const maxExecArg = 120 * 1024

// unwrapRunAs returns the command sudo runs, "bash -lc CMD", without the -l:
// the host's login scripts are no part of how CMD is split into words (and this
// machine's would call the recorder's cd).
func unwrapRunAs(t *testing.T, wrapped string) string {
	t.Helper()
	rest, ok := strings.CutPrefix(wrapped, "sudo -iu 'deploy' bash -lc '")
	if !ok {
		t.Fatalf("run_as wrapping changed shape: %q", wrapped)
	}
	return "bash -c '" + rest
}

// FuzzQuote: whatever a value holds, the shell gets it back as exactly one
// word, unchanged, also through run_as's second layer of quoting; a value the
// shell cannot carry (NUL) is refused before anything runs.
func FuzzQuote(f *testing.F) {
	for _, s := range hostileSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cmd := "printf '%s\\0' " + Quote(s)
		if strings.ContainsRune(s, 0) {
			if checkArg(cmd) == nil {
				t.Fatalf("a command with a NUL byte was not refused: %q", cmd)
			}
			return
		}
		script, want := cmd+"\n", s+"\x00"
		if inner := wrap(&HostConfig{RunAs: "deploy"}, cmd); len(inner) < maxExecArg {
			script += unwrapRunAs(t, inner) + "\n"
			want += s + "\x00"
		}
		if got := string(bashOutput(t, script)); got != want {
			t.Fatalf("Quote(%q) came back from bash as %q, want %q", s, got, want)
		}
	})
}

// anyWord in an expected argument list matches whatever the shell passed.
const anyWord = "\x00any"

// recorder stands in for the programs the recipes call: each call appends its
// argument count and arguments, NUL-separated, to $REC, so the test sees the
// exact argument vectors the shell built. Functions are exported so that the
// shells of run_as and of a process group (setsid) see them too.
const recorder = `rec() { printf '%s\0' "$#" "$@" >>"$REC"; }
docker() { rec docker "$@"; }
docker-compose() { rec docker-compose "$@"; }
git() { rec git "$@"; }
cd() { rec cd "$@"; }
command_not_found_handle() { rec "not found:" "$@"; }
export -f rec docker docker-compose git cd command_not_found_handle
`

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
// fuzzed line count, runs it through a real bash in which docker, git, cd and
// docker-compose only record their arguments, and checks that each value
// arrived as exactly one argument, unchanged, with run_as or without, inside
// a process group or not. A value with a NUL byte is refused before it runs.
func FuzzRecipes(f *testing.F) {
	for i, s := range hostileSeeds {
		f.Add(s, "/srv/"+s, s, i*37-50, i%2 == 0)
	}
	f.Add("bridge-1", "/srv/my bridge", "bridge", 50, true)
	rec := filepath.Join(f.TempDir(), "rec")
	f.Fuzz(func(t *testing.T, container, directory, composeService string, lines int, runAs bool) {
		h := &HostConfig{ComposeCommand: "docker-compose"}
		if runAs {
			h.RunAs = "deploy"
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
			{inspectCommand([]string{container, composeService}), [][]string{{"docker", "inspect", "--type", "container", "-f", inspectFormat, container, composeService}}},
			{commitCommand(compose), [][]string{{"git", "-C", directory, "rev-parse", "HEAD"}}},
			{healthLogCommand(container), [][]string{{"docker", "inspect", "--type", "container", "-f", anyWord, container}}},
			{groupCommand(restart), [][]string{{"docker", "restart", container}}},
		}
		var script strings.Builder
		script.WriteString(recorder)
		var want [][][]string
		for _, c := range cases {
			if strings.ContainsRune(c.cmd, 0) {
				if checkArg(c.cmd) == nil {
					t.Fatalf("a command with a NUL byte was not refused: %q", c.cmd)
				}
				continue
			}
			line := c.cmd
			if runAs {
				if line = wrap(h, c.cmd); len(line) > maxExecArg {
					continue
				}
				line = unwrapRunAs(t, line)
			}
			// A subshell each, since a grouped command ends with exec.
			script.WriteString("(" + line + "\n)\nrec @@\n")
			want = append(want, c.want)
		}
		_ = os.Remove(rec)
		if out := bashOutput(t, script.String(), "REC="+rec); len(out) > 0 {
			t.Fatalf("something other than the recorded programs printed %q", out)
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

func sameArgv(got, want [][]string) bool {
	return slices.EqualFunc(got, want, func(g, w []string) bool {
		return slices.EqualFunc(g, w, func(a, b string) bool { return b == anyWord || a == b })
	})
}
