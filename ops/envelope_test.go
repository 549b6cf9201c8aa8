package ops

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/opsroom/opsroom/internal/testworld"
)

// TestFramedKeepsExactlyTheCommandsOutput feeds a framed stream in every
// possible split, one byte at a time included: shells' noise before and after
// is dropped, the command's output passes unchanged, the exit code is read.
func TestFramedKeepsExactlyTheCommandsOutput(t *testing.T) {
	e := newEnvelope()
	for _, tc := range []struct{ name, stream, want, noise string }{
		{"chatty", "Welcome to spark\n" + e.begin + "\nout 1\nout 2\n\n" + e.end + " 7\nbye\n", "out 1\nout 2\n", "Welcome to spark\n"},
		{"no newline at the end", "motd" + e.begin + "\npartial\n" + e.end + " 7\n", "partial", "motd"},
		{"empty", e.begin + "\n\n" + e.end + " 7\n", "", ""},
		{"looks like a mark", e.begin + "\n" + e.end[:10] + "x\n\n" + e.end + " 7\n", e.end[:10] + "x\n", ""},
	} {
		for _, size := range []int{1, 2, 5, 1000} {
			var got bytes.Buffer
			f := e.frame(&got)
			for i := 0; i < len(tc.stream); i += size {
				_, _ = f.Write([]byte(tc.stream[i:min(i+size, len(tc.stream))]))
			}
			f.close()
			code, ok := f.exitCode()
			if got.String() != tc.want || !f.began() || !ok || code != 7 || f.printedBefore() != tc.noise {
				t.Errorf("%s in chunks of %d: output %q (want %q), began %v, exit %d %v, noise %q",
					tc.name, size, got.String(), tc.want, f.began(), code, ok, f.printedBefore())
			}
		}
	}
	var got bytes.Buffer
	f := e.frame(&got)
	_, _ = f.Write([]byte(e.begin + "\nkilled mid-line"))
	f.close()
	if got.String() != "killed mid-line" {
		t.Errorf("a stream cut before its end mark passes on all it had: %q", got.String())
	}
}

// TestRunAsRunsAsTheOwnerWithItsLoginEnvironment goes through the real sudo
// -iu and the owner's chatty login shell.
func TestRunAsRunsAsTheOwnerWithItsLoginEnvironment(t *testing.T) {
	h := runAsOwner(t)
	res, err := onHost(t, h, `id -un; echo "$HOME"; id -nG; echo to stderr >&2; exit 7`, runOpts{})
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(res.Stdout, "\n")
	if len(lines) != 4 || lines[0] != testworld.Owner || lines[1] != "/home/"+testworld.Owner || !strings.Contains(" "+lines[2]+" ", " docker ") {
		t.Errorf("stdout %q: want the owner's name, home and groups (docker among them), and nothing the login shells printed", res.Stdout)
	}
	if res.Stderr != "to stderr\n" || res.ExitCode != 7 {
		t.Errorf("stderr %q, exit %d: want exactly the command's stderr and its exit code 7", res.Stderr, res.ExitCode)
	}
}

// TestGroupedCommandRunsThroughRunAs is the bug of a ✅ for nothing: sudo -i
// hands the command to a login shell that expanded $$ and $1 once more, so the
// grouped command ran nothing and exited 0.
func TestGroupedCommandRunsThroughRunAs(t *testing.T) {
	for name, h := range map[string]*HostConfig{"run_as": runAsOwner(t), "direct": direct()} {
		tap := &groupTap{}
		res, err := onHost(t, h, groupCommand(`echo "hi $((6*7))"; echo oops >&2; exit 7`), runOpts{group: tap})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if res.Stdout != "hi 42\n" || res.Stderr != "oops\n" || res.ExitCode != 7 || tap.id() <= 1 {
			t.Errorf("%s: stdout %q, stderr %q, exit %d, group %d: want hi 42, oops, 7 and a group ID", name, res.Stdout, res.Stderr, res.ExitCode, tap.id())
		}
	}
}

// TestHostileValuesArriveVerbatimThroughTheRealWrapper: whatever a value
// holds, the command gets it back as one word, through sudo -i's extra shell too.
func TestHostileValuesArriveVerbatimThroughTheRealWrapper(t *testing.T) {
	values := append(hostile, "$$", "$1", "${1}", "$0 $@ $*", "\\$$")
	var cmd strings.Builder
	var want strings.Builder
	for _, s := range values {
		cmd.WriteString("printf '%s\\0' " + Quote(s) + "\n")
		want.WriteString(s + "\x00")
	}
	for name, h := range map[string]*HostConfig{"run_as": runAsOwner(t), "direct": direct()} {
		for _, grouped := range []bool{false, true} {
			c, o := cmd.String(), runOpts{}
			if grouped {
				c, o = groupCommand(c), runOpts{group: &groupTap{}}
			}
			res, err := onHost(t, h, c, o)
			if err != nil {
				t.Fatalf("%s (grouped %v): %v", name, grouped, err)
			}
			if res.Stdout != want.String() || res.ExitCode != 0 {
				t.Errorf("%s (grouped %v): got %q (exit %d), want %q", name, grouped, res.Stdout, res.ExitCode, want.String())
			}
		}
	}
}

// TestAShellThatEatsTheCommandIsAnError: a login shell that never runs the
// command (its profile exits), or a sudo that refuses, is an error naming
// what it printed, never an empty success.
func TestAShellThatEatsTheCommandIsAnError(t *testing.T) {
	testworld.OwnerWith(t, "svceater", "exit 0")
	for _, runAs := range []string{"svceater", "nobody"} {
		h := &HostConfig{Name: "spark", RunAs: runAs}
		res, err := onHost(t, h, "echo ran", runOpts{})
		var shellErr *ShellError
		if !errors.As(err, &shellErr) {
			t.Fatalf("run_as %s: %+v, %v: want a ShellError", runAs, res, err)
		}
		msg := err.Error()
		if !strings.Contains(msg, `host "spark"`) || !strings.Contains(msg, "did not run the command as expected") {
			t.Errorf("run_as %s: %s", runAs, msg)
		}
		if runAs == "nobody" && !strings.Contains(msg, "sudo") {
			t.Errorf("a refusal by sudo must show sudo's words: %s", msg)
		}
	}
}

// maxWrite records the largest write it got.
type maxWrite struct {
	bytes.Buffer
	most int
}

func (m *maxWrite) Write(p []byte) (int, error) {
	m.most = max(m.most, len(p))
	return m.Buffer.Write(p)
}

func TestFramedReadsASessionsOutputInSmallChunks(t *testing.T) {
	// given a command's output of 100 KiB, as a session's channel gives it
	e := newEnvelope()
	body := strings.Repeat("0123456789abcdef", 100<<10/16)
	stream := e.begin + "\n" + body + "\n" + e.end + " 3\n"
	var got maxWrite
	f := e.frame(&got)

	// when it is copied as x/crypto/ssh copies it (io.Copy, from a reader that is only a reader)
	n, err := io.Copy(f, struct{ io.Reader }{strings.NewReader(stream)})

	// then all of it arrives, never more than readChunk at once
	if err != nil || n != int64(len(stream)) {
		t.Fatalf("copied %d of %d bytes: %v", n, len(stream), err)
	}
	f.close()
	if code, ok := f.exitCode(); got.String() != body || !ok || code != 3 {
		t.Errorf("got %d bytes (exit %d, %v), want the %d of the body, exit 3", got.Len(), code, ok, len(body))
	}
	if got.most > readChunk {
		t.Errorf("a write of %d bytes, want at most %d", got.most, readChunk)
	}
}
