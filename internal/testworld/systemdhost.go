package testworld

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// SystemdHost is a Debian machine that boots systemd, run as a Docker
// container of the image test/systemd-image.sh builds (OPSROOM_SYSTEMD_IMAGE),
// reached over its own sshd on the container's address, port 22. It is shaped
// like our users' hosts: opsroom logs in as the non-root User (Login, in
// group systemd-journal, so it reads the journal without sudo), which may
// become the service owner Owner (svc, lingering, so its user manager runs
// user units) and, through the exact lines AllowUnits writes, restart, stop
// and start the registered system units as root. Its sshd has Debian's
// defaults, and a host key made for this run, pinned in KnownHosts and, hashed,
// in HashedKnownHosts. IdentityFile logs in as User, and as Owner directly.
// Units can run /usr/local/bin/testsvc, the test service.
type SystemdHost struct {
	Name             string // the container
	Addr             string // IP:22
	User             string
	IdentityFile     string
	KnownHosts       string
	HashedKnownHosts string
	Owner            string
	OwnerUID         int
}

// SystemdImageEnv names the image of the systemd host; test/setup.sh builds
// it and sets it.
const SystemdImageEnv = "OPSROOM_SYSTEMD_IMAGE"

// ownerSudoers holds the rules of Login on a systemd host, at the path the
// README tells users to write them to.
const ownerSudoers = "/etc/sudoers.d/opsroom"

// StartSystemdHost boots a systemd host and returns once systemd has
// finished booting, the owner's user manager runs and Login has logged in
// over SSH; the test's cleanup removes it. Booting takes seconds: tests that
// can share one host should.
func StartSystemdHost(t testing.TB) *SystemdHost {
	t.Helper()
	Short(t)
	image := os.Getenv(SystemdImageEnv)
	if image == "" {
		Missing(t, "%s is not set: source test/setup.sh, which builds the systemd host's image (once; it takes minutes)", SystemdImageEnv)
	}
	RequireDocker(t)
	if _, err := run("", "docker", "image", "inspect", image); err != nil {
		Missing(t, "the systemd host's image %s is missing: run test/setup.sh, which builds it (it takes minutes)", image)
	}
	dir := t.TempDir()
	h := &SystemdHost{
		Name:             UniqueName(t, "systemd"),
		User:             Login,
		Owner:            Owner,
		IdentityFile:     filepath.Join(dir, "id_ed25519"),
		KnownHosts:       filepath.Join(dir, "known_hosts"),
		HashedKnownHosts: filepath.Join(dir, "known_hosts.hashed"),
	}
	hostKey := filepath.Join(dir, "ssh_host_ed25519_key")
	keygen(t, hostKey)
	keygen(t, h.IdentityFile)

	t.Cleanup(func() {
		if t.Failed() {
			out, _ := run("", "docker", "exec", h.Name, "journalctl", "-n", "40", "--no-pager")
			t.Logf("systemd host %s, the end of its journal:\n%s", h.Name, out)
		}
		_, _ = run("", "docker", "rm", "-f", "-v", h.Name)
	})
	// --privileged fails on these machines ("unable to apply caps");
	// SYS_ADMIN and no seccomp filter are what systemd needs to boot. The
	// owner's rootless podman mounts a fresh /proc in each container, which the
	// kernel refuses while Docker masks parts of this one (crun: "mount `proc`
	// to `proc`: Operation not permitted"): systempaths=unconfined unmasks it.
	// The rootless bridge network of a compose project is slirp4netns's
	// tap device, which needs /dev/net/tun.
	Docker(t, "create", "--name", h.Name, "--label", "opsroom-test=1",
		"--cap-add", "SYS_ADMIN", "--security-opt", "seccomp=unconfined", "--security-opt", "systempaths=unconfined",
		"--device", "/dev/net/tun",
		"-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw", "--tmpfs", "/run", "--tmpfs", "/run/lock",
		"-e", "container=docker", image, "/lib/systemd/systemd")
	// In place before boot, so ssh.service starts with this run's key.
	Docker(t, "cp", hostKey, h.Name+":/etc/ssh/ssh_host_ed25519_key")
	Docker(t, "cp", hostKey+".pub", h.Name+":/etc/ssh/ssh_host_ed25519_key.pub")
	Docker(t, "cp", testsvcBinary(t), h.Name+":/usr/local/bin/testsvc")
	Docker(t, "start", h.Name)
	booting := time.Now()
	h.Addr = Inspect(t, h.Name, "{{.NetworkSettings.IPAddress}}") + ":22"
	h.waitBooted(t)
	// systemd makes / a shared mount when it boots a machine, not in a
	// container; rootless podman warns at every command without it.
	h.Exec(t, "mount", "--make-rshared", "/")
	// --device keeps this machine's mode of /dev/net/tun (0600 here); udev
	// makes it 0666 on a real host, and the owner's slirp4netns opens it.
	h.Exec(t, "chmod", "666", "/dev/net/tun")
	t.Logf("systemd host %s at %s booted in %s", h.Name, h.Addr, time.Since(booting).Round(100*time.Millisecond))

	key, err := os.ReadFile(h.IdentityFile + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	dotfiles := chattyDotfiles("")
	uid := h.execEnv(t, []string{
		"LOGIN=" + Login, "OWNER=" + Owner, "KEY=" + strings.TrimSpace(string(key)),
		"PROFILE=" + dotfiles[".profile"], "BASHRC=" + dotfiles[".bashrc"],
		"SUDOERS=" + sudoersFor(nil),
	}, "bash", "-c", usersScript)
	if h.OwnerUID, err = strconv.Atoi(strings.TrimSpace(uid)); err != nil {
		t.Fatalf("systemd host %s: the owner's uid: %q", h.Name, uid)
	}
	h.waitUserManager(t)

	pin(t, h.KnownHosts, hostKey+".pub", h.Addr)
	pinHashed(t, h.HashedKnownHosts, hostKey+".pub", h.Addr)
	if out, err := h.SSH(t, "true"); err != nil {
		t.Fatalf("systemd host %s: %s cannot log in over ssh: %v\n%s", h.Name, Login, err, out)
	}
	return h
}

// usersScript makes the host's users (see SystemdHost), with chatty login
// shells like the world's other hosts, and lets the owner linger.
const usersScript = `set -euo pipefail
useradd -m -s /bin/bash -p '*' -G systemd-journal "$LOGIN"
useradd -m -s /bin/bash -p '*' "$OWNER"
for u in "$LOGIN" "$OWNER"; do
	home=$(getent passwd "$u" | cut -d: -f6)
	printf '%s' "$PROFILE" >"$home/.profile"
	printf '%s' "$BASHRC" >"$home/.bashrc"
	chown "$u:" "$home/.profile" "$home/.bashrc"
done
# The key logs in as the login user alone: the owner is reached through sudo.
home=$(getent passwd "$LOGIN" | cut -d: -f6)
install -d -m 700 -o "$LOGIN" -g "$LOGIN" "$home/.ssh"
printf '%s\n' "$KEY" >"$home/.ssh/authorized_keys"
chown "$LOGIN:" "$home/.ssh/authorized_keys"
chmod 600 "$home/.ssh/authorized_keys"
printf '%s' "$SUDOERS" >` + ownerSudoers + `.new
chmod 440 ` + ownerSudoers + `.new
visudo -qcf ` + ownerSudoers + `.new
mv ` + ownerSudoers + `.new ` + ownerSudoers + `
loginctl enable-linger "$OWNER"
id -u "$OWNER"
`

// waitBooted waits until systemd says the system is up: running, or
// degraded (its failed units are logged, the test goes on).
func (h *SystemdHost) waitBooted(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	var state string
	for time.Now().Before(deadline) {
		// It exits non-zero for every state but running; the state is on stdout.
		out, _ := run("", "docker", "exec", h.Name, "systemctl", "is-system-running")
		switch state = strings.TrimSpace(out); state {
		case "running":
			return
		case "degraded":
			failed, _ := run("", "docker", "exec", h.Name, "systemctl", "--failed", "--no-legend", "--plain")
			t.Logf("systemd host %s booted degraded; failed units:\n%s", h.Name, failed)
			return
		case "maintenance", "stopping":
			deadline = time.Time{}
		}
		// "offline" too until systemd answers on its bus, early in the boot.
		time.Sleep(200 * time.Millisecond)
	}
	logs, _ := exec.Command("docker", "logs", "--tail", "30", h.Name).CombinedOutput()
	t.Fatalf("systemd host %s did not boot: systemctl is-system-running says %q; its console:\n%s", h.Name, state, logs)
}

// waitUserManager waits until the owner's user manager, which linger
// starts, runs.
func (h *SystemdHost) waitUserManager(t testing.TB) {
	t.Helper()
	unit := fmt.Sprintf("user@%d.service", h.OwnerUID)
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, _ := run("", "docker", "exec", h.Name, "systemctl", "is-active", unit)
		if strings.TrimSpace(out) == "active" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("systemd host %s: %s (the lingering owner's user manager) is %q after 30 s", h.Name, unit, strings.TrimSpace(out))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Exec runs a command as root in the host (docker exec) and returns its
// trimmed stdout; a failure fails the test.
func (h *SystemdHost) Exec(t testing.TB, args ...string) string {
	t.Helper()
	return h.execEnv(t, nil, args...)
}

func (h *SystemdHost) execEnv(t testing.TB, env []string, args ...string) string {
	t.Helper()
	cmd := []string{"exec"}
	for _, e := range env {
		cmd = append(cmd, "-e", e)
	}
	out, err := run("", "docker", append(append(cmd, h.Name), args...)...)
	if err != nil {
		t.Fatalf("systemd host %s: %v", h.Name, err)
	}
	return strings.TrimSpace(out)
}

// Systemctl runs systemctl as root in the host and returns its trimmed stdout.
func (h *SystemdHost) Systemctl(t testing.TB, args ...string) string {
	t.Helper()
	return h.Exec(t, append([]string{"systemctl"}, args...)...)
}

// UserSystemctl runs `systemctl --user` as the owner, against its user manager.
func (h *SystemdHost) UserSystemctl(t testing.TB, args ...string) string {
	t.Helper()
	out, err := run("", "docker", append([]string{"exec", "-u", h.Owner,
		"-e", fmt.Sprintf("XDG_RUNTIME_DIR=/run/user/%d", h.OwnerUID),
		h.Name, "systemctl", "--user"}, args...)...)
	if err != nil {
		t.Fatalf("systemd host %s: %v", h.Name, err)
	}
	return strings.TrimSpace(out)
}

// InstallUnit writes a system unit into /etc/systemd/system and reloads
// systemd; the test starts it. Mind systemd's own escapes in content:
// Environment= turns \n into a newline, so testsvc's SAY needs \\n.
func (h *SystemdHost) InstallUnit(t testing.TB, name, content string) {
	t.Helper()
	h.putFile(t, "root", "/etc/systemd/system/"+name, content)
	h.Systemctl(t, "daemon-reload")
}

// InstallUserUnit writes a user unit of the owner into its
// ~/.config/systemd/user, owned by it, and reloads its user manager.
func (h *SystemdHost) InstallUserUnit(t testing.TB, name, content string) {
	t.Helper()
	home := h.Exec(t, "sh", "-c", `getent passwd "$1" | cut -d: -f6`, "sh", h.Owner)
	h.putFile(t, h.Owner, home+"/.config/systemd/user/"+name, content)
	h.UserSystemctl(t, "daemon-reload")
}

// putFile writes content to path in the host as user, making its
// directories as that user too.
func (h *SystemdHost) putFile(t testing.TB, user, path, content string) {
	t.Helper()
	cmd := exec.Command("docker", "exec", "-i", "-u", user, h.Name,
		"sh", "-c", `mkdir -p "$(dirname "$1")" && cat >"$1"`, "sh", path)
	cmd.Stdin = strings.NewReader(content)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("systemd host %s: writing %s as %s: %v: %s", h.Name, path, user, err, out)
	}
}

// unitName is what AllowUnits puts in a sudoers line unescaped: sudoers gives
// , : = and \ meanings of their own.
var unitName = regexp.MustCompile(`^[A-Za-z0-9@._-]+$`)

// AllowUnits rewrites the host's sudoers file (/etc/sudoers.d/opsroom) with
// the rule letting Login become the owner and, for each unit and nothing
// else, exactly the restart, stop and start commands opsroom runs: the least
// a user grants. It replaces the units of an earlier call. sudo compares the
// arguments literally, so "web" and "web.service" are different units to it.
func (h *SystemdHost) AllowUnits(t testing.TB, units ...string) {
	t.Helper()
	for _, u := range units {
		if !unitName.MatchString(u) {
			t.Fatalf("AllowUnits: unit name %q has characters sudoers would need escaped", u)
		}
	}
	h.putFile(t, "root", ownerSudoers+".new", sudoersFor(units))
	h.Exec(t, "sh", "-c", "chmod 440 \"$1.new\" && visudo -qcf \"$1.new\" && mv \"$1.new\" \"$1\" && visudo -qc", "sh", ownerSudoers)
}

// sudoersFor is the sudoers file of a systemd host that allows units.
func sudoersFor(units []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s ALL=(%s) NOPASSWD: ALL\n", Login, Owner)
	for _, u := range units {
		fmt.Fprintf(&b, "%s ALL=(root) NOPASSWD: /usr/bin/systemctl restart %s, /usr/bin/systemctl stop %s, /usr/bin/systemctl start %s\n", Login, u, u, u)
	}
	return b.String()
}

// SSH runs command on the host over SSH as User, with the hashed pin, as
// opsroom reaches it, and returns its stdout (the login shell's chatter
// included); the error carries stderr.
func (h *SystemdHost) SSH(t testing.TB, command string) (string, error) {
	t.Helper()
	cmd := exec.Command("ssh", h.SSHArgs(command)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("ssh %s@%s %q: %v: %s", h.User, h.Addr, command, err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// SSHArgs are the arguments of an ssh command line that runs command on the
// host as SSH does, for a test that needs the process itself (a stream).
func (h *SystemdHost) SSHArgs(command string) []string {
	host, _, _ := strings.Cut(h.Addr, ":")
	return []string{"-i", h.IdentityFile, "-o", "UserKnownHostsFile=" + h.HashedKnownHosts,
		"-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10",
		h.User + "@" + host, command}
}
