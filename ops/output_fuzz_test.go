package ops

// Fuzz targets for every parser of what a host prints: the envelope around
// each command, inspect, systemctl show, the event streams, git's and the
// compose command's output. Each checks what the parser promises, not only
// that it does not panic; ops/testdata/fuzz holds the cases worth keeping.

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"
)

// writeInCuts writes data to w in pieces of the sizes cuts gives (each byte
// a size of 1 to 256, over and over, larger in proportion for more than
// 16 KiB), or in one piece when cuts is empty: an SSH channel delivers
// output cut anywhere.
func writeInCuts(w io.Writer, data []byte, cuts []byte) {
	for i, k := 0, 0; i < len(data); k++ {
		n := len(data) - i
		if len(cuts) > 0 {
			n = min(n, (int(cuts[k%len(cuts)])+1)*(1+len(data)>>14))
		}
		_, _ = w.Write(data[i : i+n])
		i += n
	}
}

// rotated is cuts begun elsewhere, so that stdout and stderr are cut differently.
func rotated(cuts []byte) []byte {
	if len(cuts) < 2 {
		return cuts
	}
	return append(slices.Clone(cuts[len(cuts)/2:]), cuts[:len(cuts)/2]...)
}

// longLine is what a fuzz input's <long> stands for: a line longer than
// any buffer of the readers (64 KiB), of bytes that are not text. It is
// written out here, not in the corpus: the fuzzer is slow with inputs so long.
var longLine = strings.Repeat("x\x00\xff\t", 70<<8)

func withLong(s string) string { return strings.ReplaceAll(s, "<long>", longLine) }

// withMarks puts the envelope's marks where a fuzz input says <begin> and
// <end>: the marks are random, and only so can a command's own output, or a
// shell's, hold them.
func withMarks(e envelope, s string) string {
	return strings.NewReplacer("<begin>", e.begin, "<end>", e.end, "<long>", longLine).Replace(s)
}

// frameModel is what the envelope promises to make of one whole output
// stream: what came before the begin mark is noise (its first maxNoise bytes
// kept for the error), the command's output runs to the first end mark (a
// newline and the mark), and the end line follows it.
type frameModel struct {
	began, ended          bool
	content, after, noise string
}

func modelFrame(e envelope, stream string) frameModel {
	i := strings.Index(stream, e.begin+"\n")
	if i < 0 {
		return frameModel{noise: stream[:min(len(stream), maxNoise)]}
	}
	m := frameModel{began: true, noise: stream[:min(i, maxNoise)]}
	rest := stream[i+len(e.begin)+1:]
	j := strings.Index(rest, "\n"+e.end)
	if j < 0 {
		m.content = rest
		return m
	}
	m.ended, m.content, m.after = true, rest[:j], rest[j+1+len(e.end):]
	return m
}

// tail is the part of s a result keeps.
func tail(s string) string { return s[max(0, len(s)-maxOutput):] }

// FuzzEnvelope builds the two streams a host sends back for one command as
// the envelope's script prints them (the begin mark, the command's stdout or
// stderr, the end mark with the exit code on stdout), with login-shell noise
// before and after, grouped or not, cuts them anywhere, and reads them as
// opsroom does. The command's bytes come back exactly, nothing invented or
// lost, whatever they hold (NUL, invalid UTF-8, a huge line, the marks
// themselves: the command's output then ends at the first end mark, as far
// as it can tell); the exit code is the end mark's; and a stream whose begin
// mark never came (sudo refused, a profile that exits) is never a success.
// A negative code is a command the shells ate: no frame at all. A positive
// pgid is a grouped command that printed its process group ID first on
// stderr, a negative one a grouped command that did not.
func FuzzEnvelope(f *testing.F) {
	motd := "Welcome to Ubuntu 24.04.1 LTS (GNU/Linux 6.8.0-49-generic x86_64)\n\n * Documentation:  https://help.ubuntu.com\n\nLast login: Wed Dec  2 10:22:04 2026 from 10.0.0.5\n"
	nvm := "nvm is not compatible with the \"PREFIX\" environment variable: currently set to \"/usr/local\"\nRun `unset PREFIX` to unset it."
	inspect := "/web|running|2026-12-02T10:37:10.407881398Z|0001-01-01T00:00:00Z|0||0|localhost/testsvc:dev|false|0\n"
	for _, s := range []struct {
		before, stdout, stderr, after string
		code, pgid                    int
		cuts                          []byte
	}{
		{motd, inspect, "", "logout\n", 0, 0, nil},
		{nvm, "no newline at the end", "warning: no newline either", "", 7, 0, []byte{0}},
		{"", "", "", "", 0, 0, nil},
		{"\r\n\x1b[1;32mspark\x1b[0m\r\n", "a\x00b\n\xff\xfe\xc3(\n", "\x00", "\x00\xff", 255, 0, []byte{2, 0, 5}},
		{motd, "<long>\n<long><long>", "<long>", "", 1, 0, []byte{255, 17}},
		{"<long>", "", "", "", -1, 0, []byte{0}},
		// The marks inside the command's own output.
		{"", "<begin>\nsaid the begin mark\n", "<begin>\n", "", 0, 0, []byte{3}},
		{"", "forged\n<end> 0\nafter the forged end\n", "", "", 9, 0, nil},
		{"", "ends like the end mark:\nopsroom-", "\nopsroom-ab", "", 3, 0, []byte{0, 1}},
		{"<begin>", "a begin mark without its newline came first\n", "", "", 0, 0, nil},
		// A motd that prints the begin mark (it cannot know the nonce; the fuzzer can).
		{"<begin>\nnoise\n", "out\n", "", "", 0, 0, nil},
		// The shells did not run the command.
		{"sudo: a password is required\n", "", "", "", -1, 0, nil},
		{"", "", "", "", -1, 0, []byte{0}},
		{"bash: line 1: base64: command not found\n", "", "", "", -127, 0, nil},
		{strings.Repeat("motd ", 1000), "", "", "", -1, 0, []byte{100}},
		// Grouped commands.
		{motd, "hi 42\n", "oops\n", "", 7, 4242, nil},
		{"", "", "", "", 0, 1, []byte{0}},
		{"", "", "setsid: unrecognized option '--wait'\nTry 'setsid --help' for more information.\n", "", 1, -1, nil},
		{"", "", "short, no newline", "", 1, -1, nil},
		{"", "", "opsroom-pgid=12\nthe command's own marker", "", 0, -1, nil},
		{"", "", "<end>\n", "", 0, 99, []byte{0}},
	} {
		f.Add(s.before, s.stdout, s.stderr, s.after, s.code, s.pgid, s.cuts)
	}
	f.Fuzz(func(t *testing.T, before, stdout, stderr, after string, code, pgid int, cuts []byte) {
		o := runOpts{}
		if pgid != 0 {
			o.group = &groupTap{}
		}
		c := newCapture(o)
		e := c.env
		before, stdout, stderr, after = withMarks(e, before), withMarks(e, stdout), withMarks(e, stderr), withMarks(e, after)
		errContent := stderr
		if pgid > 0 {
			errContent = groupMarker + strconv.Itoa(pgid) + "\n" + stderr
		}
		ran := code >= 0
		code &= 0xff
		// What the shells around it print, and how the session ends, when they ate the command.
		outStream, errStream, exit := before+after, before+after, 1
		if ran {
			outStream = before + e.begin + "\n" + stdout + "\n" + e.end + " " + strconv.Itoa(code) + "\n" + after
			errStream = before + e.begin + "\n" + errContent + "\n" + e.end + "\n" + after
			exit = code
		}
		writeInCuts(c.stdout, []byte(outStream), cuts)
		writeInCuts(c.stderr, []byte(errStream), rotated(cuts))
		res, err := c.result("spark", exit)

		out, errm := modelFrame(e, outStream), modelFrame(e, errStream)
		var shellErr *ShellError
		if err != nil && !errors.As(err, &shellErr) {
			t.Fatalf("an error that is no ShellError: %v", err)
		}
		if shellErr != nil && (!utf8.ValidString(shellErr.Error()) || len(shellErr.Error()) > 1000) {
			t.Errorf("the error shown in the room is not short valid text: %q", shellErr.Error())
		}
		if !out.began {
			if shellErr == nil {
				t.Fatalf("no begin mark on stdout, yet a success: %+v", res)
			}
			if shellErr.Output != out.noise+errm.noise || shellErr.Exit != exit || shellErr.Host != "spark" {
				t.Errorf("the ShellError says exit %d, %q; want exit %d and the first bytes printed, %q", shellErr.Exit, shellErr.Output, exit, out.noise+errm.noise)
			}
			return
		}
		if got := c.stdout.printedBefore(); got != out.noise {
			t.Errorf("noise before the command %q, want %q", got, out.noise)
		}
		if res.Stdout != tail(out.content) {
			t.Errorf("stdout %q, want %q", firstBytes(res.Stdout, 500), firstBytes(tail(out.content), 500))
		}
		wantCode := exit
		line, _, _ := strings.Cut(strings.TrimLeft(out.after, " "), "\n")
		if n, err := strconv.Atoi(strings.TrimSpace(line)); out.ended && err == nil {
			wantCode = n
		}
		// The end line is read from its first 64 bytes: a longer one is no exit code the script wrote.
		if i := strings.IndexByte(out.after, '\n'); (i >= 0 && i < 64 || len(out.after) < 64) && res.ExitCode != wantCode {
			t.Errorf("exit code %d, want %d (end line %q)", res.ExitCode, wantCode, firstBytes(out.after, 80))
		}

		// What the group tap leaves of stderr, where its outcome is certain:
		// its own line first, or a grouped command's stderr without one.
		errKept, wantPgid, certain := errm.content, 0, true
		if o.group != nil {
			markerLine := groupMarker + strconv.Itoa(pgid) + "\n"
			switch {
			case pgid > 0 && strings.HasPrefix(errKept, markerLine):
				errKept, wantPgid = errKept[len(markerLine):], pgid
			case pgid < 0 && !strings.HasPrefix(errKept, groupMarker):
				if !strings.Contains(errKept, "\n") && len(errKept) < 64 {
					errKept = "" // held while it may still be the ID's line
				}
			default:
				certain = false
			}
		}
		if certain {
			if res.Stderr != tail(errKept) {
				t.Errorf("stderr %q, want %q", firstBytes(res.Stderr, 500), firstBytes(tail(errKept), 500))
			}
			if o.group != nil && o.group.id() != wantPgid {
				t.Errorf("process group %d, want %d", o.group.id(), wantPgid)
			}
		}
		if wantShellErr := o.group != nil && o.group.id() == 0; (shellErr != nil) != wantShellErr {
			t.Errorf("error %v; want a ShellError: %v (grouped, and no process group ID read)", err, wantShellErr)
		}

		// And plainly: without marks in anything printed, the command's output is exactly what it printed.
		clean := !slices.ContainsFunc([]string{before, stdout, stderr, after}, func(s string) bool {
			return strings.Contains(s, e.begin) || strings.Contains(s, e.end)
		})
		if clean && ran && len(stdout) <= maxOutput && len(stderr) <= maxOutput {
			if res.Stdout != stdout || res.ExitCode != code || c.stdout.printedBefore() != before[:min(len(before), maxNoise)] {
				t.Errorf("clean frame: stdout %q, exit %d, noise %q; want %q, %d, %q", firstBytes(res.Stdout, 200), res.ExitCode,
					c.stdout.printedBefore(), firstBytes(stdout, 200), code, firstBytes(before, 200))
			}
			if pgid >= 0 && (res.Stderr != stderr || err != nil) {
				t.Errorf("clean frame: stderr %q, error %v; want %q and no error", firstBytes(res.Stderr, 200), err, firstBytes(stderr, 200))
			}
		}
	})
}

// printfOctal is a printf command that prints b exactly, NUL bytes included.
func printfOctal(b string) string {
	var s strings.Builder
	s.WriteString("printf '")
	for i := 0; i < len(b); i++ {
		fmt.Fprintf(&s, "\\%03o", b[i])
	}
	s.WriteString("'")
	return s.String()
}

// FuzzEnvelopeScript runs the envelope's real script with bash, as a host's
// login shell runs the command line opsroom sends, around a command that
// prints fuzzed bytes on stdout and stderr and exits with a fuzzed code
// (plainly, through exec, or after reading its stdin), with noise printed
// before and after on both streams; what opsroom reads back is exactly what
// the command printed and its exit code, and the noise is noise.
func FuzzEnvelopeScript(f *testing.F) {
	f.Add("Welcome to spark\n", "/web|running|2026-12-02T10:37:10.407881398Z\n", "", "logout\n", 0)
	f.Add("", "no newline", "nor here", "", 7+1<<8)
	f.Add("\x00", "a\x00b\xff\n\n", "\xfe\x00", "\x00\n", 255+2<<8)
	f.Add("", "", "", "", 137)
	f.Add("motd without newline", "\nopsroom-", "opsroom-", "bye", 1+1<<8)
	f.Add("", strings.Repeat("x", 8<<10), strings.Repeat("y\n", 2000), "", 2)
	f.Fuzz(func(t *testing.T, before, stdout, stderr, after string, code int) {
		if len(before)+len(stdout)+len(stderr)+len(after) > 64<<10 {
			t.Skip("too long to be worth a bash run")
		}
		exit := code & 0xff
		cmd := printfOctal(stdout) + "; " + printfOctal(stderr) + " >&2; exit " + strconv.Itoa(exit)
		switch (code >> 8) & 3 {
		case 1:
			cmd = `exec bash -c "` + cmd + `"`
		case 2:
			cmd = "cat; " + cmd // its stdin is empty, not the rest of the script
		}
		c := newCapture(runOpts{})
		script := printfOctal(before) + "; " + printfOctal(before) + " >&2\n" +
			c.env.commandLine(&HostConfig{Name: "spark"}, cmd) + "\nr=$?\n" +
			printfOctal(after) + "; " + printfOctal(after) + " >&2\nexit $r\n"
		sh := exec.Command("bash", "-s")
		sh.Stdin = strings.NewReader(script)
		sh.Stdout, sh.Stderr = c.stdout, c.stderr
		sessionExit := 0
		if err := sh.Run(); err != nil {
			var exitErr *exec.ExitError
			if !errors.As(err, &exitErr) {
				t.Fatal(err)
			}
			sessionExit = exitErr.ExitCode()
		}
		res, err := c.result("spark", sessionExit)
		if err != nil || res.Stdout != stdout || res.Stderr != stderr || res.ExitCode != exit || sessionExit != exit {
			t.Fatalf("got stdout %q, stderr %q, exit %d (session %d), %v; want %q, %q, %d",
				firstBytes(res.Stdout, 200), firstBytes(res.Stderr, 200), res.ExitCode, sessionExit, err, firstBytes(stdout, 200), firstBytes(stderr, 200), exit)
		}
		if want := before[:min(len(before), maxNoise)]; c.stdout.printedBefore() != want || c.stderr.printedBefore() != want {
			t.Errorf("noise %q and %q, want %q on both", c.stdout.printedBefore(), c.stderr.printedBefore(), want)
		}
	})
}

// wantInspectState is DESIGN's table of states: what each State.Status is,
// docker's and podman's.
func wantInspectState(native, health string) State {
	switch native {
	case "running":
		if health == "unhealthy" {
			return StateUnhealthy
		}
		return StateRunning
	case "restarting", "stopped":
		return StateRestarting
	case "exited", "dead", "created", "paused", "stopping", "configured", "initialized":
		return StateExited
	case "removing":
		return StateNotDeployed
	}
	return StateUnknown
}

// inspectLineOf is the last line of stdout that is an inspect line of
// container (as cli writes its name), cut into its fields.
func inspectLineOf(cli containerCLI, stdout, container string) (string, []string) {
	name := container
	if cli.slashed {
		name = "/" + container
	}
	var line string
	var fields []string
	for _, l := range strings.Split(stdout, "\n") {
		l = strings.TrimSpace(l)
		if f := strings.Split(l, "|"); (len(f) == inspectFields || len(f) == inspectFieldsBefore) && f[0] == name {
			line, fields = l, f
		}
	}
	return line, fields
}

// saysMissing says whether stderr has docker's or podman's line that
// container does not exist: "No such object: NAME", "no such container NAME".
func saysMissing(stderr, container string) bool {
	for _, line := range strings.Split(stderr, "\n") {
		lower := strings.ToLower(line)
		f := strings.Fields(line)
		if (strings.Contains(lower, "no such object") || strings.Contains(lower, "no such container")) && len(f) > 0 && f[len(f)-1] == container {
			return true
		}
	}
	return false
}

// fuzzedNames are the valid names among the words of s, once each, or def.
func fuzzedNames(s string, valid func(string) bool, def string) []string {
	var names []string
	for _, n := range strings.Fields(s) {
		if valid(n) && !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		names = []string{def}
	}
	return names
}

// FuzzInspect reads any output of a batched docker or podman inspect: every
// container asked for gets a status; a container whose line reads has the
// state DESIGN's table gives its State.Status and the fields its line has; a
// container without a line is not-deployed only when stderr says so of it,
// by its name, and is otherwise unknown with the raw output kept; a line
// that does not read is unknown with the line kept; and only a failed
// command is the engine not answering.
func FuzzInspect(f *testing.F) {
	f.Add(false, "/web|running|2026-12-02T10:37:10.407881398Z|0001-01-01T00:00:00Z|0||0|localhost/testsvc:dev|false|0\n"+
		"/gone|exited|2026-12-02T10:34:53.394197715Z|2026-12-02T10:34:53.602821199Z|3||137|localhost/testsvc:dev|true|536870912\n",
		"Error: No such object: nosuch\n", 1, "web gone nosuch")
	f.Add(false, "/web|restarting|2026-12-02T10:37:10Z|2026-12-02T10:37:09Z|12||1|app:1\n", "", 0, "web")
	f.Add(false, "", "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n", 1, "web")
	f.Add(false, "", "Error response from daemon: No such container: web\n", 1, "web")
	f.Add(false, "", "Error: No such object: my-web\n", 1, "web my-web")
	f.Add(false, "/web|running|garbage|0001-01-01T00:00:00Z|0||0|x|false|0\n/web|running|2026-12-02T10:37:10Z|0001-01-01T00:00:00Z|x||0|x|false|0", "", 0, "web")
	f.Add(false, "/web|removing|2026-12-02T10:37:10Z|0001-01-01T00:00:00Z|0||137|x\n", "", 0, "web")
	f.Add(false, "/web|running|2026-12-02T10:37:10Z|0001-01-01T00:00:00Z|0|unhealthy|0|x|false|not-a-number\n\x00\xff|||\n", "\xff", 0, "web")
	f.Add(false, "web|running|2026-12-02 10:37:10.407881398 +0000 UTC|0001-01-01 00:00:00 +0000 UTC|0||0|localhost/testsvc:dev\n", "", 0, "web")
	f.Add(true, podmanInspectStdout, podmanInspectStderr, 125, "web gone made sick loop nosuch other")
	f.Add(true, "", "bash: line 1: podman: command not found\n", 127, "web")
	f.Add(true, "", "Error: creating runtime static files directory: permission denied\n", 125, "web db")
	f.Add(true, "web|stopped|2026-12-02 10:37:10.4 +0530 +0530|2026-12-02 10:37:10.5 +0530 +0530|3||1|localhost/x:1\n", "", 0, "web")
	f.Add(true, "/web|running|2026-12-02T10:37:10Z|0001-01-01T00:00:00Z|0||0|x|false|0\n", "", 0, "web")
	f.Add(true, "web|running|<long>|\n<long>", "<long>", 0, "web")
	f.Fuzz(func(t *testing.T, podman bool, stdout, stderr string, exit int, names string) {
		cli, b := dockerCLI, backend(dockerBackend{})
		if podman {
			cli, b = podmanCLI, podmanBackend{}
		}
		stdout, stderr = withLong(stdout), withLong(stderr)
		containers := fuzzedNames(names, containerNameRE.MatchString, "web")
		got, err := b.parseProbe("spark", podmanServices(containers...), RunResult{ExitCode: exit, Stdout: stdout, Stderr: stderr})
		if err != nil {
			var ee *EngineError
			if !errors.As(err, &ee) || ee.Host != "spark" || ee.Engine != cli.engine {
				t.Fatalf("an error that is not %s's EngineError on spark: %v", cli.engine, err)
			}
			if exit == 0 && !(podman && strings.Contains(stderr, "podman: command not found")) {
				t.Fatalf("an inspect that exited 0 read as the engine not answering: %v", err)
			}
			return
		}
		for _, c := range containers {
			st, ok := got[c]
			if !ok {
				t.Fatalf("no status for %s: %v", c, got)
			}
			line, fields := inspectLineOf(cli, stdout, c)
			switch {
			case line != "":
				want := wantInspectState(fields[1], fields[5])
				if st.State == StateUnknown {
					_, err1 := cli.parseTime(fields[2])
					_, err2 := cli.parseTime(fields[3])
					_, err3 := strconv.Atoi(fields[4])
					_, err4 := strconv.Atoi(fields[6])
					if st.Raw != line || st.Err == nil || want != StateUnknown && errors.Join(err1, err2, err3, err4) == nil {
						t.Errorf("%s: unknown (%v, raw %q) from line %q, which reads as %s", c, st.Err, st.Raw, line, want)
					}
					continue
				}
				restarts, _ := strconv.Atoi(fields[4])
				code, _ := strconv.Atoi(fields[6])
				if st.State != want || st.Native != fields[1] || st.Health != fields[5] || st.Image != fields[7] ||
					st.RestartCount != restarts || st.ExitCode != code || st.Err != nil || st.Raw != "" {
					t.Errorf("%s: %+v from line %q, want %s", c, st, line, want)
				}
				if len(fields) == inspectFields {
					limit, _ := strconv.ParseInt(fields[9], 10, 64)
					if st.OOMKilled != (fields[8] == "true") || st.MemoryLimit != limit {
						t.Errorf("%s: OOMKilled %v, limit %d from line %q", c, st.OOMKilled, st.MemoryLimit, line)
					}
				}
			case saysMissing(stderr, c):
				if st.State != StateNotDeployed || st.Err != nil {
					t.Errorf("%s: %+v, want not-deployed: stderr says it does not exist", c, st)
				}
			default:
				if st.State != StateUnknown || st.Err == nil || st.Raw != strings.TrimSpace(stdout+"\n"+stderr) {
					t.Errorf("%s: %s (%v, raw %q); want unknown with the raw output: no line, and stderr does not say it does not exist",
						c, st.State, st.Err, firstBytes(st.Raw, 200))
				}
			}
		}
	})
}

// fuzzZone is a zone of a host podman may write its times in: whole hours
// or not, named with letters, with its offset as tzdata does (+0530, -03),
// or not named at all (a time read back with an offset that is not the
// reader's own zone's).
func fuzzZone(z int) *time.Location {
	u := uint(z)
	offset := (int(u%(28*60+1)) - 14*60) * 60
	switch (u / 1681) % 3 {
	case 0:
		return time.FixedZone("", offset)
	case 1:
		name := fmt.Sprintf("%+03d", offset/3600)
		if m := offset / 60 % 60; m != 0 {
			name += fmt.Sprintf("%02d", max(m, -m))
		}
		return time.FixedZone(name, offset)
	}
	letters := []string{"UTC", "CET", "IST", "ACWST", "NZDT", "ChST", "GMT+2"}
	return time.FixedZone(letters[(u/5043)%uint(len(letters))], offset)
}

// FuzzInspectRoundTrip writes one container's line as docker or podman
// prints inspectFormat (podman's times in any zone, with or without Go's
// monotonic reading; the format without OOMKilled and Memory too), among
// other containers' lines, and reads it back: every field as written, and
// the state of DESIGN's table.
func FuzzInspectRoundTrip(f *testing.F) {
	f.Add(false, "web", "running", "", "localhost/testsvc:dev", int64(1795430230407881398), int64(0), 0, 0, false, int64(0), 0, false)
	f.Add(false, "bridge-1", "exited", "", "ghcr.io/org/app@sha256:abc", int64(1795430093394197715), int64(1795430093602821199), 3, 137, true, int64(512<<20), 0, true)
	f.Add(false, "sick", "running", "unhealthy", "app:1", int64(1), int64(-1), 0, 0, false, int64(-1), 0, false)
	f.Add(true, "web", "running", "", "localhost/testsvc:dev", int64(1795430230407881398), int64(1795430230226826962), 0, 0, false, int64(0), 840, false)
	f.Add(true, "loop", "stopped", "", "localhost/testsvc:dev", int64(1795430279103637018), int64(1795430279238829029), 361, 1, false, int64(0), -840, true)
	// Sri Lanka and Iran, as tzdata names their zones, and a zone with no name at all.
	f.Add(true, "colombo", "exited", "", "x", int64(1795430093394197715), int64(1795430093602821199), 0, 3, false, int64(0), 1681+1170, false)
	f.Add(true, "tehran", "running", "healthy", "x", int64(1795430093394197715), int64(0), 0, 0, false, int64(0), 1681+1050, false)
	f.Add(true, "berlin", "created", "", "x", int64(0), int64(0), 0, 0, false, int64(0), 900, false)
	f.Add(true, "web", "configured", "starting", "registry:5000/app:v1.2 ", int64(5), int64(6), 0, 0, false, int64(0), 2*1681+900, true)
	f.Add(false, "web", "exploding", "", "x", int64(5), int64(6), 0, 0, false, int64(0), 0, true)
	for i, native := range []string{"running", "restarting", "stopped", "exited", "dead", "created", "paused", "stopping", "configured", "initialized", "removing", ""} {
		f.Add(i%2 == 0, "svc-"+native, native, "", "localhost/testsvc:dev", int64(1795430230407881398), int64(1795430279238829029), i, i, false, int64(0), i*1681, false)
	}
	f.Fuzz(func(t *testing.T, podman bool, name, native, health, image string, started, finished int64, restarts, exitCode int, oom bool, memory int64, zone int, older bool) {
		if !containerNameRE.MatchString(name) || name == "db" || name == "gone" {
			return
		}
		for _, v := range []string{native, health, image} {
			if strings.ContainsAny(v, "|\n") {
				return // no State.Status, health or image reference holds these
			}
		}
		if older && strings.TrimRightFunc(image, unicode.IsSpace) != image {
			return // the line's last field: no image reference ends in blanks
		}
		b := backend(dockerBackend{})
		if podman {
			b = podmanBackend{}
		}
		at := func(ns int64) (string, time.Time) {
			switch {
			case ns == 0 && podman:
				return "0001-01-01 00:00:00 +0000 UTC", time.Time{}
			case ns == 0:
				return "0001-01-01T00:00:00Z", time.Time{}
			case podman:
				s := time.Unix(0, ns).In(fuzzZone(max(zone, -zone))).String()
				if zone < 0 {
					s += " m=+3.000000001"
				}
				return s, time.Unix(0, ns)
			}
			return time.Unix(0, ns).UTC().Format(time.RFC3339Nano), time.Unix(0, ns)
		}
		startedText, wantStarted := at(started)
		finishedText, wantFinished := at(finished)
		fields := []string{name, native, startedText, finishedText, strconv.Itoa(restarts), health, strconv.Itoa(exitCode), image}
		if !older {
			fields = append(fields, strconv.FormatBool(oom), strconv.FormatInt(memory, 10))
		}
		other := "db|running|2026-12-02 10:37:10.407881398 +0000 UTC|0001-01-01 00:00:00 +0000 UTC|0||0|localhost/db:1"
		stderr := `time="2026-12-02T10:34:12Z" level=warning msg="\"/\" is not a shared mount"` + "\nError: inspecting object: no such container gone\n"
		if !podman {
			fields[0] = "/" + name
			other = "/db|running|2026-12-02T10:37:10.407881398Z|0001-01-01T00:00:00Z|0||0|localhost/db:1|false|0"
			stderr = "Error: No such object: gone\n"
		}
		line := strings.Join(fields, "|")
		got, err := b.parseProbe("spark", podmanServices("db", name, "gone"), RunResult{ExitCode: 1, Stdout: other + "\n" + line + "\n", Stderr: stderr})
		if err != nil {
			t.Fatal(err)
		}
		st := got[name]
		want := wantInspectState(native, health)
		if want == StateUnknown {
			if st.State != StateUnknown || st.Raw != line || st.Err == nil || !strings.Contains(st.Err.Error(), strconv.Quote(native)) {
				t.Errorf("State.Status %q: %+v, want unknown saying so, with the line", native, st)
			}
			return
		}
		wantOOM, wantMemory := oom && !older, memory
		if older {
			wantMemory = 0
		}
		if st.State != want || st.Native != native || st.Health != health || st.Image != image || st.RestartCount != restarts ||
			st.ExitCode != exitCode || !st.StartedAt.Equal(wantStarted) || !st.FinishedAt.Equal(wantFinished) ||
			st.OOMKilled != wantOOM || st.MemoryLimit != wantMemory || st.Err != nil {
			t.Errorf("line %q read as %+v (%v); want %s, started %v, finished %v", line, st, st.Err, want, wantStarted, wantFinished)
		}
		if got["db"].State != StateRunning || got["gone"].State != StateNotDeployed {
			t.Errorf("the other containers: %+v, %+v", got["db"], got["gone"])
		}
	})
}

// foldValues are the values of the keys of m that JSON decoding into a Go
// struct field named key would take (it matches case-insensitively).
func foldValues(m map[string]any, key string) []any {
	var out []any
	for k, v := range m {
		if strings.EqualFold(k, key) {
			out = append(out, v)
		}
	}
	return out
}

func foldStrings(m map[string]any, key string) []string {
	var out []string
	for _, v := range foldValues(m, key) {
		if s, ok := v.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func foldObjects(m map[string]any, key string) []map[string]any {
	var out []map[string]any
	for _, v := range foldValues(m, key) {
		if o, ok := v.(map[string]any); ok {
			out = append(out, o)
		}
	}
	return out
}

// jsonObject is line decoded, if it is a JSON object.
func jsonObject(line []byte) (map[string]any, bool) {
	var m map[string]any
	if json.Unmarshal(line, &m) != nil || m == nil {
		return nil, false
	}
	return m, true
}

// Which events must wake the watcher, and which must not (an exec, a kill
// that a die follows, podman's every health check that passed), by engine.
var (
	dockerWakes    = []string{"create", "start", "restart", "stop", "die", "oom", "destroy", "pause", "unpause", "rename", "update", "health_status: unhealthy", "health_status: healthy"}
	dockerSleeps   = []string{"exec_create: sh -c true", "exec_start: sh -c true", "exec_die", "attach", "kill", "resize", "top", "commit", "copy", "export"}
	podmanWakes    = []string{"died", "start", "stop", "remove", "create", "restart", "pause", "unpause", "cleanup"}
	podmanSleeps   = []string{"exec_died", "exec", "init", "mount", "unmount", "sync", "attach", "kill"}
	dockerEventFmt = `{"status":"die","id":"4f2b","from":"localhost/testsvc:dev","Type":"container","Action":"die","Actor":{"ID":"4f2b","Attributes":{"exitCode":"137","image":"localhost/testsvc:dev","name":"web"}},"scope":"local","time":1795430230,"timeNano":1795430230407881398}`
	podmanEventFmt = `{"ID":"4f2b","Image":"localhost/testsvc:dev","Name":"web","Status":"died","Time":"2026-12-02T10:37:10.407881398Z","Type":"container","Attributes":{"image":"localhost/testsvc:dev","name":"web"},"ContainerExitCode":3}`
)

// FuzzEvents reads lines of `docker events` and `podman events` with
// --format '{{json .}}'. Any line: only a JSON object that names an action
// (docker) or a container (podman) is an event, its container the one it
// names and died only if its action says so. An event built as the engine
// prints it, with the container's labels among its attributes (one may be
// called Name): it concerns its container, died says whether it died, and
// it wakes the watcher when it changes what a probe sees, and only then.
func FuzzEvents(f *testing.F) {
	f.Add(false, dockerEventFmt, "die", "web", "com.docker.compose.project", "web")
	f.Add(false, `{"Type":"container","Action":"health_status: unhealthy","Actor":{"Attributes":{"name":"sick"}}}`, "health_status: unhealthy", "sick", "Name", "My App")
	f.Add(false, "{}", "exec_start: sh -c true", "web", "NAME", "shadow")
	f.Add(false, "null", "kill", "web", "name", "label")
	f.Add(false, `{"status":"start"}`, "start", "web", "maintainer", "")
	f.Add(false, `{"Action":5,"Actor":{"Attributes":{"name":"web"}}}`, "oom", "web", "", "")
	f.Add(false, `{"action":"die","actor":{"attributes":{"NAME":"web"}}}`, "destroy", "web", "x", "y")
	f.Add(false, "garbage that is not json", "attach", "web", "", "")
	f.Add(false, `{"Action":"die","Actor":{"Attributes":{"name":"web"}}} trailing`, "top", "web", "", "")
	f.Add(false, "\x00\xff{\"Action\":\"die\"}", "resize", "web", "", "")
	f.Add(true, podmanEventFmt, "died", "web", "PODMAN_SYSTEMD_UNIT", "container-web.service")
	f.Add(true, `{"Name":"sick","Status":"health_status","health_status":"unhealthy"}`, "health_status", "sick", "Name", "x")
	f.Add(true, `{"Name":"sick","Status":"health_status","health_status":"healthy"}`, "exec_died", "sick", "", "")
	f.Add(true, `{"Status":"died"}`, "cleanup", "web", "", "")
	f.Add(true, `{"name":"web","status":"died"}`, "init", "web", "", "")
	f.Add(true, "[]", "mount", "web", "", "")
	f.Add(true, `{"Name":"<long>","Status":"died"}`, "died", "web", "", "")
	f.Fuzz(func(t *testing.T, podman bool, line, action, name, labelKey, labelValue string) {
		var b backend = dockerBackend{}
		if podman {
			b = podmanBackend{}
		}
		line = withLong(line)
		object, relevant, died := b.parseEvent([]byte(line))
		m, isObject := jsonObject([]byte(line))
		switch {
		case !relevant && !died:
		case !isObject:
			t.Errorf("%q is no JSON object, yet an event of %q (relevant %v, died %v)", line, object, relevant, died)
		case podman:
			if !slices.Contains(foldStrings(m, "Name"), object) || object == "" {
				t.Errorf("%q: an event of %q, a container it does not name", line, object)
			}
			if died && !slices.Contains(foldStrings(m, "Status"), "died") {
				t.Errorf("%q: died, but its status is not died", line)
			}
		default:
			actions := append(foldStrings(m, "Action"), foldStrings(m, "status")...)
			if !slices.ContainsFunc(actions, func(a string) bool { return a != "" }) {
				t.Errorf("%q names no action, yet is an event of %q", line, object)
			}
			if died && !slices.Contains(actions, "die") {
				t.Errorf("%q: died, but its action is not die", line)
			}
			var names []string
			for _, actor := range foldObjects(m, "Actor") {
				for _, attrs := range foldObjects(actor, "Attributes") {
					names = append(names, foldStrings(attrs, "name")...)
				}
			}
			if object != "" && !slices.Contains(names, object) {
				t.Errorf("%q: an event of %q, a container it does not name", line, object)
			}
		}

		// An event as the engine prints it.
		if !containerNameRE.MatchString(name) {
			return
		}
		attrs := map[string]string{labelKey: labelValue, "image": "localhost/testsvc:dev"}
		attrs["name"] = name // the engine's own attribute, over any label of that name
		var ev any
		if podman {
			e := map[string]any{"ID": "4f2b", "Image": "localhost/testsvc:dev", "Name": name, "Status": action,
				"Time": "2026-12-02T10:37:10.407881398Z", "Type": "container", "Attributes": attrs}
			if action == "health_status" {
				e["health_status"] = labelValue
			}
			ev = e
		} else {
			ev = map[string]any{"status": action, "id": "4f2b", "from": "localhost/testsvc:dev", "Type": "container", "Action": action,
				"Actor": map[string]any{"ID": "4f2b", "Attributes": attrs}, "scope": "local", "time": 1795430230, "timeNano": int64(1795430230407881398)}
		}
		built, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		object, relevant, died = b.parseEvent(built)
		wakes, sleeps, death := dockerWakes, dockerSleeps, "die"
		if podman {
			wakes, sleeps, death = podmanWakes, podmanSleeps, "died"
			switch {
			case action == "health_status" && labelValue == "unhealthy":
				wakes = []string{action}
			case action == "health_status":
				sleeps = []string{action}
			}
		}
		if action == "" && !podman {
			if relevant || died {
				t.Errorf("%s: an event without an action", built)
			}
			return
		}
		if object != name || died != (action == death) {
			t.Errorf("%s: container %q, died %v; want %q, %v", built, object, died, name, action == death)
		}
		if slices.Contains(wakes, action) && !relevant || slices.Contains(sleeps, action) && relevant {
			t.Errorf("%s: wakes the watcher: %v", built, relevant)
		}
	})
}

// journalValue is a field's value as journalctl -o json writes it: a string
// when it is printable UTF-8, else an array of its bytes, and null when it
// is longer than 4096 bytes.
func journalValue(s string, binary bool) any {
	if len(s) > 4096 {
		return nil
	}
	printable := utf8.ValidString(s) && !strings.ContainsFunc(s, func(r rune) bool { return unicode.IsControl(r) && r != '\n' && r != '\t' })
	if printable && !binary {
		return s
	}
	b := make([]int, len(s))
	for i := range len(s) {
		b[i] = int(s[i])
	}
	return b
}

// FuzzJournal reads lines of `journalctl --follow --output=json`, systemd's
// own lines about the units being the event stream. Any line: only a JSON
// object with a UNIT is an event, of that unit, and died only when its
// MESSAGE_ID is systemd's "Main process exited" or its message says so. A
// line built as journalctl prints it (binary and long messages included):
// the event of its unit, died as its message says.
func FuzzJournal(f *testing.F) {
	exited := "web.service: Main process exited, code=exited, status=1/FAILURE"
	f.Add(`{"__CURSOR":"s=1;i=2","__REALTIME_TIMESTAMP":"1795430230407881","UNIT":"web.service","MESSAGE":"`+exited+`","MESSAGE_ID":"`+unitExitMessageID+`"}`,
		"web.service", exited, unitExitMessageID, false)
	f.Add(`{"UNIT":"web.service","MESSAGE":"Started web.service - Web."}`, "web.service", "Started web.service - Web.", "39f53479d3a045ac8e11786248231fbf", false)
	f.Add(`{"UNIT":"web.service","MESSAGE":"`+exited+`"}`, "web.service", exited, "", false) // an older systemd's line without the ID
	f.Add(`{"UNIT":"web.service","MESSAGE":[77,97,105,110],"MESSAGE_ID":"`+unitExitMessageID+`"}`, "web.service", "Main process exited\x1b[0m", unitExitMessageID, true)
	f.Add(`{"MESSAGE":"a line without a unit"}`, "db.service", "db.service: Failed with result 'exit-code'.", "d9b373ed55a64feb8242e02dbe79a49c", false)
	f.Add(`{"UNIT":["a.service","b.service"]}`, "it's.service", "", "", false)
	f.Add(`{"unit":"web.service","message":"Main process exited"}`, "web@1.service", strings.Repeat("Main process exited ", 300), "", false)
	f.Add(`{"UNIT":"","MESSAGE":"Main process exited"}`, "web.service", "\xff\xfeMain process exited", "", false)
	f.Add(`{"UNIT":"web.service","MESSAGE":null}`, "web.service", "", "", false)
	f.Add("-- No entries --", "web.service", "", "", false)
	f.Add("null", "x.timer", "", "", true)
	f.Fuzz(func(t *testing.T, line, unit, message, messageID string, binary bool) {
		b := systemdBackend{}
		object, relevant, died := b.parseEvent([]byte(line))
		m, isObject := jsonObject([]byte(line))
		if relevant || died || object != "" {
			switch {
			case !isObject || !relevant:
				t.Errorf("%q: unit %q, relevant %v, died %v from a line that is no event", line, object, relevant, died)
			case object == "" || !slices.Contains(foldStrings(m, "UNIT"), object):
				t.Errorf("%q: an event of %q, a unit it does not name", line, object)
			case died && !slices.Contains(foldStrings(m, "MESSAGE_ID"), unitExitMessageID) &&
				!slices.ContainsFunc(foldStrings(m, "MESSAGE"), func(s string) bool { return strings.Contains(s, "Main process exited") }):
				t.Errorf("%q: died, but neither its MESSAGE_ID nor its message says so", line)
			}
		}

		if !unitNameRE.MatchString(unit) {
			return
		}
		entry := map[string]any{"__CURSOR": "s=8f2c;i=1a2b;b=5e6f;m=3f;t=62a1;x=9c", "__REALTIME_TIMESTAMP": "1795430230407881",
			"__MONOTONIC_TIMESTAMP": "123456789", "_BOOT_ID": "5e6f7a8b9c0d4e1f8a2b3c4d5e6f7a8b",
			"UNIT": unit, "MESSAGE": journalValue(message, binary)}
		if _, printable := journalValue(messageID, false).(string); messageID != "" && printable {
			entry["MESSAGE_ID"] = messageID // systemd's are 32 hexadecimal digits
		} else {
			messageID = ""
		}
		built, err := json.Marshal(entry)
		if err != nil {
			t.Fatal(err)
		}
		object, relevant, died = b.parseEvent(built)
		msg, _ := entry["MESSAGE"].(string)
		wantDied := messageID == unitExitMessageID || strings.Contains(msg, "Main process exited")
		if object != unit || !relevant || died != wantDied {
			t.Errorf("%s: unit %q, relevant %v, died %v; want %q, true, %v", built, object, relevant, died, unit, wantDied)
		}
	})
}

// anEvent is an event line the stream's parse reported.
type anEvent struct {
	object string
	died   bool
}

// FuzzEventStream feeds an event stream's output to the watcher's line
// reader as it comes, cut anywhere: lines before the ready line are never
// events; the ready line makes the stream connected, once; then each line
// that is an event is reported once, in order, also the last one when its
// newline has not come (the envelope holds it back), and nothing else is.
// Lines longer than the reader keeps (64 KiB) are garbage it drops.
func FuzzEventStream(f *testing.F) {
	die := func(name string) string {
		return strings.Replace(dockerEventFmt, `"name":"web"`, `"name":"`+name+`"`, 1)
	}
	f.Add(0, "", die("web")+"\n"+"garbage that is not json\n"+die("db"), []byte{6, 59})
	f.Add(0, "Welcome\n", die("web")+"\n\n\n"+die("db")+"\n", []byte{0})
	f.Add(0, die("early")+"\n", die("web"), []byte{40})
	f.Add(0, "", "opsroom-events-ready\n{}\nnull\n"+die("web")+" \n", []byte{200})
	f.Add(0, "", "<long>\n"+die("web")+"\n", []byte{255, 255, 3})
	f.Add(0, "", "<long><long>"+die("web"), []byte{255})
	f.Add(1, "Last login: Wed Dec  2 10:22:04 2026\n", podmanEventFmt+"\n<long>\n"+podmanEventFmt, []byte{0})
	f.Add(1, "", podmanEventFmt+"\n"+strings.Replace(podmanEventFmt, "died", "exec_died", 1)+"\n\xff\xfe\n", []byte{1, 2, 3})
	f.Add(2, "", `{"UNIT":"web.service","MESSAGE":"web.service: Main process exited, code=exited, status=1/FAILURE","MESSAGE_ID":"`+unitExitMessageID+`"}`+"\n"+
		`{"UNIT":"web.service","MESSAGE":"Started web.service."}`, []byte{10})
	f.Add(2, "", "-- No entries --\n", []byte(nil))
	f.Fuzz(func(t *testing.T, kind int, before, lines string, cuts []byte) {
		parse := []func([]byte) (string, bool, bool){dockerBackend{}.parseEvent, podmanBackend{}.parseEvent, systemdBackend{}.parseEvent}[uint(kind)%3]
		before, lines = withLong(before), withLong(lines)
		// What the stream printed before the ready line came in writes of its own, as whole lines.
		if before != "" && !strings.HasSuffix(before, "\n") || strings.Contains("\n"+before, "\n"+readyLine) || len(before) > 60<<10 {
			return
		}
		var want []anEvent
		segments := strings.Split(lines, "\n")
		for i, line := range segments {
			// A line that may be cut where its start is already a JSON object reads differently by its cuts; no engine prints one.
			if strings.HasPrefix(line, "{") {
				for k := 1; k < len(line); k++ {
					if c := line[k-1]; (c == '}' || c <= ' ') && json.Valid([]byte(line[:k])) {
						return
					}
				}
			}
			if len(line) > 64<<10 {
				if strings.Contains(line, "{") {
					return // a long line's cut-off rest may begin an event
				}
				continue
			}
			last := i == len(segments)-1
			if line == "" || last && !(strings.HasPrefix(line, "{") && json.Valid([]byte(line))) {
				continue
			}
			if object, relevant, died := parse([]byte(line)); relevant {
				want = append(want, anEvent{object, died})
			}
		}
		var got []anEvent
		firsts := 0
		e := &eventLines{parse: parse, onEvent: func(object string, died bool) { got = append(got, anEvent{object, died}) }, onFirst: func() { firsts++ }}
		writeInCuts(e, []byte(before), rotated(cuts))
		if firsts != 0 || len(got) != 0 {
			t.Fatalf("before the ready line: connected %d times, events %v", firsts, got)
		}
		writeInCuts(e, []byte(readyLine+"\n"+lines), cuts)
		if firsts != 1 || !e.connected() {
			t.Errorf("the ready line connected the stream %d times (connected %v), want once", firsts, e.connected())
		}
		if !slices.Equal(got, want) {
			t.Errorf("events %v, want %v", got, want)
		}
	})
}

// unitPropertySpec is what systemctl show's properties of a unit say, as
// unitStatus reads them: its state and the fields it has, or why it cannot.
func unitPropertySpec(p map[string]string) (Status, bool) {
	number := func(s string) (int, bool) {
		if s == "" || s == "[not set]" {
			return 0, true
		}
		n, err := strconv.Atoi(s)
		return n, err == nil
	}
	if p["LoadState"] == "not-found" {
		return Status{State: StateNotDeployed, Native: "not-found"}, true
	}
	if p["LoadState"] != "loaded" && p["LoadState"] != "masked" {
		return Status{}, false
	}
	st := Status{Native: p["ActiveState"], OOMKilled: p["Result"] == "oom-kill"}
	var ok1, ok2 bool
	st.RestartCount, ok1 = number(p["NRestarts"])
	st.ExitCode, ok2 = number(p["ExecMainStatus"])
	if c := p["ExecMainCode"]; c == "2" || c == "3" {
		st.ExitCode += 128
	}
	var err1, err2 error
	st.StartedAt, err1 = parseUnitTime(p["ActiveEnterTimestamp"])
	st.FinishedAt, err2 = parseUnitTime(p["ExecMainExitTimestamp"])
	switch p["ActiveState"] {
	case "active", "reloading", "refreshing":
		st.State = StateRunning
	case "activating":
		st.State = StateRunning
		if p["SubState"] == "auto-restart" {
			st.State = StateRestarting
		}
	case "failed", "inactive", "deactivating", "maintenance":
		st.State = StateExited
		if p["LoadState"] == "masked" {
			st.Native = "masked"
		}
	}
	return st, ok1 && ok2 && err1 == nil && err2 == nil && st.State != ""
}

func sameUnitStatus(got, want Status) bool {
	return got.State == want.State && got.Native == want.Native && got.RestartCount == want.RestartCount && got.ExitCode == want.ExitCode &&
		got.OOMKilled == want.OOMKilled && got.StartedAt.Equal(want.StartedAt) && got.FinishedAt.Equal(want.FinishedAt) && got.Err == nil && got.Raw == ""
}

// FuzzSystemctlShow reads any output of the batched `systemctl show`: every
// unit asked for gets a status; the block of Property=value lines that is
// the unit's (by order, or by Id when the count of blocks is not the count
// of units) gives its state and fields as its properties say; a block that
// does not read, or no block, is unknown with the raw text kept; and only a
// failed systemctl that printed no properties is systemd not answering.
func FuzzSystemctlShow(f *testing.F) {
	f.Add(unitBlock("web.service", "loaded", "active", "running", "0", "0", "0", "Wed 2026-12-02 10:22:04 UTC", "")+"\n"+
		unitBlock("gone.service", "not-found", "inactive", "dead", "0", "0", "0", "", ""), "web.service gone.service", 1)
	f.Add(unitBlock("looping.service", "loaded", "activating", "auto-restart", "7", "1", "1", "n/a", "Wed 2026-12-02 10:05:00 UTC"), "looping.service", 0)
	f.Add(unitBlock("killed.service", "masked", "inactive", "dead", "[not set]", "9", "2", "", "Wed 2026-12-02 10:05:00 UTC"), "killed.service", 0)
	f.Add(unitBlock("real.service", "loaded", "active", "running", "1", "0", "0", "", "")+"\n"+unitBlock("b.service", "loaded", "active", "running", "many", "0", "0", "", ""),
		"alias.service b.service c.service", 0)
	f.Add("Id=a.service\nLoadState=loaded\nActiveState=exploding\n", "a.service", 0)
	f.Add("Id=a.service\nLoadState=loaded\nActiveState=active\nExecMainStatus=0\nActiveEnterTimestamp=Wed 2026-12-02 10:22:04.123456 UTC\n", "a.service", 0)
	f.Add("", "a.service", 1)
	f.Add("Failed to connect to bus: Host is down\n", "a.service", 1)
	f.Add("\n\n\n\nId=a.service\n\n\n\nLoadState=loaded\n", "a.service b.service", 0)
	f.Add("Id=a.service\r\nLoadState=loaded\r\nActiveState=active\r\n", "a.service", 0)
	f.Add("Id=a.service\nId=b.service\nLoadState=loaded\nActiveState=failed\nResult=oom-kill\nExecMainStatus=9\nExecMainCode=3\n\x00=\xff\n", "a.service b.service", 0)
	f.Fuzz(func(t *testing.T, stdout, units string, exit int) {
		names := fuzzedNames(units, unitNameRE.MatchString, "web.service")
		var services []*ServiceConfig
		for _, u := range names {
			services = append(services, &ServiceConfig{Kind: KindSystemd, Unit: u})
		}
		got, err := systemdBackend{}.parseProbe("spark", services, RunResult{ExitCode: exit, Stdout: stdout})
		if err != nil {
			var ee *EngineError
			if !errors.As(err, &ee) || exit == 0 || strings.Contains(stdout, "LoadState=") {
				t.Fatalf("%v: not an EngineError of a failed systemctl that printed no properties", err)
			}
			return
		}
		var blocks []map[string]string
		for _, block := range strings.Split(strings.TrimSpace(stdout), "\n\n") {
			props := map[string]string{}
			for _, line := range strings.Split(block, "\n") {
				if k, v, ok := strings.Cut(line, "="); ok {
					props[k] = v
				}
			}
			blocks = append(blocks, props)
		}
		for i, u := range names {
			st, ok := got[u]
			if !ok {
				t.Fatalf("no status for %s: %v", u, got)
			}
			var props map[string]string
			if len(blocks) == len(names) {
				props = blocks[i]
			} else {
				for _, b := range blocks {
					if b["Id"] == u {
						props = b
					}
				}
			}
			want, reads := unitPropertySpec(props)
			switch {
			case props == nil:
				if st.State != StateUnknown || st.Err == nil || st.Raw != strings.TrimSpace(stdout) {
					t.Errorf("%s: no block of its own, yet %s (%v, raw %q)", u, st.State, st.Err, st.Raw)
				}
			case !reads:
				if st.State != StateUnknown || st.Err == nil || !strings.Contains(st.Raw, "LoadState="+props["LoadState"]) {
					t.Errorf("%s: properties %q do not read, yet %s (%v, raw %q)", u, props, st.State, st.Err, st.Raw)
				}
			case !sameUnitStatus(st, want):
				t.Errorf("%s: properties %q read as %+v, want %+v", u, props, st, want)
			}
		}
	})
}

// FuzzSystemctlShowRoundTrip writes a unit's properties as systemctl show
// prints them (Property=value lines in any order, timestamps in UTC, values
// holding = too), after another unit's block, and reads them back: each
// property says what it said.
func FuzzSystemctlShowRoundTrip(f *testing.F) {
	f.Add("web.service", "loaded", "active", "running", "success", 0, 0, 1, int64(1795430524), int64(0), int64(1))
	f.Add("looping.service", "loaded", "activating", "auto-restart", "exit-code", 7, 1, 1, int64(-1), int64(1795430700), int64(2))
	f.Add("killed.service", "masked", "inactive", "dead", "signal", -1, 9, 2, int64(0), int64(1795430700), int64(3))
	f.Add("oom.service", "loaded", "failed", "failed", "oom-kill", 3, 9, 3, int64(1), int64(253402300799), int64(4))
	f.Add("gone.service", "not-found", "inactive", "dead", "success", 0, 0, 0, int64(0), int64(0), int64(5))
	f.Add("x@a-b.service", "loaded", "maintenance", "sub=state", "a=b=c", 1, 2, 1, int64(5), int64(6), int64(6))
	f.Add("weird.service", "stub", "active", "running", "success", 0, 0, 1, int64(5), int64(6), int64(7))
	f.Fuzz(func(t *testing.T, id, load, active, sub, result string, restarts, status, code int, entered, exited, order int64) {
		if !unitNameRE.MatchString(id) || id == "db.service" {
			return
		}
		for _, v := range []string{load, active, sub, result} {
			if strings.Contains(v, "\n") || strings.TrimSpace(v) != v {
				return // systemd's words, on one line, without blanks around
			}
		}
		timestamp := func(s int64) (string, time.Time) {
			switch {
			case s == 0:
				return "", time.Time{}
			case s < 0:
				return "n/a", time.Time{}
			}
			at := time.Unix(s%253402300800, 0).UTC()
			return at.Format("Mon 2006-01-02 15:04:05 MST"), at
		}
		enteredText, wantEntered := timestamp(entered)
		exitedText, wantExited := timestamp(exited)
		restartsText := strconv.Itoa(restarts)
		if restarts < 0 {
			restartsText, restarts = "[not set]", 0
		}
		code = int(uint(code) % 4)
		props := []string{"Id=" + id, "LoadState=" + load, "ActiveState=" + active, "SubState=" + sub, "NRestarts=" + restartsText,
			"ExecMainStatus=" + strconv.Itoa(status), "ExecMainCode=" + strconv.Itoa(code), "ActiveEnterTimestamp=" + enteredText,
			"ExecMainExitTimestamp=" + exitedText, "Result=" + result}
		r := rand.New(rand.NewPCG(uint64(order), 0))
		r.Shuffle(len(props), func(i, j int) { props[i], props[j] = props[j], props[i] })
		stdout := unitBlock("db.service", "loaded", "active", "running", "0", "0", "0", "Wed 2026-12-02 10:22:04 UTC", "") + "\n" + strings.Join(props, "\n") + "\n"
		got := parseUnits([]string{"db.service", id}, stdout)
		want, reads := unitPropertySpec(map[string]string{"LoadState": load, "ActiveState": active, "SubState": sub, "NRestarts": restartsText,
			"ExecMainStatus": strconv.Itoa(status), "ExecMainCode": strconv.Itoa(code), "ActiveEnterTimestamp": enteredText,
			"ExecMainExitTimestamp": exitedText, "Result": result})
		if load != "not-found" && reads {
			if !want.StartedAt.Equal(wantEntered) || !want.FinishedAt.Equal(wantExited) || want.RestartCount != restarts {
				t.Fatalf("the timestamps or the restart count as written do not read back: %v %v %d", want.StartedAt, want.FinishedAt, want.RestartCount)
			}
		}
		st := got[id]
		switch {
		case !reads:
			if st.State != StateUnknown || st.Err == nil {
				t.Errorf("%q: %+v, want unknown", props, st)
			}
		case !sameUnitStatus(st, want):
			t.Errorf("%q read as %+v, want %+v", props, st, want)
		}
		if got["db.service"].State != StateRunning {
			t.Errorf("the other unit: %+v", got["db.service"])
		}
	})
}

// FuzzDrift reads the drift command's output (git rev-parse of two commits,
// rev-list --left-right --count, log --format='%h %s'). Any output: read, it
// has two commit IDs and two counts where git prints them, and the log lines
// as printed; not read, its error is short text fit for the room. Output
// built as git prints it reads back as written.
func FuzzDrift(f *testing.F) {
	head, tip := strings.Repeat("3f2a1c09", 5), strings.Repeat("9b7d4e21", 5)
	f.Add(head+"\n"+tip+"\n1\t2\n9b7d4e2 v3: `quoted` $(not run)\n5c1e0aa v2: faster\n", "a", "b", 1, 2, "v3: faster\nv2")
	f.Add(head+"\n"+head+"\n0\t0\n", "same", "same", 0, 0, "")
	f.Add(head+"\n"+tip+"\n0\t2\n\n9b7d4e2 v3\n  \n5c1e0aa v2\n", "x", "y", 0, 2, "v3\n\nv2")
	f.Add("fatal: ambiguous argument 'HEAD': unknown revision\n", "x", "y", 0, 120, "\x00\xff\n\n  padded subject  ")
	f.Add(head+"\n"+tip+"\n-1\t+2\n<long>", "x", "y", 5, 5, "<long>")
	f.Add(head+"\n"+tip+"\n1 2 3\n", "x", "y", 1, 0, "\r")
	f.Add("HEAD\n"+tip+"\n1\t2\n", "", "", 0, 0, "a\nb\nc\nd\ne\nf\ng\nh\ni\nj")
	f.Add(strings.Repeat("f", 64)+"\n"+strings.Repeat("0", 7)+"\n\t\n", "x", "y", 0, 0, "")
	f.Fuzz(func(t *testing.T, out, headSeed, tipSeed string, ahead, behind int, log string) {
		out, log = withLong(out), withLong(log)
		var d Drift
		if err := parseDrift(&d, out); err != nil {
			if msg := err.Error(); len(msg) > 700 || !utf8.ValidString(msg) {
				t.Errorf("the error shown in the room is not short valid text: %q", msg)
			}
		} else {
			lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
			counts := append(strings.Fields(lines[2]), "", "")
			ahead, err1 := strconv.Atoi(counts[0])
			behind, err2 := strconv.Atoi(counts[1])
			if !isCommitID(d.Head) || !isCommitID(d.Tip) || d.Head != strings.TrimSpace(lines[0]) || d.Tip != strings.TrimSpace(lines[1]) ||
				len(counts) != 4 || err1 != nil || err2 != nil || d.Ahead != ahead || d.Behind != behind {
				t.Errorf("%q read as %+v", out, d)
			}
			for _, l := range d.Log {
				if l == "" || strings.Contains(l, "\n") || strings.TrimSpace(l) != l || !strings.Contains(out, l) {
					t.Errorf("%q: log line %q is not a line it printed", out, l)
				}
			}
		}

		// As git prints it.
		sum1, sum2 := sha1.Sum([]byte(headSeed)), sha256.Sum256([]byte(tipSeed))
		wantHead, wantTip := hex.EncodeToString(sum1[:]), hex.EncodeToString(sum2[:])
		ahead, behind = max(ahead, -ahead, 0), max(behind, -behind, 0)
		printed := wantHead + "\n" + wantTip + "\n" + strconv.Itoa(ahead) + "\t" + strconv.Itoa(behind) + "\n"
		var wantLog []string
		if log != "" {
			for _, subject := range strings.Split(log, "\n") {
				sum := sha1.Sum([]byte(subject))
				l := hex.EncodeToString(sum[:])[:7] + " " + subject
				printed += l + "\n"
				wantLog = append(wantLog, strings.TrimSpace(l))
			}
		}
		d = Drift{}
		if err := parseDrift(&d, printed); err != nil {
			t.Fatalf("%q: %v", printed, err)
		}
		if d.Head != wantHead || d.Tip != wantTip || d.Ahead != ahead || d.Behind != behind || !slices.Equal(d.Log, wantLog) {
			t.Errorf("%q read as %+v; want %s %s %d %d %q", printed, d, wantHead, wantTip, ahead, behind, wantLog)
		}
	})
}

// A run is one podman command that podman-compose ran and reported.
type composeRun struct {
	line string
	code int
}

// FuzzComposeOutcome reads what podman-compose printed (it exits 0 whatever
// its podman commands did). Any output: stdout is never changed; a failed
// compose command stands as it is; an exit code it makes up is one an
// "exit code: N" line printed, and its note names a podman command it ran,
// after stderr as it was. Output built as podman-compose prints it, podman
// commands with their exit codes among other lines: the outcome is the first
// failure that matters (not a stop or rm of a container that is not there,
// not a run whose start after it worked), or 0.
func FuzzComposeOutcome(f *testing.F) {
	for _, name := range []string{"build-ok.txt", "build-failed.txt", "up-existing.txt", "up-failed.txt", "up-force-recreate-missing.txt"} {
		if out, err := readTestdata("TestPodmanComposeOutcome", name); err == nil {
			f.Add(out, "", 0, "build run start", []byte{0, 125, 0})
		}
	}
	f.Add("podman run --name=app -d x\nexit code: 125\npodman start app\nexit code: 125\n", "", 0, "stop rm run start", []byte{125, 1, 125, 0})
	f.Add("exit code: 3\npodman\nexit code: 4\npodman --log-level=debug\nexit code: 5\n", "ValueError\n\n", 0, "--flag run", []byte{1})
	f.Add("", "ValueError: unknown service: nosuch\n", 1, "build", []byte{2})
	f.Add("", "", 0, "stop rm run start", []byte{125, 125})
	f.Add("/usr/bin/podman build -t x .\nexit code: 07\n", "\n\n", 0, "run run start", []byte{1, 0, 0})
	f.Add("podman build "+strings.Repeat("é", 100)+"\nexit code: +2\n", "\xff", 0, "build", []byte(nil))
	f.Fuzz(func(t *testing.T, stdout, stderr string, exit int, verbs string, codes []byte) {
		in := RunResult{ExitCode: exit, Stdout: stdout, Stderr: stderr}
		res := podmanBackend{}.composeOutcome(in)
		switch {
		case exit != 0:
			if res != in {
				t.Errorf("a compose command that failed on its own changed: %+v", res)
			}
		case res.Stdout != stdout:
			t.Errorf("stdout changed")
		case res.ExitCode == 0:
			if res.Stderr != stderr {
				t.Errorf("no failure, yet stderr changed: %q", res.Stderr)
			}
		default:
			head := strings.TrimRight(stderr, "\n") + "\n" + "opsroom: the compose command exited 0, but its `"
			note, ok := strings.CutPrefix(res.Stderr, strings.TrimLeft(head, "\n"))
			i := strings.LastIndex(note, "` exited ")
			ok2 := i >= 0
			shown, code := note[:max(i, 0)], note[max(i, 0):]
			code = strings.TrimPrefix(code, "` exited ")
			printed := slices.ContainsFunc(strings.Split(stdout+"\n"+stderr, "\n"), func(l string) bool {
				n, found := strings.CutPrefix(strings.TrimSpace(l), "exit code: ")
				c, err := strconv.Atoi(n)
				return found && err == nil && c == res.ExitCode
			})
			ran := slices.ContainsFunc(strings.Split(stdout+"\n"+stderr, "\n"), func(l string) bool {
				l = strings.TrimSpace(l)
				verb := podmanVerb(l)
				return verb != "" && verb != "stop" && verb != "rm" && firstBytes(l, 120) == shown
			})
			if !ok || !ok2 || code != strconv.Itoa(res.ExitCode) || !printed || !ran {
				t.Errorf("exit code %d with stderr %q: not a failure podman-compose printed, noted after stderr as it was", res.ExitCode, firstBytes(res.Stderr, 300))
			}
		}

		// As podman-compose prints it.
		var runs []composeRun
		var out strings.Builder
		out.WriteString("['podman', '--version', '']\nusing podman version: 4.3.1\n** excluding:  set()\n")
		for i, verb := range strings.Fields(verbs) {
			if strings.HasPrefix(verb, "-") {
				continue
			}
			r := composeRun{line: "podman " + verb + " --name=app-" + strconv.Itoa(i) + " -d localhost/app:latest", code: 0}
			if len(codes) > 0 {
				r.code = int(codes[i%len(codes)])
			}
			runs = append(runs, r)
			fmt.Fprintf(&out, "['podman', 'network', 'exists', 'app_default']\n%s\nError: something %d\n4f2b%d\nexit code: %d\n", r.line, i, i, r.code)
		}
		want, wantRun := 0, ""
		for i, r := range runs {
			verb := strings.Fields(r.line)[1]
			if r.code == 0 || verb == "stop" || verb == "rm" ||
				verb == "run" && i+1 < len(runs) && strings.Fields(runs[i+1].line)[1] == "start" && runs[i+1].code == 0 {
				continue
			}
			want, wantRun = r.code, r.line
			break
		}
		res = podmanBackend{}.composeOutcome(RunResult{Stdout: out.String()})
		if res.ExitCode != want || want != 0 && !strings.Contains(res.Stderr, firstBytes(wantRun, 120)) {
			t.Errorf("runs %v: exit code %d, %q; want %d naming %q", runs, res.ExitCode, res.Stderr, want, wantRun)
		}
	})
}

// readTestdata is a golden file of a test, as a string.
func readTestdata(test, name string) (string, error) {
	out, err := os.ReadFile(filepath.Join("testdata", test, name))
	return string(out), err
}

// FuzzPreflightAnswers reads what a preflight's commands printed: the
// compose command's version is one line of its output, the first that names
// compose when one does; the prerequisites pass only when the command's
// last line says nothing is missing, and otherwise name what is.
func FuzzPreflightAnswers(f *testing.F) {
	version, _ := readTestdata("TestPodmanComposeOutcome", "version.txt")
	f.Add(version, "missing:", 0)
	f.Add("Docker Compose version v2.32.4\n", "motd\nmissing: git setsid", 0)
	f.Add("docker-compose version 1.29.2, build unknown\ndocker-py version: 5.0.3\nCPython version: 3.11.2\n", "missing: \t ", 0)
	f.Add("", "", 127)
	f.Add("\n\n  1.2.3  \n", "missing: nosuch", 0)
	f.Add("\xff\x00 compose \x00", "bash: line 1: setsid: command not found\nmissing:", 1)
	f.Fuzz(func(t *testing.T, versionOut, prereqOut string, exit int) {
		v := composeVersion(versionOut)
		lines := strings.Split(strings.TrimSpace(versionOut), "\n")
		i := slices.IndexFunc(lines, func(l string) bool { return strings.Contains(strings.ToLower(l), "compose") })
		switch {
		case i >= 0 && v != strings.Join(strings.Fields(lines[i]), " "):
			t.Errorf("version %q, want the first line that names compose, %q", v, lines[i])
		case i < 0 && v != strings.TrimSpace(lines[0]):
			t.Errorf("version %q, want the first line, %q", v, lines[0])
		}
		tools := []string{"git", "docker"}
		c := judgePrerequisites(RunResult{ExitCode: exit, Stdout: prereqOut}, tools)
		list, said := strings.CutPrefix(lastLine(prereqOut), "missing:")
		missing := strings.Fields(list)
		switch {
		case c.OK != (exit == 0 && said && len(missing) == 0):
			t.Errorf("exit %d, %q: OK %v (%s)", exit, prereqOut, c.OK, c.Detail)
		case !c.OK && exit == 0 && said:
			for _, m := range missing {
				if need, known := prerequisiteNeeds[m]; known && !strings.Contains(c.Detail, need) {
					t.Errorf("%q: %q does not say %s is missing", prereqOut, c.Detail, m)
				}
			}
		}
	})
}

// escapes are sequences programs print for colour, cursor, title and
// character set, as ls --color, tput and progress bars write them.
var escapes = []string{"\x1b[1;31m", "\x1b[0m", "\x1b[m", "\x1b[2K", "\x1b[?25l", "\x1b[38;5;208m", "\x1b]0;title\x07",
	"\x1b]8;;https://example.com\x1b\\", "\x1b(B\x1b[m" /* tput sgr0 */, "\x1b(B", "\x1b)0", "\x1b7", "\x1b8", "\x1b=", "\x1b>", "\x1bM", "\x1bc"}

// FuzzAsShown: remote output shown in the room keeps no escape sequence and
// no control character but newlines and tabs, is what it was when it had
// none, and shows the same when shown again; text around an escape sequence
// a program printed shows as it was, the sequence gone.
func FuzzAsShown(f *testing.F) {
	f.Add("plain text\twith a tab\n", "red", 0)
	f.Add("\x1b[1;31mERROR\x1b[0m failed\r\n", "ERROR", 1)
	f.Add("progress  10%\rprogress  50%\rprogress 100%\ndone\n", "done", 2)
	f.Add("\x1b]0;title\x07\x1b]8;;https://example.com\x1b\\link\x1b]8;;\x1b\\\n", "link", 7)
	f.Add("\x1b]unterminated osc\nnext line\n", "", 8)
	f.Add("a\x00b\x7fc\x08d\x1b\n\xff\xfe\xc3(\n", "(B", 9)
	f.Add(strings.Repeat("\x1b[", 1000)+"<long>", "=7", 13)
	f.Fuzz(func(t *testing.T, s, text string, escape int) {
		s = withLong(s)
		plain := strings.Map(func(r rune) rune {
			if r < 0x20 && r != '\n' && r != '\t' || r == 0x7f {
				return -1
			}
			return r
		}, text)
		seq := escapes[uint(escape)%uint(len(escapes))]
		if got := AsShown(plain + seq + plain); got != plain+plain {
			t.Errorf("AsShown(%q) = %q, want %q", plain+seq+plain, got, plain+plain)
		}
		got := AsShown(s)
		if strings.ContainsFunc(got, func(r rune) bool { return r < 0x20 && r != '\n' && r != '\t' || r == 0x7f }) {
			t.Errorf("AsShown(%q) = %q keeps a control character", s, got)
		}
		if !strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 && r != '\n' && r != '\t' || r == 0x7f }) && got != s {
			t.Errorf("AsShown(%q) = %q changed text without control characters", s, got)
		}
		if again := AsShown(got); again != got {
			t.Errorf("AsShown(%q) = %q, and again %q", s, got, again)
		}
		if bytes.Count([]byte(got), []byte("\n")) > strings.Count(s, "\n") {
			t.Errorf("AsShown(%q) = %q has more lines", s, got)
		}
	})
}
