package e2e

import (
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/opsroom/opsroom/internal/testworld"
)

// TestDeploySystemdUnit installs opsroom on a booted systemd host exactly as
// the install steps at the top of contrib/opsroom.service say, and starts it
// there: it runs as its own user, keeps its database in its StateDirectory,
// answers in the room, is started again by systemd after a crash, stops
// cleanly, writes plain lines to the journal, and systemd-analyze rates its
// hardening.
//
// The test homeserver listens on this machine's loopback, which the
// container cannot reach; a forwarder on the Docker bridge's gateway address
// (this machine, as the container sees it) carries opsroom's requests to it,
// so the installed opsroom logs in, syncs and answers for real instead of
// only failing against an unreachable homeserver.
func TestDeploySystemdUnit(t *testing.T) {
	w := newWorld(t)
	h := testworld.StartSystemdHost(t)
	h.InstallUnit(t, "web.service", unitFile("LINES=3", ""))
	h.Systemctl(t, "start", "web.service")
	gateway := testworld.Inspect(t, h.Name, "{{.NetworkSettings.Gateway}}")
	homeserver := "http://" + forwardTCP(t, gateway, strings.TrimPrefix(w.hs.URL, "http://"))

	// What a user has in hand: the binary, the contrib files, a config, the
	// bot's SSH key and the host's pinned key.
	stage := t.TempDir()
	buildStatic(t, filepath.Join(stage, "opsroom"))
	for _, f := range []string{"opsroom.service", "opsroom.sysusers"} {
		copyFile(t, filepath.Join("..", "contrib", f), filepath.Join(stage, "contrib", f))
	}
	copyFile(t, h.IdentityFile, filepath.Join(stage, "id_ed25519"))
	copyFile(t, h.KnownHosts, filepath.Join(stage, "known_hosts"))
	cfg, err := yaml.Marshal(map[string]any{
		"matrix": map[string]any{
			"homeserver": homeserver,
			"user_id":    w.botID,
			"password":   w.botPassword, // inline: the file is readable by root and opsroom only
			"rooms":      []string{w.room.String()},
			"encryption": map[string]any{"pickle_key": testPickleKey},
		},
		"access": map[string]any{"operators": []string{w.alice.UserID.String()}},
		"hosts": map[string]any{"self": map[string]any{
			"address":       h.Addr,
			"user":          h.User,
			"identity_file": "/etc/opsroom/id_ed25519",
			"known_hosts":   "/etc/opsroom/known_hosts",
		}},
		"services": map[string]any{"web": map[string]any{"host": "self", "kind": "systemd", "unit": "web.service"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(stage, "config.yaml"), string(cfg))
	testworld.Docker(t, "cp", stage, h.Name+":/root/opsroom-install")

	// When root runs the unit's own install steps,
	steps := installSteps(t, filepath.Join(stage, "contrib", "opsroom.service"))
	t.Logf("the install steps of contrib/opsroom.service:\n%s", steps)
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), steps) {
		t.Errorf("README.md does not give the unit's install steps as they are:\n%s", steps)
	}
	if out, err := hostRun(h, "set -ex; cd /root/opsroom-install; "+steps); err != nil {
		t.Fatalf("installing as the unit says: %v\n%s", err, out)
	}

	// then systemd finds nothing wrong with the unit,
	if out, err := hostRun(h, "systemd-analyze verify /etc/systemd/system/opsroom.service"); err != nil || strings.Contains(out, "opsroom") {
		t.Errorf("systemd-analyze verify opsroom.service: %v\n%s", err, out)
	}
	// opsroom starts and gets ready,
	waitJournal(t, h, "Ready: listening for commands", 1)
	pid := h.Systemctl(t, "show", "-p", "MainPID", "--value", "opsroom.service")

	// as its own user, not root,
	uid := h.Exec(t, "id", "-u", "opsroom")
	if uid == "0" || uid == "" {
		t.Fatalf("the opsroom user has uid %q", uid)
	}
	status := h.Exec(t, "cat", "/proc/"+pid+"/status")
	if m := regexp.MustCompile(`(?m)^Uid:\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)$`).FindStringSubmatch(status); m == nil ||
		m[1] != uid || m[2] != uid || m[3] != uid || m[4] != uid {
		t.Errorf("opsroom (pid %s) does not run as the opsroom user (uid %s) alone:\n%s", pid, uid, status)
	}
	if nnp := regexp.MustCompile(`(?m)^NoNewPrivs:\s+1$`); !nnp.MatchString(status) {
		t.Errorf("opsroom (pid %s) may gain privileges (NoNewPrivs not set)", pid)
	}
	// with its database in its state directory, its own,
	if got := h.Exec(t, "stat", "-c", "%U %a", "/var/lib/opsroom", "/var/lib/opsroom/opsroom.db"); got != "opsroom 700\nopsroom 600" {
		t.Errorf("the state directory and database: %q, want owned by opsroom, 700 and 600", got)
	}
	// and answers in the room, its SSH key and config where the unit says.
	mustContain(t, "!status web from the installed opsroom", w.ask(t, w.alice, "!status web"), "**running**", "web.service")

	// A crash is started again by systemd (Restart=on-failure),
	h.Exec(t, "kill", "-KILL", pid)
	waitJournal(t, h, "Ready: listening for commands", 2)
	if n := h.Systemctl(t, "show", "-p", "NRestarts", "--value", "opsroom.service"); n != "1" {
		t.Errorf("NRestarts after a kill is %s, want 1", n)
	}
	mustContain(t, "!status web after a restart", w.ask(t, w.alice, "!status web"), "**running**")
	// and a stop is clean.
	h.Systemctl(t, "stop", "opsroom.service")
	if got := h.Systemctl(t, "show", "-p", "Result", "-p", "ExecMainStatus", "opsroom.service"); got != "Result=success\nExecMainStatus=0" {
		t.Errorf("after systemctl stop: %q, want a clean exit", got)
	}

	// The journal holds opsroom's own lines, plain: no escape codes.
	journal := h.Exec(t, "journalctl", "-u", "opsroom.service", "-o", "cat", "--no-pager")
	mustContain(t, "the journal", journal, "INF Starting opsroom", "Ready: listening for commands")
	if i := strings.IndexByte(journal, 0x1b); i >= 0 {
		t.Errorf("the journal has escape codes, from %q", journal[max(0, i-80):min(len(journal), i+80)])
	}

	// How exposed the service is, in systemd's words (0 to 10, lower is better).
	report := h.Exec(t, "systemd-analyze", "security", "--no-pager", "opsroom.service")
	m := regexp.MustCompile(`Overall exposure level for opsroom.service: ([0-9.]+) (\S+)`).FindStringSubmatch(report)
	if m == nil {
		t.Fatalf("systemd-analyze security says:\n%s", report)
	}
	var exposed []string
	for _, line := range strings.Split(report, "\n") {
		if strings.HasPrefix(line, "✗") {
			exposed = append(exposed, strings.Join(strings.Fields(line), " "))
		}
	}
	t.Logf("systemd-analyze security opsroom.service: exposure %s %s; what is left open:\n%s", m[1], m[2], strings.Join(exposed, "\n"))
	if level, _ := strconv.ParseFloat(m[1], 64); level > 2.0 {
		t.Errorf("exposure level %s %s, want 2.0 or lower", m[1], m[2])
	}
}

// installSteps are the commands in the install comment at the top of a unit
// file (the indented lines after "Install"), but the one that follows the
// journal for ever.
func installSteps(t *testing.T, unit string) string {
	t.Helper()
	data, err := os.ReadFile(unit)
	if err != nil {
		t.Fatal(err)
	}
	var steps []string
	inInstall := false
	for _, line := range strings.Split(string(data), "\n") {
		switch {
		case strings.HasPrefix(line, "# Install"):
			inInstall = true
		case inInstall && strings.HasPrefix(line, "#   "):
			if cmd := strings.TrimPrefix(line, "#   "); !strings.HasPrefix(cmd, "journalctl") {
				steps = append(steps, cmd)
			}
		case inInstall:
			inInstall = len(steps) == 0
		}
	}
	if len(steps) == 0 {
		t.Fatalf("%s has no install steps", unit)
	}
	return strings.Join(steps, "\n") + "\n"
}

// hostRun runs a shell script as root in the systemd host and returns its
// output, stdout and stderr together.
func hostRun(h *testworld.SystemdHost, script string) (string, error) {
	out, err := exec.Command("docker", "exec", h.Name, "bash", "-c", script).CombinedOutput()
	return string(out), err
}

// waitJournal waits until the journal of opsroom.service holds n lines
// containing text.
func waitJournal(t *testing.T, h *testworld.SystemdHost, text string, n int) {
	t.Helper()
	deadline := time.Now().Add(replyTimeout)
	for {
		journal, _ := hostRun(h, "journalctl -u opsroom.service -o cat --no-pager")
		if strings.Count(journal, text) >= n {
			return
		}
		if time.Now().After(deadline) {
			status, _ := hostRun(h, "systemctl status --no-pager opsroom.service")
			t.Fatalf("%q not %d times in opsroom's journal after %s:\n%s\n%s", text, n, replyTimeout, status, journal)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// buildStatic builds opsroom as the README does: static, pure Go.
func buildStatic(t *testing.T, out string) {
	t.Helper()
	cmd := exec.Command("go", "build", "-tags", "goolm", "-o", out, "./cmd/opsroom")
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, to, string(data))
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// forwardTCP listens on ip (a free port) and carries each connection to
// upstream, both ways; it returns the address it listens on. The test's
// cleanup closes the listener and the connections.
func forwardTCP(t *testing.T, ip, upstream string) string {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatalf("listening on the Docker gateway %s: %v", ip, err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	track := func(c net.Conn) {
		mu.Lock()
		conns = append(conns, c)
		mu.Unlock()
	}
	go func() {
		for {
			in, err := l.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", upstream)
			if err != nil {
				in.Close()
				continue
			}
			track(in)
			track(out)
			go func() { _, _ = io.Copy(out, in); out.Close() }()
			go func() { _, _ = io.Copy(in, out); in.Close() }()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().String()
}
