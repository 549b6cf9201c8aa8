package testworld

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// SSHD is Debian's OpenSSH server on a loopback port, configured as our
// users' hosts are: Debian's defaults (PAM, StrictModes, OpenSSH's own
// limits of 10 sessions per connection and 10:30:100 start-ups, which
// TestSSHDKeepsOpenSSHsDefaultLimits checks), root refused, only the login
// users allowed, and each account's own authorized keys: the client key
// (IdentityFile) logs in as User (the non-root Login) and as no one else
// unless a test authorizes it (AuthorizeOwner, Authorize). Its host key is
// pinned in KnownHosts and, hashed as `ssh-keyscan -H` writes it, in
// HashedKnownHosts.
type SSHD struct {
	Addr             string
	User             string
	IdentityFile     string
	KnownHosts       string
	HashedKnownHosts string

	dir, config, keysDir string
	proc                 *process
}

const sshdBinary = "/usr/sbin/sshd"

// StartSSHD starts an sshd shaped like users' hosts; the test's cleanup stops it.
func StartSSHD(t testing.TB) *SSHD {
	t.Helper()
	if _, err := os.Stat(sshdBinary); err != nil {
		t.Fatalf("%s not found: install openssh-server (test/run.sh does)", sshdBinary)
	}
	// sshd refuses to start without its privilege separation directory.
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	s := &SSHD{
		Addr:             fmt.Sprintf("127.0.0.1:%d", FreePort(t)),
		User:             LoginUser(t).Name,
		IdentityFile:     filepath.Join(dir, "id_ed25519"),
		KnownHosts:       filepath.Join(dir, "known_hosts"),
		HashedKnownHosts: filepath.Join(dir, "known_hosts.hashed"),
		dir:              dir,
		config:           filepath.Join(dir, "sshd_config"),
		// sshd reads the keys as the user logging in, and StrictModes wants
		// root's or the user's own files: not in root's TempDir.
		keysDir: sharedDir(t, "sshd-"),
	}
	OwnerUser(t)
	DashLoginUser(t)
	hostKey := filepath.Join(dir, "host_ed25519")
	keygen(t, hostKey)
	keygen(t, s.IdentityFile)
	s.Authorize(t, s.User)
	pin(t, s.KnownHosts, hostKey+".pub", s.Addr)
	pinHashed(t, s.HashedKnownHosts, hostKey+".pub", s.Addr)

	_, port, _ := strings.Cut(s.Addr, ":")
	// Debian's sshd_config, with the port, keys and files of this server and
	// the two lines a careful admin adds: no root, only the login users.
	writeFile(t, s.config, strings.Join([]string{
		"Port " + port,
		"ListenAddress 127.0.0.1",
		"HostKey " + hostKey,
		"PidFile " + filepath.Join(dir, "sshd.pid"),
		"AuthorizedKeysFile " + filepath.Join(s.keysDir, "%u"),
		"KbdInteractiveAuthentication no",
		"UsePAM yes",
		"X11Forwarding yes",
		"PrintMotd no",
		"AcceptEnv LANG LC_*",
		"Subsystem sftp /usr/lib/openssh/sftp-server",
		"PermitRootLogin no",
		"AllowUsers " + strings.Join([]string{Login, DashLogin, Owner}, " "),
		"PasswordAuthentication no",
		"LogLevel VERBOSE",
		"",
	}, "\n"), 0o600)
	s.Start(t)
	t.Cleanup(func() {
		s.proc.stop()
		if t.Failed() {
			t.Logf("sshd %s log:\n%s", s.Addr, tail(s.proc.log(), 30))
		}
	})
	return s
}

// Authorize lets the client key log in as user too.
func (s *SSHD) Authorize(t testing.TB, user string) {
	t.Helper()
	pub, err := os.ReadFile(s.IdentityFile + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(s.keysDir, user), string(pub), 0o644)
}

// AuthorizeOwner lets the client key log in as the service owner, for the
// one kind of host that is reached so (a direct login, no run_as).
func (s *SSHD) AuthorizeOwner(t testing.TB) { s.Authorize(t, Owner) }

// LoggedIn lists the accounts that logged in, one entry per login, as sshd's
// log says ("Accepted publickey for deploy from ...").
func (s *SSHD) LoggedIn() []string {
	var out []string
	for _, line := range strings.Split(s.proc.log(), "\n") {
		if _, rest, ok := strings.Cut(line, "Accepted publickey for "); ok {
			user, _, _ := strings.Cut(rest, " ")
			out = append(out, user)
		}
	}
	return out
}

// Start starts the sshd (again), on the same port with the same keys.
func (s *SSHD) Start(t testing.TB) {
	t.Helper()
	proc, err := startProcess(sshdBinary, filepath.Join(s.dir, "sshd.log"), "-D", "-e", "-f", s.config)
	if err != nil {
		t.Fatal(err)
	}
	s.proc = proc
	if err := waitTCP(s.Addr, 10*time.Second); err != nil {
		t.Fatalf("sshd: %v\n%s", err, proc.log())
	}
}

// Stop stops the sshd and cuts its open connections: the host is then
// unreachable, as when the machine goes down. (Stopping the listener alone
// leaves established sessions running: each is its own session leader.)
func (s *SSHD) Stop(t testing.TB) {
	t.Helper()
	for _, pid := range childPIDs(s.proc.cmd.Process.Pid) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	s.proc.stop()
}

// childPIDs lists the processes whose parent is pid.
func childPIDs(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// The fields after the command name (which may hold spaces) start with: state ppid.
		fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		if len(fields) > 1 && fields[1] == strconv.Itoa(pid) {
			out = append(out, child)
		}
	}
	return out
}

// Sessions counts the sessions that ran a command since the sshd started:
// the "Starting session: command" lines its LogLevel VERBOSE writes, one per
// remote exec, whichever connection it came on.
func (s *SSHD) Sessions() int {
	return strings.Count(s.proc.log(), "Starting session: command ")
}

// WrongKnownHosts returns a known_hosts file that pins a different key for this address.
func (s *SSHD) WrongKnownHosts(t testing.TB) string {
	t.Helper()
	other := filepath.Join(t.TempDir(), "other_host_ed25519")
	keygen(t, other)
	path := filepath.Join(filepath.Dir(other), "wrong_known_hosts")
	pin(t, path, other+".pub", s.Addr)
	return path
}

// KnownHostsFor returns a known_hosts file that pins this sshd's key for
// another address: a proxy in front of it.
func (s *SSHD) KnownHostsFor(t testing.TB, addr string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "known_hosts")
	pin(t, path, filepath.Join(s.dir, "host_ed25519.pub"), addr)
	return path
}

// pin writes a known_hosts file with the public key in pubFile for addr.
func pin(t testing.TB, path, pubFile, addr string) {
	t.Helper()
	pub, err := os.ReadFile(pubFile)
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := strings.Cut(addr, ":")
	// ssh looks a host on port 22 up by its bare name (as knownhosts.Normalize
	// writes it): an entry for "[host]:22", or its hash, would never match.
	name := host
	if port != "22" {
		name = fmt.Sprintf("[%s]:%s", host, port)
	}
	fields := strings.Fields(string(pub))
	writeFile(t, path, fmt.Sprintf("%s %s %s\n", name, fields[0], fields[1]), 0o644)
}

// pinHashed is pin with the host name hashed, as `ssh-keyscan -H` writes it
// and as users' known_hosts files mostly are (HashKnownHosts yes).
func pinHashed(t testing.TB, path, pubFile, addr string) {
	t.Helper()
	pin(t, path, pubFile, addr)
	if _, err := run("", "ssh-keygen", "-q", "-H", "-f", path); err != nil {
		t.Fatal(err)
	}
	_ = os.Remove(path + ".old")
	if data, _ := os.ReadFile(path); !strings.HasPrefix(string(data), "|1|") {
		t.Fatalf("ssh-keygen -H left %s unhashed: %q", path, data)
	}
}

func keygen(t testing.TB, path string) {
	t.Helper()
	if _, err := run("", "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "opsroom-test", "-f", path); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t testing.TB, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}
