package ops

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/crypto/ssh"
)

// A shell is a host's long-lived session for the watcher's read-only
// commands (its probes, the logs of what died): one bash, started as the
// login user, that reads commands from its stdin, one a line, and runs each
// exactly as a session of its own would: the same command line (with
// run_as, sudo -iu and the owner's login shell, whose environment is read
// afresh for every command; then the envelope), by the login user's shell
// with no input. A command then costs one round trip instead of a new
// session's four (channel open, exec request, output, exit status). A
// command may be sent before the ones before it end: the host runs them one
// after the other, and their output comes back in that order, each framed by
// its own envelope. Whenever the shell fails, the command runs in a session
// of its own.
type shell struct {
	c       *conn
	sess    *ssh.Session
	stdin   io.WriteCloser
	started time.Time
	release func() // gives the shell's session back to the host's queue, once it is closed

	mu     sync.Mutex
	queue  []*shellCommand // sent and not yet answered on both streams, first sent first
	broken error           // set once the shell can take no more commands
	worked bool            // a command came back whole from it
}

// shellCommand is one command sent to a shell.
type shellCommand struct {
	cap              *capture
	mark             []byte // "\n" and the mark the loop prints after the command, on both streams
	exit             int    // the command's exit status, from the loop's mark on stdout
	outDone, errDone bool
	done             chan struct{} // closed once both streams are done, or the shell broke
	err              error         // the shell broke before the command came back
}

const (
	// shellSpan is how long a shell takes commands before a fresh one
	// replaces it.
	shellSpan = time.Hour
	// shellRetry is how long commands run in sessions of their own after a
	// shell could not be started, or broke before any command came back.
	shellRetry = time.Minute
)

// shellLoop is the script the shell's bash runs: each line is a mark and a
// command line in base64, run as sshd runs a session's command (the user's
// shell -c), with no input, so that nothing it runs (a login profile that
// reads its input) can take the lines that follow. After it, the mark and
// the exit status on stdout, and the mark on stderr, end its output, whether
// the command ran as written or not (sudo refused: no envelope's end mark).
const shellLoop = `while read -r m l; do "${SHELL:-/bin/sh}" -c "$(printf '%s\n' "$l" | base64 -d)" </dev/null; r=$?; ` +
	`printf '\n%s %s\n' "$m" "$r"; printf '\n%s\n' "$m" >&2; done` + "\n"

// shellLine is what starts the shell. The loop travels base64-encoded like
// every script; the login user's shell runs the line.
func shellLine() string {
	return `bash -c "$(echo ` + base64.StdEncoding.EncodeToString([]byte(shellLoop)) + ` | base64 -d)"`
}

var errShellBusy = errors.New("no SSH session free for the shell")

// runReusing runs a read-only command in the host's shell, starting one if
// there is none, and in a session of its own (run) when the shell cannot
// take it or breaks before the command comes back.
func (c *conn) runReusing(ctx context.Context, cmd string, o runOpts) (RunResult, error) {
	if o.stream != nil || o.group != nil {
		return c.run(ctx, cmd, o)
	}
	sh, err := c.theShell(ctx)
	if err != nil {
		if !errors.Is(err, errShellBusy) && ctx.Err() == nil {
			zerolog.Ctx(ctx).Debug().Err(err).Str("host", c.host.Name).Msg("No shell for the watcher's commands; they run in sessions of their own")
		}
		return c.run(ctx, cmd, o)
	}
	res, err := sh.run(ctx, cmd, o)
	// A command the host's shells did not run as written is the host's
	// answer, the same in a session of its own: the shell is fine.
	if err == nil || ctx.Err() != nil || errors.As(err, new(*ShellError)) {
		return res, err
	}
	c.shellBroke(sh, err)
	zerolog.Ctx(ctx).Debug().Err(err).Str("host", c.host.Name).Msg("The shell failed; the command runs in a session of its own")
	return c.run(ctx, cmd, o)
}

// theShell is the host's shell, started now if there is none (or it broke,
// or it is past its span), unless one failed lately.
func (c *conn) theShell(ctx context.Context) (*shell, error) {
	c.shellMu.Lock()
	defer c.shellMu.Unlock()
	if sh := c.sh; sh != nil {
		if sh.usable() && time.Since(sh.started) < shellSpan {
			return sh, nil
		}
		c.sh = nil
		sh.retire()
	}
	if !c.shellFailed.IsZero() && time.Since(c.shellFailed) < shellRetry {
		return nil, errShellBusy
	}
	sh, err := c.startShell(ctx)
	if err != nil {
		if !errors.Is(err, errShellBusy) {
			c.shellFailed = time.Now()
		}
		return nil, err
	}
	c.sh = sh
	return sh, nil
}

// shellBroke forgets sh, which failed a command; one that never brought a
// command back is not tried again for a while.
func (c *conn) shellBroke(sh *shell, err error) {
	sh.fail(err)
	c.shellMu.Lock()
	defer c.shellMu.Unlock()
	if c.sh == sh {
		c.sh = nil
	}
	sh.mu.Lock()
	worked := sh.worked
	sh.mu.Unlock()
	if !worked {
		c.shellFailed = time.Now()
	}
}

// retireShell lets the host's shell end once the commands sent to it are
// done, which gives its session back: a command waits in line for one. The
// watcher's next command starts a new shell when a session is free again.
func (c *conn) retireShell() {
	if sh := c.takeShell(); sh != nil {
		sh.retire()
	}
}

// closeShell ends the host's shell, if any, for good.
func (c *conn) closeShell() {
	if sh := c.takeShell(); sh != nil {
		sh.fail(errors.New("the connection is closed"))
	}
}

// takeShell forgets the host's shell, and returns it (nil: none).
func (c *conn) takeShell() *shell {
	c.shellMu.Lock()
	defer c.shellMu.Unlock()
	sh := c.sh
	c.sh = nil
	return sh
}

// startShell opens a session and starts the shell in it. The shell holds one
// of the host's sessions for as long as it lives, so it starts only when one
// is free at once (the watcher never waits in line behind commands for it),
// and gives it back as soon as a command has to wait (retireShell).
func (c *conn) startShell(ctx context.Context) (*shell, error) {
	if !c.slots.tryAcquire() {
		return nil, errShellBusy
	}
	ok := false
	defer func() {
		if !ok {
			c.slots.release()
		}
	}()
	client, err := c.get(ctx)
	if err != nil {
		return nil, err
	}
	sess, err := c.session(ctx, client)
	if err != nil {
		return nil, fmt.Errorf("opening a session: %w", err)
	}
	stdin, err := sess.StdinPipe()
	if err != nil {
		_ = sess.Close()
		return nil, err
	}
	sh := &shell{c: c, sess: sess, stdin: stdin, started: time.Now(), release: c.slots.release}
	sess.Stdout, sess.Stderr = &shellStream{sh: sh}, &shellStream{sh: sh, stderr: true}
	if err := c.within(ctx, client, func() error { return sess.Start(shellLine()) }); err != nil {
		_ = sess.Close()
		return nil, fmt.Errorf("starting the shell: %w", err)
	}
	ok = true
	go func() {
		err := sess.Wait()
		_ = sess.Close()
		sh.release()
		sh.fail(fmt.Errorf("the shell ended: %w", cmpErr(err, io.EOF)))
	}()
	return sh, nil
}

func cmpErr(err, orElse error) error {
	if err == nil {
		return orElse
	}
	return err
}

// run sends cmd to the shell and waits for what it printed. An error is the
// shell failing (the caller runs cmd in a session of its own), or ctx
// ending, which ends the shell: a command sent cannot be taken back.
func (sh *shell) run(ctx context.Context, cmd string, o runOpts) (RunResult, error) {
	sc := newShellCommand(o)
	line := string(sc.mark[1:]) + " " + base64.StdEncoding.EncodeToString([]byte(sc.cap.env.commandLine(sh.c.host, cmd))) + "\n"
	sh.mu.Lock()
	if err := sh.broken; err != nil {
		sh.mu.Unlock()
		return RunResult{}, err
	}
	sh.queue = append(sh.queue, sc)
	// Under the lock, so that the commands reach the host in the queue's order.
	_, err := io.WriteString(sh.stdin, line)
	sh.mu.Unlock()
	if err != nil {
		sh.fail(fmt.Errorf("sending a command to the shell: %w", err))
	}
	select {
	case <-sc.done:
	case <-ctx.Done():
		_ = sh.sess.Signal(ssh.SIGKILL)
		sh.fail(ctx.Err())
		res, _ := sc.cap.result(sh.c.host.Name, -1)
		return res, ctx.Err()
	}
	if sc.err != nil {
		return RunResult{}, sc.err
	}
	return sc.cap.result(sh.c.host.Name, sc.exit)
}

func newShellCommand(o runOpts) *shellCommand {
	cap := newCapture(o)
	// The envelope's nonce, marked apart: the loop's mark is never the envelope's.
	return &shellCommand{cap: cap, mark: []byte("\n" + strings.TrimSuffix(cap.env.end, "-end") + "-done"), done: make(chan struct{})}
}

// usable says whether the shell takes commands.
func (sh *shell) usable() bool {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.broken == nil
}

// retire lets the shell finish the commands sent to it and end: its loop
// reads the end of its input after them.
func (sh *shell) retire() {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.broken == nil {
		_ = sh.stdin.Close()
	}
}

// fail ends the shell: the commands waiting on it get err, and so does any
// sent later.
func (sh *shell) fail(err error) {
	sh.mu.Lock()
	if sh.broken != nil {
		sh.mu.Unlock()
		return
	}
	sh.broken = err
	queue := sh.queue
	sh.queue = nil
	for _, sc := range queue {
		sc.err = err
		close(sc.done)
	}
	sh.mu.Unlock()
	_ = sh.sess.Close()
}

// shellStream is the shell's stdout or stderr: it hands each command's
// output, up to and with the end line of its envelope, to that command's
// capture, and what follows to the next command's.
type shellStream struct {
	sh     *shell
	stderr bool
	carry  []byte // a possible start of the current command's end line
}

// ReadFrom reads the shell's output in small chunks (see framed.ReadFrom).
func (s *shellStream) ReadFrom(r io.Reader) (int64, error) { return readInChunks(s, r) }

func (s *shellStream) Write(p []byte) (int, error) {
	sh := s.sh
	sh.mu.Lock()
	defer sh.mu.Unlock()
	data := append(s.carry, p...)
	s.carry = nil
	for len(data) > 0 {
		sc := sh.current(s.stderr)
		if sc == nil {
			// Nothing is waiting for it: what the shells print between commands.
			break
		}
		w := sc.cap.stdout
		if s.stderr {
			w = sc.cap.stderr
		}
		out, n, whole := endLine(data, sc.mark)
		_, _ = w.Write(data[:out])
		if !whole {
			s.carry = append([]byte(nil), data[out:]...)
			break
		}
		if s.stderr {
			sc.errDone = true
		} else {
			sc.outDone = true
			code, err := strconv.Atoi(strings.TrimSpace(string(data[out+len(sc.mark) : n])))
			if err != nil {
				code = -1
			}
			sc.exit = code
		}
		data = data[n:]
		sh.finished()
	}
	return len(p), nil
}

// endLine finds the end of a command's output in data, where its mark
// (after a newline) is: out is how much of data is the command's own output
// (all but what could still become the mark's line, when its line is not
// whole yet), and n how much is it and the mark's line, newline included.
func endLine(data, mark []byte) (out, n int, whole bool) {
	if i := bytes.Index(data, mark); i >= 0 {
		if j := bytes.IndexByte(data[i+len(mark):], '\n'); j >= 0 {
			return i, i + len(mark) + j + 1, true
		}
		return i, i, false
	}
	out = len(data) - partialSuffix(data, mark)
	return out, out, false
}

// current is the first command in the queue whose output on that stream is
// not all in; sh.mu is held.
func (sh *shell) current(stderr bool) *shellCommand {
	for _, sc := range sh.queue {
		if stderr && !sc.errDone || !stderr && !sc.outDone {
			return sc
		}
	}
	return nil
}

// finished tells the commands at the head of the queue whose output is all
// in; sh.mu is held.
func (sh *shell) finished() {
	for len(sh.queue) > 0 && sh.queue[0].outDone && sh.queue[0].errDone {
		sc := sh.queue[0]
		sh.queue = sh.queue[1:]
		sh.worked = true
		close(sc.done)
	}
}
