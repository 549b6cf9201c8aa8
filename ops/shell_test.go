package ops

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opsroom/opsroom/internal/config"
	"github.com/opsroom/opsroom/internal/testworld"
)

// shellHost is a host behind a real sshd, reached as the login user, with
// run_as as given: the real wrapper, sudo -iu and login shells included.
func shellHost(t testing.TB, runAs string) (*conn, *testworld.SSHD) {
	return shellHostAway(t, runAs, 0)
}

func TestShellGivesItsSessionBackToACommandInLine(t *testing.T) {
	// given a host with two sessions, one the shell's, the other a command's
	c, _ := shellHost(t, testworld.Owner)
	c.slots.max = 2
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.runReusing(ctx, "true", runOpts{}); err != nil {
		t.Fatal(err)
	}
	go func() { _, _ = c.run(ctx, "sleep 5", runOpts{}) }()
	waitFor(t, func() bool { return c.slots.inUse() == 2 })

	// when another command needs a session
	start := time.Now()
	res, err := c.run(ctx, "echo next", runOpts{})

	// then it gets the shell's at once, not the sleeping command's
	if err != nil || res.Stdout != "next\n" {
		t.Fatalf("%q, %v", res.Stdout, err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("the command waited %s, want the shell's session at once", took)
	}
	// and the watcher's next command runs in a session of its own while none is free to spare
	waitFor(t, func() bool { return c.slots.inUse() == 1 })
	if res, err := c.runReusing(ctx, "echo watcher", runOpts{}); err != nil || res.Stdout != "watcher\n" {
		t.Fatalf("%q, %v", res.Stdout, err)
	}
}

// shellHostAway is shellHost behind a Toxiproxy adding latency each way.
func shellHostAway(t testing.TB, runAs string, latency time.Duration) (*conn, *testworld.SSHD) {
	t.Helper()
	testworld.Short(t)
	sshd := testworld.StartSSHD(t)
	addr, knownHosts := sshd.Addr, sshd.KnownHosts
	if latency > 0 {
		proxy := testworld.StartToxiproxy(t).Proxy(t, "host", sshd.Addr)
		proxy.Latency(t, latency)
		addr, knownHosts = proxy.Addr, sshd.KnownHostsFor(t, proxy.Addr)
	}
	h := &HostConfig{Name: "spark", Address: addr, User: sshd.User, IdentityFile: sshd.IdentityFile,
		KnownHosts: knownHosts, RunAs: runAs, ComposeCommand: "docker compose",
		ConnectTimeout: config.Duration{Duration: 10 * time.Second}, CommandTimeout: config.Duration{Duration: 20 * time.Second},
		MaxSessions: defaultMaxSessions}
	c := newConn(h)
	t.Cleanup(c.close)
	return c, sshd
}

func TestShellRunsCommandsAsRunAsInOneSession(t *testing.T) {
	// given a host reached through sudo -iu as the owner
	c, sshd := shellHost(t, testworld.Owner)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// when the watcher's commands run, the first alone, then many at once (pipelined)
	first, err := c.runReusing(ctx, `whoami; echo "$HOME" >&2`, runOpts{})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	results := make([]RunResult, 20)
	errs := make([]error, len(results))
	for i := range results {
		wg.Go(func() {
			// Output without a last newline, a big stdout, a quote and a $ the shells must leave alone.
			results[i], errs[i] = c.runReusing(ctx, fmt.Sprintf(`printf '%%s' 'out %d $HOME'; head -c %d /dev/zero | tr '\0' x; printf 'err %d' >&2; exit %d`, i, i*3000, i, i%4), runOpts{})
		})
	}
	wg.Wait()

	// then each came back whole, with its own exit code, as the owner, all in one session
	if got := strings.TrimSpace(first.Stdout); got != testworld.Owner {
		t.Errorf("whoami = %q, want %q (stderr %q)", got, testworld.Owner, first.Stderr)
	}
	if !strings.HasSuffix(strings.TrimSpace(first.Stderr), "/"+testworld.Owner) {
		t.Errorf("HOME = %q, want the owner's: the login environment", first.Stderr)
	}
	for i, res := range results {
		if errs[i] != nil {
			t.Fatalf("command %d: %v", i, errs[i])
		}
		want := fmt.Sprintf("out %d $HOME", i) + strings.Repeat("x", i*3000)
		if res.Stdout != want || res.Stderr != fmt.Sprintf("err %d", i) || res.ExitCode != i%4 {
			t.Errorf("command %d: stdout %q (%d bytes), stderr %q, exit %d; want %d bytes, err %d, exit %d",
				i, firstBytes(res.Stdout, 40), len(res.Stdout), res.Stderr, res.ExitCode, len(want), i, i%4)
		}
	}
	if n := sshd.Sessions(); n != 1 {
		t.Errorf("sshd started %d sessions, want 1: the shell's", n)
	}
	if inUse := c.slots.inUse(); inUse != 1 {
		t.Errorf("%d of the host's sessions in use, want 1: the shell's", inUse)
	}
}

func TestShellReadsTheOwnersProfileAfreshForEachCommand(t *testing.T) {
	// given an owner whose profile exports a variable
	const owner = "svcshellenv"
	testworld.OwnerWith(t, owner, "export OPSROOM_SHELL_TEST=one")
	t.Cleanup(func() { testworld.OwnerWith(t, owner, "") })
	c, sshd := shellHost(t, owner)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const cmd = `echo "[$OPSROOM_SHELL_TEST]"`
	if res, err := c.runReusing(ctx, cmd, runOpts{}); err != nil || res.Stdout != "[one]\n" {
		t.Fatalf("%q, %v; want [one]", res.Stdout, err)
	}

	// when the profile no longer exports it
	testworld.OwnerWith(t, owner, "")
	res, err := c.runReusing(ctx, cmd, runOpts{})

	// then the next command in the same shell sees that, as a session of its own would
	if err != nil || res.Stdout != "[]\n" {
		t.Errorf("%q, %v; want [] (the profile as it is now)", res.Stdout, err)
	}
	if n := sshd.Sessions(); n != 1 {
		t.Errorf("sshd started %d sessions, want 1: the shell's", n)
	}
}

func TestShellCommandTheWrapperRefusesFailsAsInASessionOfItsOwn(t *testing.T) {
	// given a run_as user the sudoers rule does not allow
	c, sshd := shellHost(t, "root")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// when a command runs twice
	_, err1 := c.runReusing(ctx, "true", runOpts{})
	_, err2 := c.runReusing(ctx, "true", runOpts{})

	// then each fails as in a session of its own, saying what sudo said, and the shell stays
	for _, err := range []error{err1, err2} {
		if shellErr := (*ShellError)(nil); !errors.As(err, &shellErr) || !strings.Contains(shellErr.Output, "sudo") {
			t.Errorf("err = %v, want a *ShellError with sudo's words, as without the shell", err)
		}
	}
	if n := sshd.Sessions(); n != 1 {
		t.Errorf("sshd started %d sessions, want 1: the shell's", n)
	}
}

func TestShellThatBreaksLeavesTheCommandToASessionOfItsOwn(t *testing.T) {
	// given a host with a shell running a command
	c, sshd := shellHost(t, testworld.Owner)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.runReusing(ctx, "true", runOpts{}); err != nil {
		t.Fatal(err)
	}
	type result struct {
		res RunResult
		err error
	}
	got := make(chan result, 1)
	go func() {
		res, err := c.runReusing(ctx, "sleep 1; echo done", runOpts{})
		got <- result{res, err}
	}()
	waitFor(t, func() bool { c.sh.mu.Lock(); defer c.sh.mu.Unlock(); return len(c.sh.queue) == 1 })

	// when the shell's session ends under it
	_ = c.sh.sess.Close()

	// then the command runs again in a session of its own, and succeeds
	r := <-got
	if r.err != nil || r.res.Stdout != "done\n" {
		t.Fatalf("%q, %v", r.res.Stdout, r.err)
	}
	if n := sshd.Sessions(); n != 2 {
		t.Errorf("sshd started %d sessions, want 2: the shell, then the command's own", n)
	}
}

func TestShellCommandPastItsTimeEndsTheShellOnly(t *testing.T) {
	// given a host with a shell running
	c, _ := shellHost(t, testworld.Owner)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.runReusing(ctx, "true", runOpts{}); err != nil {
		t.Fatal(err)
	}

	// when a command outlives its context
	short, cancelShort := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancelShort()
	start := time.Now()
	_, err := c.runReusing(short, "sleep 10", runOpts{})

	// then it ends with its context, and the next command gets a fresh shell
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 3*time.Second {
		t.Fatalf("err = %v after %s, want the deadline, at once", err, time.Since(start))
	}
	res, err := c.runReusing(ctx, "echo again", runOpts{})
	if err != nil || res.Stdout != "again\n" {
		t.Fatalf("next command: %q, %v", res.Stdout, err)
	}
	waitFor(t, func() bool { return c.slots.inUse() == 1 }) // the old shell's session is given back
}

func TestShellStreamSplitsOutputByCommand(t *testing.T) {
	// given three commands' output as the shell prints it, noise around it,
	// the last one a command the shells did not run as written
	sh := &shell{}
	var cmds []*shellCommand
	var out, errOut bytes.Buffer
	bodies := []string{"", "one\ntwo", strings.Repeat("y", 5000) + "\n", ""}
	for i, body := range bodies {
		sc := newShellCommand(runOpts{})
		cmds = append(cmds, sc)
		sh.queue = append(sh.queue, sc)
		env := sc.cap.env
		if i == len(bodies)-1 {
			fmt.Fprintf(&errOut, "sudo: a password is required%s\n", sc.mark)
			fmt.Fprintf(&out, "%s 1\n", sc.mark)
			continue
		}
		fmt.Fprintf(&out, "motd\n%s\n%s\n%s %d\n%s %d\n", env.begin, body, env.end, i, sc.mark, i)
		fmt.Fprintf(&errOut, "%s\nerr%d\n%s\n%s\n", env.begin, i, env.end, sc.mark)
	}
	out.WriteString("between\n")

	// when it comes in chunks cut anywhere
	stdout, stderr := &shellStream{sh: sh}, &shellStream{sh: sh, stderr: true}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, s := range []struct {
		w    *shellStream
		data []byte
	}{{stdout, out.Bytes()}, {stderr, errOut.Bytes()}} {
		for data := s.data; len(data) > 0; {
			n := min(len(data), 1+rng.IntN(40))
			_, _ = s.w.Write(data[:n])
			data = data[n:]
		}
	}

	// then each command gets its own output and exit code, and all are done
	for i, sc := range cmds {
		select {
		case <-sc.done:
		default:
			t.Fatalf("command %d not done", i)
		}
		res, err := sc.cap.result("h", sc.exit)
		if i == len(bodies)-1 {
			var shellErr *ShellError
			if !errors.As(err, &shellErr) || shellErr.Exit != 1 || !strings.Contains(shellErr.Output, "password is required") {
				t.Errorf("command %d: %v, want a *ShellError with exit 1 and what sudo said", i, err)
			}
			continue
		}
		if err != nil || res.Stdout != bodies[i] || res.Stderr != fmt.Sprintf("err%d", i) || res.ExitCode != i {
			t.Errorf("command %d: %q, %q, exit %d, %v", i, firstBytes(res.Stdout, 20), res.Stderr, res.ExitCode, err)
		}
	}
	if len(sh.queue) != 0 {
		t.Errorf("%d commands left in the queue", len(sh.queue))
	}
}

// BenchmarkWatcherCommand is a watcher's command to a host 25 ms away each
// way (through Toxiproxy, as the owner through run_as), in a session of its
// own and in the host's shell: one command (the probe), and two at once (a
// probe and the logs of what died, which an exit alert waits for).
func BenchmarkWatcherCommand(b *testing.B) {
	for _, how := range []string{"session", "shell"} {
		b.Run(how, func(b *testing.B) {
			c, _ := shellHostAway(b, testworld.Owner, 25*time.Millisecond)
			ctx := context.Background()
			run := func() {
				var err error
				if how == "shell" {
					_, err = c.runReusing(ctx, "cat /proc/loadavg", runOpts{})
				} else {
					_, err = c.run(ctx, "cat /proc/loadavg", runOpts{})
				}
				if err != nil {
					b.Fatal(err)
				}
			}
			run() // dials, and starts the shell
			var one, two []time.Duration
			for b.Loop() {
				t0 := time.Now()
				run()
				one = append(one, time.Since(t0))
				t0 = time.Now()
				var wg sync.WaitGroup
				wg.Go(run)
				wg.Go(run)
				wg.Wait()
				two = append(two, time.Since(t0))
			}
			b.ReportMetric(medianMs(one), "one-ms")
			b.ReportMetric(medianMs(two), "two-at-once-ms")
			b.ReportMetric(0, "ns/op")
		})
	}
}

func medianMs(ds []time.Duration) float64 {
	s := slices.Clone(ds)
	slices.Sort(s)
	return float64(s[len(s)/2].Microseconds()) / 1000
}
