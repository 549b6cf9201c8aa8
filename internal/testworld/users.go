package testworld

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The users of a host shaped like our users' hosts: opsroom logs in over SSH
// as a non-root user (Login) that may act as the service owner through sudo;
// the owner (Owner, in the docker group) owns the checkouts, and its login
// shell is chatty, printing a line on stdout and one on stderr from both its
// .profile and its .bashrc, as motds, nvm and welcome banners do.
const (
	Login = "deploy"
	Owner = "svc"
	// DashLogin is a login user like Login whose login shell is /bin/sh
	// (dash on Debian), as on hosts that keep the system's default shell.
	DashLogin = "deploy-sh"
)

// Account is a user of this machine.
type Account struct {
	Name     string
	UID, GID int
	Home     string
}

// Chatter is what every test user's login shell prints before any command runs.
const (
	ProfileChatter = "Welcome to spark (profile)"
	BashrcChatter  = "Welcome to spark (bashrc)"
)

// sudoersFile holds the rule letting Login become each owner, the line the README prescribes.
const sudoersFile = "/etc/sudoers.d/opsroom-test"

// LoginUser is the non-root SSH login user, chatty too.
func LoginUser(t testing.TB) Account {
	t.Helper()
	return ensureUser(t, Login, "/bin/bash", "")
}

// DashLoginUser is DashLogin, who may become Owner through sudo as Login may.
func DashLoginUser(t testing.TB) Account {
	t.Helper()
	a := ensureUser(t, DashLogin, "/bin/sh", "")
	allowSudo(t, DashLogin, Owner)
	return a
}

// OwnerUser is the service owner, in the docker group, with its own
// ~/.docker/cli-plugins/docker-compose (Compose v2, opsroom's default).
func OwnerUser(t testing.TB) Account {
	t.Helper()
	return OwnerWith(t, Owner, "")
}

// OwnerWith is a service owner whose shells also run shellInit (from its
// .bashrc, which its .profile sources, so login shells and sshd's shells
// alike): a DOCKER_HOST that points nowhere, a PATH with other tools first.
// Login may become it through sudo.
func OwnerWith(t testing.TB, name, shellInit string) Account {
	t.Helper()
	a := ensureUser(t, name, "/bin/bash", shellInit, "docker")
	InstallComposePlugin(t, a.Home, a.UID, a.GID)
	allowSudo(t, Login, name)
	return a
}

// allowSudo lets login become owner through sudo, with the rule the README prescribes.
func allowSudo(t testing.TB, login, owner string) {
	t.Helper()
	err := withLock(sudoersFile+".lock", func() error {
		rule := fmt.Sprintf("%s ALL=(%s) NOPASSWD: ALL\n", login, owner)
		data, _ := os.ReadFile(sudoersFile)
		if strings.Contains(string(data), rule) {
			return nil
		}
		tmp := sudoersFile + ".new"
		if err := os.WriteFile(tmp, append(data, rule...), 0o440); err != nil {
			return err
		}
		if out, err := exec.Command("visudo", "-cf", tmp).CombinedOutput(); err != nil {
			return fmt.Errorf("visudo: %v: %s", err, out)
		}
		return os.Rename(tmp, sudoersFile)
	})
	if err != nil {
		t.Fatalf("sudoers rule for %s as %s: %v", login, owner, err)
	}
}

// ensureUser creates the user if it is missing and (re)writes its chatty
// dotfiles; users are shared by every test, so it works under a lock.
func ensureUser(t testing.TB, name, shell, shellInit string, groups ...string) Account {
	t.Helper()
	if os.Geteuid() != 0 {
		Missing(t, "the test world's host users need root (useradd, sudoers); CI runs as root")
	}
	var a Account
	err := withLock(filepath.Join(cacheDir(), "users.lock"), func() error {
		if _, err := user.Lookup(name); err != nil {
			// Password "*": no password logs in, but the account is not
			// locked (sshd without PAM refuses locked accounts, even by key).
			args := []string{"-m", "-s", shell, "-p", "*"}
			if len(groups) > 0 {
				args = append(args, "-G", strings.Join(groups, ","))
			}
			if out, err := exec.Command("useradd", append(args, name)...).CombinedOutput(); err != nil {
				return fmt.Errorf("useradd %s: %v: %s", name, err, out)
			}
		}
		u, err := user.Lookup(name)
		if err != nil {
			return err
		}
		a.Name, a.Home = name, u.HomeDir
		a.UID, _ = strconv.Atoi(u.Uid)
		a.GID, _ = strconv.Atoi(u.Gid)
		for file, content := range chattyDotfiles(shellInit) {
			path := filepath.Join(a.Home, file)
			if old, _ := os.ReadFile(path); string(old) == content {
				continue
			}
			if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
				return err
			}
			if err := os.Chown(path, a.UID, a.GID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("test user %s: %v", name, err)
	}
	return a
}

// chattyDotfiles are a test user's .profile and .bashrc: each prints a line
// on stdout and one on stderr, and .bashrc runs shellInit.
func chattyDotfiles(shellInit string) map[string]string {
	return map[string]string{
		// Debian's .profile sources .bashrc, so a login shell prints both.
		".profile": "echo '" + ProfileChatter + "'\necho 'profile: nvm is not installed' >&2\n" +
			"[ -n \"$BASH_VERSION\" ] && [ -f ~/.bashrc ] && . ~/.bashrc\n",
		".bashrc": "echo '" + BashrcChatter + "'\necho 'bashrc: motd' >&2\n" + shellInit + "\n",
	}
}

// Chown gives path and everything under it to a.
func (a Account) Chown(t testing.TB, path string) {
	t.Helper()
	if _, err := run("", "chown", "-R", fmt.Sprintf("%d:%d", a.UID, a.GID), path); err != nil {
		t.Fatal(err)
	}
}

// Dir makes a directory that a owns, in a place every user can reach (a
// test's TempDir is root's alone); the test's cleanup removes it.
func (a Account) Dir(t testing.TB) string {
	t.Helper()
	dir := sharedDir(t, a.Name+"-")
	a.Chown(t, dir)
	return dir
}

// sharedDir makes a directory every user may read, removed in the test's cleanup.
func sharedDir(t testing.TB, prefix string) string {
	t.Helper()
	base := "/srv/opsroom-test"
	if err := os.MkdirAll(base, 0o755); err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp(base, prefix)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

// Run runs a program as a, and
// returns its stdout; a failure fails the test.
func (a Account) Run(t testing.TB, dir string, name string, args ...string) string {
	t.Helper()
	out, err := run(dir, "runuser", append([]string{"-u", a.Name, "--", name}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
