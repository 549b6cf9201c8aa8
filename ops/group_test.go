package ops

import (
	"bytes"
	"errors"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestGroupTapTakesTheIDAndPassesTheRestOn(t *testing.T) {
	var rest bytes.Buffer
	g := &groupTap{next: &rest}
	for _, chunk := range []string{"opsroom-pg", "id=4242\nfirst err", "or line\n"} {
		_, _ = g.Write([]byte(chunk))
	}
	if g.id() != 4242 || rest.String() != "first error line\n" {
		t.Errorf("id %d, rest %q", g.id(), rest.String())
	}
	var plain bytes.Buffer
	h := &groupTap{next: &plain}
	_, _ = h.Write([]byte("no marker here\nmore\n"))
	if h.id() != 0 || plain.String() != "no marker here\nmore\n" {
		t.Errorf("without a marker stderr must pass unchanged: id %d, %q", h.id(), plain.String())
	}
}

// TestKillingTheGroupEndsEverythingTheCommandStarted runs the wrapping with a
// local bash, as the remote shell would, and checks that killing the group
// leaves no child behind.
func TestKillingTheGroupEndsEverythingTheCommandStarted(t *testing.T) {
	cmd := exec.Command("bash", "-c", groupCommand("sleep 61 & sleep 62; echo never"))
	var stderr bytes.Buffer
	tap := &groupTap{next: &stderr}
	cmd.Stderr = tap
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for tap.id() == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no group ID on stderr: %q", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	kill := exec.Command("bash", "-c", killGroupCommand(tap.id()))
	if out, err := kill.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v %s", killGroupCommand(tap.id()), err, out)
	}
	_ = cmd.Wait()
	// Killed children may linger as zombies until init reaps them: count only live ones.
	out, _ := exec.Command("ps", "-o", "pid=,stat=,args=", "-g", strconv.Itoa(tap.id())).Output()
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if f := strings.Fields(line); len(f) > 1 && !strings.HasPrefix(f[1], "Z") {
			t.Errorf("a process of the group still runs: %s", line)
		}
	}
}

func TestGroupedCommandKeepsItsExitCodeAndOutput(t *testing.T) {
	// A process group leader, as the remote login shell is: setsid forks there.
	cmd := exec.Command("bash", "-c", groupCommand("echo out; echo err >&2; exit 3"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &groupTap{next: &stderr}
	err := cmd.Run()
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) || exitErr.ExitCode() != 3 {
		t.Errorf("grouped command exited with %v, want code 3", err)
	}
	if stdout.String() != "out\n" || stderr.String() != "err\n" {
		t.Errorf("stdout %q, stderr %q", stdout.String(), stderr.String())
	}
}
