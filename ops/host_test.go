package ops

import (
	"errors"
	"os/exec"
	"testing"

	"github.com/opsroom/opsroom/internal/testworld"
)

// onHost runs cmd as opsroom runs it on a host, with everything but the SSH
// transport real: the exact command line opsroom sends, started the way sshd
// starts it (the login user's bash -c, with the environment sshd gives, which
// makes bash read the user's chatty .bashrc), through the real sudo -iu and
// the owner's login shell when h has run_as, and read back through the same
// envelope. The login user is h.User, by default testworld.Login.
func onHost(t testing.TB, h *HostConfig, cmd string, o runOpts) (RunResult, error) {
	t.Helper()
	testworld.Short(t)
	login := h.User
	if login == "" {
		login = testworld.LoginUser(t).Name
	}
	if h.Name == "" {
		h.Name = "local"
	}
	c := newCapture(o)
	line := c.env.commandLine(h, cmd)
	proc := exec.Command("runuser", "-u", login, "--", "bash", "-c", line)
	proc.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8", "SSH_CLIENT=127.0.0.1 40000 22", "SSH_CONNECTION=127.0.0.1 40000 127.0.0.1 22"}
	proc.Dir = "/"
	proc.Stdout, proc.Stderr = c.stdout, c.stderr
	err := proc.Run()
	var exitErr *exec.ExitError
	exit := 0
	switch {
	case err == nil:
	case errors.As(err, &exitErr):
		exit = exitErr.ExitCode()
	default:
		t.Fatalf("running %q: %v", line, err)
	}
	return c.result(h.Name, exit)
}

// runAsOwner is a host whose commands run as the service owner through sudo.
func runAsOwner(t testing.TB) *HostConfig {
	t.Helper()
	testworld.Short(t)
	testworld.OwnerUser(t)
	return &HostConfig{Name: "spark", RunAs: testworld.Owner, ComposeCommand: "docker compose"}
}

// direct is a host whose commands run as the login user itself.
func direct() *HostConfig {
	return &HostConfig{Name: "spark", ComposeCommand: "docker compose"}
}
