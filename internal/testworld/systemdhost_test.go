package testworld

import (
	"bufio"
	"encoding/json"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestSystemdHost checks, through the host's real sshd as the login user,
// what the systemd backend relies on. The subtests share one host: booting
// takes seconds.
func TestSystemdHost(t *testing.T) {
	h := StartSystemdHost(t)

	t.Run("boots running", func(t *testing.T) {
		if got := lastLine(sshOK(t, h, "systemctl is-system-running")); got != "running" {
			t.Errorf("systemctl is-system-running over ssh says %q, want running", got)
		}
		args := h.SSHArgs("id -un")
		host, _, _ := strings.Cut(h.Addr, ":")
		args[len(args)-2] = h.Owner + "@" + host
		// As on users' hosts, the key logs in as the login user alone.
		if out, err := exec.Command("ssh", args...).CombinedOutput(); err == nil {
			t.Errorf("ssh as the owner directly was let in, want it refused: %q", out)
		}
	})

	t.Run("a crashing unit climbs NRestarts", func(t *testing.T) {
		// No start limit: systemd would give up after 5 starts in 10 s.
		installService(t, h, "crashloop.service", "Environment=EXIT_AFTER=100ms LINES=0\nRestart=on-failure\nRestartSec=200ms", "StartLimitIntervalSec=0")
		var n int
		waitFor(t, "NRestarts of crashloop.service reaching 3", 20*time.Second, func() bool {
			out := lastLine(sshOK(t, h, "systemctl show -p NRestarts crashloop.service"))
			n, _ = strconv.Atoi(strings.TrimPrefix(out, "NRestarts="))
			return n >= 3
		})
	})

	t.Run("sudo restarts the allowed units only", func(t *testing.T) {
		installService(t, h, "allowed.service", "Environment=LINES=0", "")
		installService(t, h, "other.service", "Environment=LINES=0", "")
		h.AllowUnits(t, "allowed.service")
		before := mainPID(t, h, "allowed.service")
		if out, err := h.SSH(t, "sudo -n systemctl restart allowed.service"); err != nil {
			t.Fatalf("restarting an allowed unit through sudo: %v\n%s", err, out)
		}
		if after := mainPID(t, h, "allowed.service"); after == before {
			t.Errorf("allowed.service kept its main PID %s through a restart", before)
		}
		otherPID := mainPID(t, h, "other.service")
		// sudo compares arguments literally: the unit's short name is another command.
		for _, cmd := range []string{"sudo -n systemctl restart other.service", "sudo -n systemctl restart allowed", "sudo -n systemctl kill allowed.service"} {
			if out, err := h.SSH(t, cmd); err == nil || !strings.Contains(err.Error(), "a password is required") {
				t.Errorf("%s was not refused by sudo: %v\n%s", cmd, err, out)
			}
		}
		if got := mainPID(t, h, "other.service"); got != otherPID {
			t.Errorf("other.service was restarted (main PID %s, was %s) though it is not allowed", got, otherPID)
		}
	})

	t.Run("the login user reads a unit's journal", func(t *testing.T) {
		// systemd unescapes Environment= once, testsvc once more: \\n is a newline.
		installService(t, h, "sayer.service", `Environment="SAY=hello from sayer {n}\\n" SAY_TIMES=3 LINES=0`, "")
		var out string
		waitFor(t, "the SAY lines in journalctl -u sayer.service", 10*time.Second, func() bool {
			out = sshOK(t, h, "journalctl -u sayer.service -n 5 --no-pager")
			return strings.Contains(out, "hello from sayer 3")
		})
		for _, want := range []string{"hello from sayer 1", "hello from sayer 2", "hello from sayer 3"} {
			if !strings.Contains(out, want) {
				t.Errorf("journalctl -u sayer.service -n 5 as %s lacks %q:\n%s", h.User, want, out)
			}
		}
		// journalctl's hint when the user may read only its own journal.
		if strings.Contains(out, "not seeing messages") {
			t.Errorf("%s does not read the system journal (not in group systemd-journal?):\n%s", h.User, out)
		}
	})

	t.Run("a user unit runs under the owner's manager", func(t *testing.T) {
		h.InstallUserUnit(t, "userhello.service", "[Service]\nExecStart=/usr/local/bin/testsvc\nEnvironment=LINES=0\n")
		h.UserSystemctl(t, "start", "userhello.service")
		t.Cleanup(func() { h.UserSystemctl(t, "stop", "userhello.service") })
		out := sshOK(t, h, `sudo -n -iu svc bash -lc 'XDG_RUNTIME_DIR=/run/user/$(id -u) systemctl --user is-active userhello.service'`)
		if got := lastLine(out); got != "active" {
			t.Errorf("systemctl --user is-active through sudo -iu svc says %q, want active:\n%s", got, out)
		}
		pid := h.UserSystemctl(t, "show", "-p", "MainPID", "--value", "userhello.service")
		if owner := h.Exec(t, "stat", "-c", "%U", "/proc/"+pid); owner != h.Owner {
			t.Errorf("the user unit's process %s runs as %q, want %s", pid, owner, h.Owner)
		}
	})

	t.Run("podman runs with vfs storage", func(t *testing.T) {
		if out := sshOK(t, h, "podman --version"); !strings.Contains(out, "podman version ") {
			t.Errorf("podman --version as %s: %q", h.User, out)
		}
		if got := h.Exec(t, "podman", "info", "--format", "{{.Store.GraphDriverName}}"); got != "vfs" {
			t.Errorf("podman info as root: graph driver %q, want vfs", got)
		}
	})

	t.Run("ActiveEnterTimestamp in UTC", func(t *testing.T) {
		installService(t, h, "stamped.service", "Environment=LINES=0", "")
		line := lastLine(sshOK(t, h, "systemctl show --timestamp=utc -p ActiveEnterTimestamp stamped.service"))
		t.Logf("systemctl show --timestamp=utc -p ActiveEnterTimestamp: %q", line)
		value, ok := strings.CutPrefix(line, "ActiveEnterTimestamp=")
		if !ok {
			t.Fatalf("no ActiveEnterTimestamp= line: %q", line)
		}
		at, err := time.Parse("Mon 2006-01-02 15:04:05 MST", value)
		if err != nil {
			t.Fatalf("ActiveEnterTimestamp %q is not \"Mon 2006-01-02 15:04:05 UTC\": %v", value, err)
		}
		if d := time.Since(at); d < -time.Minute || d > time.Minute {
			t.Errorf("ActiveEnterTimestamp %s is %s away from now", value, d)
		}
		// A unit that never started, or does not exist, has it empty (and show exits 0).
		if got := lastLine(sshOK(t, h, "systemctl show --timestamp=utc -p ActiveEnterTimestamp nosuch.service")); got != "ActiveEnterTimestamp=" {
			t.Errorf("ActiveEnterTimestamp of a unit that does not exist: %q, want it empty", got)
		}
	})

	t.Run("journalctl -f -o json streams a restart", func(t *testing.T) {
		// It crashes 1.5 s after each start, and comes back.
		unit := "flaky.service"
		installService(t, h, unit, `Environment="SAY=flaky says hello\\n" EXIT_AFTER=1500ms LINES=0`+"\nRestart=on-failure\nRestartSec=500ms", "StartLimitIntervalSec=0")
		h.AllowUnits(t, unit)
		since := h.Exec(t, "date", "+%s")
		stream := exec.Command("ssh", h.SSHArgs("journalctl -f -o json --since @"+since+" -u "+unit)...)
		stdout, err := stream.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := stream.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = stream.Process.Kill(); _ = stream.Wait() })
		lines := make(chan map[string]any)
		go func() {
			defer close(lines)
			sc := bufio.NewScanner(stdout)
			sc.Buffer(nil, 1<<20)
			for sc.Scan() {
				var entry map[string]any
				if json.Unmarshal(sc.Bytes(), &entry) == nil { // the login shell's chatter is not JSON
					lines <- entry
				}
			}
		}()
		// --since shows what came before the stream was open: no need to wait for it.
		if out, err := h.SSH(t, "sudo -n systemctl restart "+unit); err != nil {
			t.Fatalf("restarting %s: %v\n%s", unit, err, out)
		}

		want := map[string]*regexp.Regexp{
			"stopped":   regexp.MustCompile(`^Stopped `),
			"started":   regexp.MustCompile(`^Started `),
			"said":      regexp.MustCompile(`^flaky says hello$`),
			"exited":    regexp.MustCompile(`: Main process exited, code=exited, status=1/FAILURE$`),
			"scheduled": regexp.MustCompile(`: Scheduled restart job`),
		}
		seen := map[string]map[string]any{}
		deadline := time.After(15 * time.Second)
		for len(seen) < len(want) {
			select {
			case entry, ok := <-lines:
				if !ok {
					t.Fatalf("the journal stream ended; seen %v", keysOf(seen))
				}
				msg, _ := entry["MESSAGE"].(string)
				for kind, re := range want {
					if seen[kind] == nil && re.MatchString(msg) {
						seen[kind] = entry
					}
				}
			case <-deadline:
				t.Fatalf("within 15 s the journal stream showed only %v of %v", keysOf(seen), keysOf(want))
			}
		}
		for _, kind := range keysOf(seen) {
			// The fields the sender set; journald's own start with _, of which _PID and _SYSTEMD_UNIT matter here.
			e, fields := seen[kind], map[string]any{}
			for k, v := range seen[kind] {
				if !strings.HasPrefix(k, "_") && !strings.HasPrefix(k, "CODE_") {
					fields[k] = v
				}
			}
			text, _ := json.Marshal(fields)
			t.Logf("%s: _PID=%v _SYSTEMD_UNIT=%v %s", kind, e["_PID"], e["_SYSTEMD_UNIT"], text)
		}
		// systemd's own lines name the unit in UNIT and come from PID 1; the
		// unit's output names it in _SYSTEMD_UNIT, from its main process.
		for _, kind := range []string{"stopped", "started", "exited", "scheduled"} {
			if e := seen[kind]; e["UNIT"] != unit || e["_PID"] != "1" {
				t.Errorf("systemd's %q line has UNIT=%v _PID=%v, want UNIT=%s _PID=1", kind, e["UNIT"], e["_PID"], unit)
			}
		}
		if e := seen["said"]; e["_SYSTEMD_UNIT"] != unit || e["_PID"] == "1" || e["_PID"] == nil {
			t.Errorf("the unit's own line has _SYSTEMD_UNIT=%v _PID=%v, want %s and its main PID", e["_SYSTEMD_UNIT"], e["_PID"], unit)
		}
		if e := seen["exited"]; e["EXIT_CODE"] != "exited" || e["EXIT_STATUS"] != "1" {
			t.Errorf("the Main process exited line has EXIT_CODE=%v EXIT_STATUS=%v, want exited and 1", e["EXIT_CODE"], e["EXIT_STATUS"])
		}
	})
}

// installService installs a system unit running testsvc with the extra
// [Service] lines (and [Unit] lines), starts it, and stops it in the test's
// cleanup.
func installService(t *testing.T, h *SystemdHost, name, service, unit string) {
	t.Helper()
	h.InstallUnit(t, name, "[Unit]\nDescription=opsroom test "+name+"\n"+unit+"\n[Service]\nExecStart=/usr/local/bin/testsvc\n"+service+"\n")
	h.Systemctl(t, "start", name)
	t.Cleanup(func() { h.Systemctl(t, "stop", name) })
}

// sshOK runs command over SSH as the login user; a failure fails the test.
func sshOK(t *testing.T, h *SystemdHost, command string) string {
	t.Helper()
	out, err := h.SSH(t, command)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return out
}

func mainPID(t *testing.T, h *SystemdHost, unit string) string {
	t.Helper()
	return lastLine(sshOK(t, h, "systemctl show -p MainPID --value "+unit))
}

// lastLine is the last line of out, after the login shell's chatter.
func lastLine(out string) string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

func waitFor(t *testing.T, what string, timeout time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, timeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func keysOf[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
