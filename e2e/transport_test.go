package e2e

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/opsroom/opsroom/internal/testworld"
)

// The transport tests: how opsroom shares its one SSH connection per host.

// TestCommandsQueueForTheHostsSessions: with max_sessions 2 and the watcher's
// event stream holding one of them, six commands sent at once wait in line for
// the other, and all are answered; the sshd (OpenSSH's default of 10 sessions)
// never sees more than two sessions of opsroom at once.
func TestCommandsQueueForTheHostsSessions(t *testing.T) {
	// given a host with two sessions for opsroom, one of them the event stream
	w := watchWorld(t)
	w.matrix = map[string]any{"max_concurrent_jobs": 8} // the commands all reach the host at once
	c := testworld.RunContainer(t, testworld.UniqueName(t, "web"), map[string]string{"LINES": "12"})
	eventually(t, "the service printing its 12 lines", func() bool {
		return strings.Contains(testworld.Docker(t, "logs", c.Name), "log line 12")
	})
	h := w.localHost()
	h["max_sessions"] = 2
	o := w.startOpsroom(t, map[string]host{"local": h}, map[string]service{"web": containerService(c)})
	w.waitWatching(t, true)
	sessions := watchSessions(t, w.sshd.Addr)

	// when six commands come at once
	asked := []string{"!status web", "!logs web 5", "!status web", "!logs web 5", "!status web", "!logs web 5"}
	var sent []id.EventID
	for _, text := range asked {
		sent = append(sent, w.say(t, w.alice, text))
	}

	// then each is answered as if it were alone
	for i, text := range asked {
		got := w.waitReply(t, sent[i], text)
		for _, bad := range []string{"unreachable", "connection lost", "refused", "no SSH session free"} {
			if strings.Contains(got, bad) {
				t.Errorf("%q (#%d) answered %q:\n%s", text, i+1, bad, got)
			}
		}
		if strings.HasPrefix(text, "!status") {
			mustContain(t, text, got, "web", "running")
		} else {
			mustContain(t, text, got, "log line 8", "log line 12")
		}
	}
	peak, tree := sessions.stop()
	if peak != 2 {
		t.Errorf("the sshd saw at most %d sessions of opsroom at once, want 2 (the stream and one command); its processes at the peak:\n%s", peak, tree)
	}
	// and the event stream outlived the rush
	w.waitWatching(t, true)
	if log := o.log(); strings.Contains(log, "refused a session") {
		t.Errorf("the sshd refused a session:\n%s", log)
	}
}

// TestCheckConfigRefusesAJumpCycle: hosts that jump through each other pass
// no config check; hosts that jump in a line do.
func TestCheckConfigRefusesAJumpCycle(t *testing.T) {
	testworld.Short(t)
	bin := testworld.GoBinary(t, "./cmd/opsroom")
	check := func(jumps string) (int, string) {
		t.Helper()
		path := filepath.Join(t.TempDir(), "config.yaml")
		cfg := `matrix:
  homeserver: https://matrix.example.org
  user_id: "@opsroom:example.org"
  password: not-a-real-password
  rooms: ["!ops:example.org"]
  encryption: {pickle_key: not-a-real-pickle-key}
access:
  operators: ["@alice:example.org"]
hosts:
  alpha: {address: 10.0.0.1, user: deploy, use_agent: true, known_hosts: /nonexistent/known_hosts` + jumps + `
services:
  web: {host: alpha, kind: container, container: web}
`
		if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(bin, "-config", path, "-check-config").CombinedOutput()
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			return exitErr.ExitCode(), string(out)
		} else if err != nil {
			t.Fatalf("running %s: %v", bin, err)
		}
		return 0, string(out)
	}

	code, out := check(`, jump: beta}
  beta: {address: 10.0.0.2, user: deploy, use_agent: true, known_hosts: /nonexistent/known_hosts, jump: alpha}`)
	if code == 0 {
		t.Fatalf("a jump cycle passed the config check:\n%s", out)
	}
	mustContain(t, "check of a jump cycle", out, "hosts.alpha.jump: jump hosts form a cycle: alpha -> beta -> alpha")

	code, out = check(`, jump: beta}
  beta: {address: 10.0.0.2, user: deploy, use_agent: true, known_hosts: /nonexistent/known_hosts}`)
	if code != 0 || !strings.Contains(out, "ok (2 hosts") {
		t.Errorf("a host behind a jump host: exit %d, want 0 and ok:\n%s", code, out)
	}
}

// sessionWatch samples, on the sshd's side, how many sessions are open: the
// processes a session runs are the great-grandchildren of the listening sshd
// (listener, then per connection the privileged monitor and the user's
// sshd, then each session's command).
type sessionWatch struct {
	done chan struct{}
	wg   sync.WaitGroup
	peak int
	tree string
}

func watchSessions(t testing.TB, addr string) *sessionWatch {
	t.Helper()
	listener := sshdListening(t, addr)
	s := &sessionWatch{done: make(chan struct{})}
	s.wg.Go(func() {
		for {
			children := processTree()
			var sessions []int
			for _, conn := range children[listener] {
				for _, user := range children[conn] {
					sessions = append(sessions, children[user]...)
				}
			}
			if len(sessions) > s.peak {
				s.peak = len(sessions)
				s.tree = describe(sessions)
			}
			select {
			case <-s.done:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	})
	t.Cleanup(func() { s.stop() })
	return s
}

func (s *sessionWatch) stop() (peak int, tree string) {
	select {
	case <-s.done:
	default:
		close(s.done)
	}
	s.wg.Wait()
	return s.peak, s.tree
}

// sshdListening finds the sshd serving addr by the Port line of the config file it was started with.
func sshdListening(t testing.TB, addr string) int {
	t.Helper()
	_, port, _ := strings.Cut(addr, ":")
	for pid := range processTree() {
		// sshd retitles itself: "sshd: /usr/sbin/sshd -D -e -f FILE [listener] ...".
		args := strings.Fields(strings.ReplaceAll(readProc(pid, "cmdline"), "\x00", " "))
		if !slices.Contains(args, "/usr/sbin/sshd") {
			continue
		}
		for i, arg := range args[:len(args)-1] {
			if arg != "-f" {
				continue
			}
			if config, err := os.ReadFile(args[i+1]); err == nil && strings.Contains(string(config), "Port "+port+"\n") {
				return pid
			}
		}
	}
	t.Fatalf("no sshd process serves %s", addr)
	return 0
}

// processTree maps each process to its children.
func processTree() map[int][]int {
	entries, _ := os.ReadDir("/proc")
	children := map[int][]int{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat := readProc(pid, "stat")
		// After the command name (which may hold spaces): state, then the parent's pid.
		fields := strings.Fields(stat[strings.LastIndexByte(stat, ')')+1:])
		if len(fields) < 2 {
			continue
		}
		if ppid, err := strconv.Atoi(fields[1]); err == nil {
			children[ppid] = append(children[ppid], pid)
		}
	}
	return children
}

func readProc(pid int, file string) string {
	data, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), file))
	return string(data)
}

func describe(pids []int) string {
	var b strings.Builder
	for _, pid := range pids {
		fmt.Fprintf(&b, "%d %s\n", pid, firstN(strings.ReplaceAll(readProc(pid, "cmdline"), "\x00", " "), 120))
	}
	return b.String()
}

func firstN(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
