package e2e

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/opsroom/opsroom/internal/testworld"
)

// The bad output tests: a docker on the owner's PATH that prints garbage,
// and a service that prints a line bigger than the output opsroom keeps of a
// command (1 MiB). Each answer says what it could and could not read, no
// message is over the homeserver's limit, and the watcher goes on watching.

// fakeDocker is a `docker` first on an owner's PATH, a script the test
// rewrites: garbage, or a pass-through to the real one.
type fakeDocker struct {
	owner testworld.Account
	dir   string // the directory first on the owner's PATH
	real  string // the docker the owner's PATH would find without dir
}

// garbageDockerOwner makes the owner name, whose shells put ~/fake-docker
// first on PATH, with a pass-through docker in it to start with.
func garbageDockerOwner(t *testing.T, name string) *fakeDocker {
	t.Helper()
	real, err := exec.LookPath("docker")
	if err != nil {
		t.Fatalf("no docker on PATH: %v", err)
	}
	owner := testworld.OwnerWith(t, name, `PATH="$HOME/fake-docker:$PATH"`)
	d := &fakeDocker{owner: owner, dir: filepath.Join(owner.Home, "fake-docker"), real: real}
	t.Cleanup(func() {
		testworld.OwnerWith(t, name, "")
		_ = os.RemoveAll(d.dir)
	})
	if err := os.MkdirAll(d.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	d.passThrough(t)
	return d
}

// passThrough makes the fake docker the real one.
func (d *fakeDocker) passThrough(t *testing.T) {
	t.Helper()
	d.script(t, "exec "+d.real+` "$@"`)
}

// garbage makes every docker command print out (to stdout, or with exit 1
// to stderr) and exit with exit, whatever it was asked.
func (d *fakeDocker) garbage(t *testing.T, out []byte, exit int) {
	t.Helper()
	file := filepath.Join(d.dir, "garbage-"+strconv.Itoa(exit))
	if err := os.WriteFile(file, out, 0o644); err != nil {
		t.Fatal(err)
	}
	redirect := ""
	if exit != 0 {
		redirect = " >&2"
	}
	d.script(t, fmt.Sprintf("cat %s%s\nexit %d", file, redirect, exit))
}

// script replaces the fake docker at once: a command that starts meanwhile
// runs the old one or the new one, never half of one.
func (d *fakeDocker) script(t *testing.T, body string) {
	t.Helper()
	tmp := filepath.Join(d.dir, ".docker.new")
	if err := os.WriteFile(tmp, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(d.dir, "docker")); err != nil {
		t.Fatal(err)
	}
}

// endEventStreams ends the owner's `docker events` that the event stream
// started through the pass-through, so that the stream's next session runs
// the fake docker as it is now.
func (d *fakeDocker) endEventStreams(t *testing.T) {
	t.Helper()
	procs, _ := filepath.Glob("/proc/[0-9]*")
	var ended []int
	for _, proc := range procs {
		status, err := os.ReadFile(filepath.Join(proc, "status"))
		cmdline, err2 := os.ReadFile(filepath.Join(proc, "cmdline"))
		if err != nil || err2 != nil {
			continue
		}
		args := strings.Split(string(cmdline), "\x00")
		if len(args) < 2 || args[0] != d.real || args[1] != "events" ||
			!strings.Contains(string(status), fmt.Sprintf("\nUid:\t%d\t", d.owner.UID)) {
			continue
		}
		pid, _ := strconv.Atoi(filepath.Base(proc))
		if p, err := os.FindProcess(pid); err == nil && p.Signal(syscall.SIGTERM) == nil {
			ended = append(ended, pid)
		}
	}
	if len(ended) == 0 {
		t.Fatalf("no docker events of %s running", d.owner.Name)
	}
}

// randomBytes are n bytes of noise, the same on every run.
func randomBytes(n int) []byte {
	rng := rand.New(rand.NewPCG(8, 19))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.UintN(256))
	}
	return b
}

// stillRunning fails the test if opsroom has exited.
func (o *opsroom) stillRunning(t *testing.T, when string) {
	t.Helper()
	select {
	case <-o.exited:
		t.Fatalf("opsroom exited %s: %v", when, o.cmd.ProcessState)
	default:
	}
	if strings.Contains(o.log(), "panic:") {
		t.Fatalf("opsroom panicked %s", when)
	}
}

// notRunning checks that a !status answer about a docker that printed
// garbage says so: the state is unknown, what docker printed is shown fenced,
// and nothing says the service runs.
func notRunning(t *testing.T, what, got string, want ...string) {
	t.Helper()
	mustContain(t, what, got, append([]string{"**web** on `gb`: **unknown**", "error: docker inspect", "```"}, want...)...)
	for _, lie := range []string{"**running**", "🟢", "since:", "health:"} {
		if strings.Contains(got, lie) {
			t.Errorf("%s: the answer has %q, as if docker had said how the container is:\n%s", what, lie, got)
		}
	}
}

// TestDockerPrintingGarbageIsUnknownNotRunning: the owner's PATH finds a
// docker that answers everything with garbage (noise with invalid UTF-8 and
// half a JSON, lines shaped like the status format that are not, and noise
// on stderr with exit 1). !status says unknown, names what it could not
// read and shows the output fenced, never running; the watcher neither dies
// nor alerts a state it cannot know. Once docker answers again the service
// is running, and a kill is alerted once.
func TestDockerPrintingGarbageIsUnknownNotRunning(t *testing.T) {
	fake := garbageDockerOwner(t, "svcgarbage")
	w := watchWorld(t)
	// Its health checked every second: the status once docker answers again shows it healthy.
	c := testworld.RunContainer(t, testworld.UniqueName(t, "web"), nil, testworld.HealthEverySecond)
	web := containerService(c)
	web["host"] = "gb"
	o := w.startOpsroom(t, map[string]host{"gb": w.ownerOf("svcgarbage")}, map[string]service{"web": web})
	w.waitWatching(t, true)
	mustContain(t, "status through the pass-through", w.ask(t, w.alice, "!status web"), "**running**")

	noise := append(randomBytes(3000), "\n\xff\xfe caf\xe9 \xc3\x28 not UTF-8\n"...)
	noise = append(noise, `[{"Id":"4f2c9a","Name":"/`+c.Name+`","State":{"Status":"running","StartedAt":"2025-`...)
	lookalike := strings.Join([]string{
		"/" + c.Name + "|running|2025-01-01T00:00:00Z",                               // too few fields
		c.Name + "|running|2025-01-01T00:00:00Z|0001-01-01T00:00:00Z|0||0|x|false|0", // no slash: not docker's
		"/" + c.Name + "|running|yesterday|0001-01-01T00:00:00Z|0||0|x|false|0",      // StartedAt is no time
	}, "\n") + "\n"
	stderrNoise := append([]byte("docker: \xff\xfe\x00 segmentation fault? \x1b[31mred\x1b[0m\n"), randomBytes(500)...)
	for i, v := range []struct {
		name string
		out  []byte
		exit int
		want []string
	}{
		{"noise on stdout, exit 0", noise, 0, []string{"docker inspect gave no line for container", `"StartedAt":"2025-`}},
		{"lines like the format, exit 0", []byte(lookalike), 0, []string{`bad StartedAt "yesterday"`, "|running|yesterday|"}},
		{"noise on stderr, exit 1", stderrNoise, 1, []string{"docker inspect gave no line for container", "segmentation fault?"}},
	} {
		fake.garbage(t, v.out, v.exit)
		if i == 0 {
			fake.endEventStreams(t) // its next sessions run the garbage too
		}
		start := time.Now()
		got := w.ask(t, w.alice, "!status web")
		t.Logf("%s: !status web answered in %s:\n%s", v.name, time.Since(start).Round(time.Millisecond), got)
		notRunning(t, v.name, got, v.want...)
		all := w.ask(t, w.alice, "!status")
		t.Logf("%s: !status answered:\n%s", v.name, all)
		mustContain(t, v.name+": !status", all, "**1 unknown**", "| ⚪ web | gb | unknown |")
		for _, lie := range []string{"🟢", "| running |", "running —"} {
			if strings.Contains(all, lie) {
				t.Errorf("%s: !status has %q, as if web ran:\n%s", v.name, lie, all)
			}
		}
		w.settle(t) // the watcher probes the garbage a few times
		o.stillRunning(t, "while docker printed "+v.name)
		t.Logf("%s: !watch answered:\n%s", v.name, w.ask(t, w.alice, "!watch"))
	}
	if got := w.alerts(t); len(got) > 1 {
		t.Errorf("%d alerts while docker printed garbage, want at most one: %q", len(got), got)
	} else if len(got) == 1 {
		t.Logf("the alert while docker printed garbage:\n%s", got[0])
	}
	alertsBefore := len(w.alerts(t))

	fake.passThrough(t)
	var status string
	eventually(t, "!status web saying running again", func() bool {
		status = w.ask(t, w.alice, "!status web")
		return strings.Contains(status, "**running**")
	})
	mustContain(t, "status once docker answers", status, "restarts: 0", "health: healthy")
	w.waitWatching(t, true) // the event stream is back
	t.Logf("opsroom logged %q %d times", "Event stream ended", strings.Count(o.log(), `"Event stream ended`))
	testworld.Docker(t, "kill", c.Name)
	eventually(t, "an exited alert", func() bool { return len(w.alertsMatching(t, "web", "exited with code 137")) > 0 })
	w.settle(t)
	if got := w.alertsMatching(t, "web", "exited with code 137"); len(got) != 1 {
		t.Errorf("%d exited alerts, want 1: %q", len(got), got)
	}
	if got := w.alerts(t)[alertsBefore:]; len(got) != 1 {
		t.Errorf("%d alerts after docker answered again, want the kill's alone: %q", len(got), got)
	}
	o.stillRunning(t, "at the end")
}

// bigLine is testsvc's environment for a line of more than 2 MiB: SAY
// prints 2048 numbered chunks of 1 KiB and more ("[chunk {n}]....") with no
// newline between them, and LINES ends the line with "log line 1" and prints
// lines more lines after it ("log line 2", …).
func bigLine(lines int) map[string]string {
	return map[string]string{"SAY": bigLineChunk, "SAY_TIMES": strconv.Itoa(bigLineChunks), "LINES": strconv.Itoa(lines)}
}

const bigLineChunks = 2048

var (
	bigLineChunk = "[chunk {n}]" + strings.Repeat(".", 1024-len("[chunk ]"))
	// bigLineEnd is how the line ends.
	bigLineEnd = strings.ReplaceAll(bigLineChunk, "{n}", strconv.Itoa(bigLineChunks)) + "log line 1"
)

// TestALineOf2MiBIsCutAndWatchingGoesOn: services that print one line of
// more than 2 MiB, twice the output opsroom keeps of a command: "last" ends
// its output with it, "web" prints two lines after it. !logs of 5 and 500
// lines answers in time, fenced, with the end of the output and a note of
// what was cut (the tail of the line where it is the last), never its start;
// no message in the room is over the homeserver's limit; afterwards !status
// answers and the watcher alerts a kill of web once, its evidence read from
// the same logs (log_lines 500).
func TestALineOf2MiBIsCutAndWatchingGoesOn(t *testing.T) {
	w := watchWorld(t)
	w.watch["log_lines"] = 500
	web := testworld.RunContainer(t, testworld.UniqueName(t, "web"), bigLine(3))
	last := testworld.RunContainer(t, testworld.UniqueName(t, "last"), bigLine(1))
	for _, c := range []*testworld.Container{web, last} {
		eventually(t, c.Name+" printing its big line", func() bool {
			return strings.Contains(testworld.Docker(t, "logs", "--tail", "1", c.Name), "log line")
		})
		if n := len(testworld.Docker(t, "logs", c.Name)); n <= 2<<20 {
			t.Fatalf("%s printed %d bytes, want more than 2 MiB", c.Name, n)
		}
	}
	o := w.startOpsroom(t, map[string]host{"local": w.localHost()}, map[string]service{
		"web": containerService(web), "last": containerService(last),
	})
	w.waitWatching(t, true)

	for _, ask := range []struct {
		service string
		lines   int
		want    []string
	}{
		{"web", 5, []string{"\nlog line 2\nlog line 3\n```"}},
		{"web", 500, []string{"\nlog line 2\nlog line 3\n```"}},
		{"last", 5, []string{"_… the start of the line below cut_", bigLineEnd + "\n```"}},
		{"last", 500, []string{"the start of the line below cut_", bigLineEnd + "\n```"}},
	} {
		cmd := fmt.Sprintf("!logs %s %d", ask.service, ask.lines)
		start := time.Now()
		got := w.ask(t, w.alice, cmd)
		t.Logf("%s answered in %s, %d bytes: %.300s … %s", cmd, time.Since(start).Round(time.Millisecond), len(got), got, got[max(0, len(got)-200):])
		mustContain(t, cmd, got, append([]string{fmt.Sprintf("Last %d lines of **%s** on `local`", ask.lines, ask.service), "```\n", " cut_"}, ask.want...)...)
		if strings.Contains(got, "[chunk 1]") {
			t.Errorf("%s shows the start of the 2 MiB line, want the end of the output:\n%.300s", cmd, got)
		}
	}

	mustContain(t, "status", w.ask(t, w.alice, "!status web"), "**web** on `local`: **running**")
	testworld.Docker(t, "kill", web.Name)
	eventually(t, "an exited alert", func() bool { return len(w.alertsMatching(t, "web", "exited with code 137")) > 0 })
	w.settle(t)
	if got := w.alertsMatching(t, "web", "exited with code 137"); len(got) != 1 {
		t.Errorf("%d exited alerts, want 1: %q", len(got), got)
	} else {
		t.Logf("the kill's alert, %d bytes:\n%s", len(got[0]), got[0])
		mustContain(t, "exit alert", got[0], "log line 3")
	}
	if got := w.alerts(t); len(got) != 1 {
		t.Errorf("%d alerts, want the kill's alone: %q", len(got), got)
	}

	for _, evt := range w.botMessages(t) {
		content, err := json.Marshal(evt.Content.Raw)
		if err != nil {
			t.Fatal(err)
		}
		if len(content) > 64<<10 {
			t.Errorf("a message of %d bytes of content, over the homeserver's 64 KiB: %.300s", len(content), evt.Content.AsMessage().Body)
		}
	}
	o.stillRunning(t, "at the end")
}
