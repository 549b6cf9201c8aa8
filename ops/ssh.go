package ops

import (
	"bytes"
	"cmp"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/opsroom/opsroom/internal/config"
)

const (
	keepaliveInterval = 15 * time.Second
	// maxOutput is how much of each output stream a command keeps: the tail.
	maxOutput = 1 << 20
)

// RunResult is what a remote command printed and how it exited.
type RunResult struct {
	Stdout, Stderr string
	ExitCode       int
}

// conn is the one SSH connection to a host, dialled when first needed, shared
// by every command (each in its own session, at most max_sessions at once),
// and redialled after a drop.
type conn struct {
	host  *HostConfig
	jump  *conn
	slots *sessionQueue

	mu      sync.Mutex
	client  *ssh.Client
	dialing *dialing // the dial in progress, if any
	closed  bool
}

// dialing is one dial in progress, whose result every caller that needs the
// connection meanwhile shares.
type dialing struct {
	done   chan struct{} // closed once client or err is set
	client *ssh.Client
	err    error
}

func newConn(h *HostConfig) *conn {
	return &conn{host: h, slots: newSessionQueue(h.MaxSessions)}
}

func (c *conn) unreachable(err error) error {
	return &UnreachableError{Host: c.host.Name, Address: c.host.Address, Err: err}
}

// get returns the live client, dialling if there is none. c.mu is never held
// across the network: one dial runs at a time, bounded by the host's connect
// timeout, and every caller that needs the connection meanwhile waits for it
// or for its own ctx, whichever ends first.
func (c *conn) get(ctx context.Context) (*ssh.Client, error) {
	c.mu.Lock()
	if client := c.client; client != nil {
		c.mu.Unlock()
		return client, nil
	}
	if c.closed {
		c.mu.Unlock()
		return nil, c.unreachable(errors.New("opsroom is stopping: its connections are closed"))
	}
	d := c.dialing
	if d == nil {
		d = &dialing{done: make(chan struct{})}
		c.dialing = d
		// The dial is everyone's, not this caller's: it outlives ctx (within the connect timeout).
		go c.dialFor(context.WithoutCancel(ctx), d)
	}
	c.mu.Unlock()
	select {
	case <-d.done:
		return d.client, d.err
	case <-ctx.Done():
		return nil, c.unreachable(fmt.Errorf("connecting: %w", ctx.Err()))
	}
}

// dialFor dials, keeps the client (unless the connection was closed
// meanwhile), and tells d's waiters.
func (c *conn) dialFor(ctx context.Context, d *dialing) {
	client, err := c.dial(ctx)
	c.mu.Lock()
	c.dialing = nil
	closed := c.closed
	if err == nil && !closed {
		c.client = client
		go c.keepalive(client)
	}
	c.mu.Unlock()
	switch {
	case err != nil:
		d.err = c.unreachable(err)
	case closed:
		_ = client.Close()
		d.err = c.unreachable(errors.New("opsroom is stopping: its connections are closed"))
	default:
		d.client = client
	}
	close(d.done)
}

// drop forgets client (if it is still the current one) and closes it.
func (c *conn) drop(client *ssh.Client) {
	c.mu.Lock()
	if c.client == client {
		c.client = nil
	}
	c.mu.Unlock()
	_ = client.Close()
}

// close closes the connection for good: a dial in progress closes what it gets.
func (c *conn) close() {
	c.mu.Lock()
	client := c.client
	c.client = nil
	c.closed = true
	c.mu.Unlock()
	if client != nil {
		_ = client.Close()
	}
}

func (c *conn) dial(ctx context.Context) (*ssh.Client, error) {
	cfg, closeAgent, err := c.clientConfig()
	if err != nil {
		return nil, err
	}
	// The agent signs during the handshake only: its socket is closed after it, whatever the outcome.
	defer closeAgent()
	ctx, cancel := context.WithTimeout(ctx, c.host.ConnectTimeout.Duration)
	defer cancel()
	var netConn net.Conn
	if c.jump != nil {
		jumpClient, err := c.jump.get(ctx)
		if err != nil {
			return nil, fmt.Errorf("through jump host: %w", err)
		}
		netConn, err = jumpClient.DialContext(ctx, "tcp", c.host.Address)
		if err != nil {
			return nil, fmt.Errorf("dial through jump host %q: %w", c.jump.host.Name, err)
		}
	} else {
		netConn, err = (&net.Dialer{}).DialContext(ctx, "tcp", c.host.Address)
		if err != nil {
			return nil, fmt.Errorf("dial: %w", err)
		}
	}
	// The handshake is bounded too: a host that accepts TCP and then says nothing must not hang us.
	deadline, _ := ctx.Deadline()
	_ = netConn.SetDeadline(deadline)
	sc, chans, reqs, err := ssh.NewClientConn(netConn, c.host.Address, cfg)
	if err != nil {
		_ = netConn.Close()
		return nil, explainHandshake(err, c.host)
	}
	_ = netConn.SetDeadline(time.Time{})
	return ssh.NewClient(sc, chans, reqs), nil
}

// clientConfig is how to log in to the host. With use_agent it connects to
// the ssh-agent: closeAgent closes that connection, once the handshake is over.
func (c *conn) clientConfig() (cfg *ssh.ClientConfig, closeAgent func(), err error) {
	h := c.host
	closeAgent = func() {}
	hostKeys, err := knownhosts.New(h.KnownHosts)
	if err != nil {
		return nil, nil, fmt.Errorf("known_hosts %s: %w; pin the host key there (ssh-keyscan), host keys are always verified", h.KnownHosts, err)
	}
	var auth []ssh.AuthMethod
	if h.IdentityFile != "" {
		signer, err := loadKey(h.IdentityFile, h.IdentityPassphrase)
		if err != nil {
			return nil, nil, err
		}
		auth = append(auth, ssh.PublicKeys(signer))
	}
	if h.UseAgent {
		sock := os.Getenv("SSH_AUTH_SOCK")
		if sock == "" {
			return nil, nil, errors.New("use_agent is set but SSH_AUTH_SOCK is not: start ssh-agent or set identity_file")
		}
		agentConn, err := net.Dial("unix", sock)
		if err != nil {
			return nil, nil, fmt.Errorf("ssh-agent at %s: %w", sock, err)
		}
		closeAgent = func() { _ = agentConn.Close() }
		auth = append(auth, ssh.PublicKeysCallback(agent.NewClient(agentConn).Signers))
	}
	return &ssh.ClientConfig{
		User:              h.User,
		Auth:              auth,
		HostKeyCallback:   hostKeys,
		HostKeyAlgorithms: pinnedAlgorithms(h.KnownHosts, h.Address),
		Timeout:           h.ConnectTimeout.Duration,
	}, closeAgent, nil
}

// loadKey reads a private key, refusing one that others can read, as OpenSSH does.
func loadKey(path string, passphrase config.Secret) (ssh.Signer, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("identity_file: %w", err)
	}
	if info.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("identity_file %s is readable by others (mode %04o); chmod 600 it", path, info.Mode().Perm())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("identity_file: %w", err)
	}
	signer, err := ssh.ParsePrivateKey(data)
	var missing *ssh.PassphraseMissingError
	if errors.As(err, &missing) {
		if !passphrase.IsSet() {
			return nil, fmt.Errorf("identity_file %s is encrypted; set identity_passphrase or use the ssh-agent", path)
		}
		pass, perr := passphrase.Reveal()
		if perr != nil {
			return nil, fmt.Errorf("identity_passphrase: %w", perr)
		}
		signer, err = ssh.ParsePrivateKeyWithPassphrase(data, []byte(pass))
	}
	if err != nil {
		return nil, fmt.Errorf("identity_file %s: %w", path, err)
	}
	return signer, nil
}

// pinnedAlgorithms lists the host key algorithms of the keys pinned for addr,
// so that the server is asked for the kind of key we can check (a host
// pinned only by its ed25519 key must not offer its RSA key and be refused).
// knownhosts itself reads the file, hashed entries included: asked about a
// key that is pinned nowhere, it answers with every key pinned for addr.
func pinnedAlgorithms(knownHostsFile, addr string) []string {
	check, err := knownhosts.New(knownHostsFile)
	if err != nil {
		return nil
	}
	var keyErr *knownhosts.KeyError
	if !errors.As(check(addr, &net.TCPAddr{IP: net.IPv6loopback}, probeKey), &keyErr) {
		return nil
	}
	var algos []string
	for _, want := range keyErr.Want {
		switch t := want.Key.Type(); t {
		case ssh.KeyAlgoRSA:
			algos = append(algos, ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA)
		default:
			algos = append(algos, t)
		}
	}
	return algos
}

// probeKey is a public key pinned for no host (its private half is thrown away).
var probeKey = func() ssh.PublicKey {
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	key, _ := ssh.NewPublicKey(pub)
	return key
}()

// explainHandshake turns a handshake failure into what a user must do about it.
func explainHandshake(err error, h *HostConfig) error {
	var keyErr *knownhosts.KeyError
	if errors.As(err, &keyErr) {
		if len(keyErr.Want) > 0 {
			lines := make([]string, len(keyErr.Want))
			for i, w := range keyErr.Want {
				lines[i] = fmt.Sprintf("%s line %d", w.Filename, w.Line)
			}
			return fmt.Errorf("ssh handshake: host key mismatch: the key the host offers is not the one pinned (%s); fix the pinned key or remove it", strings.Join(lines, ", "))
		}
		host, port, _ := net.SplitHostPort(h.Address)
		return fmt.Errorf("ssh handshake: the host key is not pinned in %s; pin it with: ssh-keyscan -p %s %s >> %s (then check the fingerprint)", h.KnownHosts, port, host, h.KnownHosts)
	}
	if strings.Contains(err.Error(), "unable to authenticate") {
		return fmt.Errorf("ssh handshake: user %q was not accepted with the configured key or agent: %w", h.User, err)
	}
	return fmt.Errorf("ssh handshake: %w", err)
}

// keepalive pings the server; a connection that stops answering is dropped,
// so the next command dials afresh instead of hanging on a dead one.
func (c *conn) keepalive(client *ssh.Client) {
	dead := make(chan struct{})
	go func() {
		_ = client.Wait()
		close(dead)
	}()
	t := time.NewTicker(keepaliveInterval)
	defer t.Stop()
	for {
		select {
		case <-dead:
			c.drop(client)
			return
		case <-t.C:
		}
		answered := make(chan error, 1)
		go func() {
			_, _, err := client.SendRequest("keepalive@openssh.com", true, nil)
			answered <- err
		}()
		select {
		case err := <-answered:
			if err == nil {
				continue
			}
		case <-time.After(keepaliveInterval):
		}
		c.drop(client)
		return
	}
}

// run runs cmd in a new session, inside an envelope (see envelope): as the
// host's run_as user if it has one, with what the shells around it print cut
// away. It first waits in line for one of the host's sessions (see
// sessionQueue), within ctx. A non-zero exit is a result, not an error; errors
// are transport failures, a session the server refused (*SessionRefusedError),
// no session free in time (*NoSessionError), a command the shells did not run
// as written (*ShellError), and ctx ending (the remote command is killed).
// When o.stream is not nil it also gets the command's stdout and stderr as
// they come. When o.group is not nil, cmd runs in a process group of its own
// (see groupCommand), whose ID the group tap receives.
func (c *conn) run(ctx context.Context, cmd string, o runOpts) (RunResult, error) {
	release, err := c.takeSession(ctx, o.urgent)
	if err != nil {
		return RunResult{}, err
	}
	// The session is given back here on an early return; once the command
	// runs, by the goroutine waiting for it, when the server has closed the
	// session too (sshd counts it until then).
	waiting := false
	defer func() {
		if !waiting {
			release()
		}
	}()
	client, err := c.get(ctx)
	if err != nil {
		return RunResult{}, err
	}
	sess, err := c.session(ctx, client)
	if _, refused := refusal(err); err != nil && !refused && ctx.Err() == nil {
		// The connection died since its last use: dial again, once.
		if client, err = c.get(ctx); err != nil {
			return RunResult{}, err
		}
		sess, err = c.session(ctx, client)
	}
	if reason, refused := refusal(err); refused {
		return RunResult{}, c.refused(reason)
	} else if err != nil {
		return RunResult{}, c.unreachable(fmt.Errorf("opening a session: %w", err))
	}
	defer sess.Close()
	cap := newCapture(o)
	sess.Stdout, sess.Stderr = cap.stdout, cap.stderr
	if err := c.within(ctx, client, func() error { return sess.Start(cap.env.commandLine(c.host, cmd)) }); err != nil {
		if reason, refused := refusal(err); refused {
			return RunResult{}, c.refused(reason)
		}
		return RunResult{}, c.unreachable(fmt.Errorf("starting command: %w", err))
	}
	done := make(chan error, 1)
	waiting = true
	go func() {
		err := sess.Wait()
		release()
		done <- err
	}()
	select {
	case err = <-done:
	case <-ctx.Done():
		_ = sess.Signal(ssh.SIGKILL)
		_ = sess.Close()
		res, _ := cap.result(c.host.Name, -1)
		return res, ctx.Err()
	}
	var exitErr *ssh.ExitError
	exit := 0
	switch {
	case err == nil:
	case errors.As(err, &exitErr):
		exit = exitErr.ExitStatus()
	default:
		c.drop(client)
		res, _ := cap.result(c.host.Name, -1)
		return res, c.unreachable(fmt.Errorf("connection lost while running a command: %w", err))
	}
	return cap.result(c.host.Name, exit)
}

// session opens a session on client, within ctx.
func (c *conn) session(ctx context.Context, client *ssh.Client) (*ssh.Session, error) {
	var sess *ssh.Session
	if err := c.within(ctx, client, func() (err error) { sess, err = client.NewSession(); return err }); err != nil {
		return nil, err // sess is not read: a late NewSession may still set it
	}
	return sess, nil
}

// within runs step (opening a session, starting a command) on client, giving
// up when ctx ends first. A connection that does not answer in time (the host
// stopped answering while TCP stays up, which only the keepalive would
// notice), or whose step fails for any reason but the server saying no, is
// dead: it is dropped, which also ends the step, and the next command dials
// afresh. A live connection answers at once; one that refuses a session (see
// refusal) stays, with the commands running on it.
func (c *conn) within(ctx context.Context, client *ssh.Client, step func() error) error {
	done := make(chan error, 1)
	go func() { done <- step() }()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	if _, refused := refusal(err); err != nil && !refused {
		c.drop(client)
	}
	return err
}

// capture is the output of one enveloped command: its stdout and stderr
// writers, framed, and what they keep.
type capture struct {
	env            envelope
	stdout, stderr *framed
	out, err       *tailBuffer
	group          *groupTap
}

func newCapture(o runOpts) *capture {
	keep := cmp.Or(o.keep, maxOutput)
	c := &capture{env: newEnvelope(), out: &tailBuffer{max: keep}, err: &tailBuffer{max: keep}, group: o.group}
	var outSink, errSink io.Writer = c.out, c.err
	if o.stream != nil {
		stream := &lockedWriter{w: o.stream}
		outSink, errSink = io.MultiWriter(c.out, stream), io.MultiWriter(c.err, stream)
	}
	if o.group != nil {
		o.group.next = errSink
		errSink = o.group
	}
	c.stdout, c.stderr = c.env.frame(outSink), c.env.frame(errSink)
	return c
}

// result is what the command printed and how it exited, once its output has
// ended; exit is the session's exit status. A command whose begin mark (or,
// grouped, whose process group ID) never came did not run as written: a
// *ShellError, never a success.
func (c *capture) result(host string, exit int) (RunResult, error) {
	c.stdout.close()
	c.stderr.close()
	res := RunResult{Stdout: c.out.String(), Stderr: c.err.String(), ExitCode: exit}
	if !c.stdout.began() {
		return res, &ShellError{Host: host, Exit: exit, Output: c.stdout.printedBefore() + c.stderr.printedBefore()}
	}
	if code, ok := c.stdout.exitCode(); ok {
		res.ExitCode = code
	}
	if c.group != nil && c.group.id() == 0 {
		return res, &ShellError{Host: host, Exit: res.ExitCode,
			Output: "no process group ID before: " + firstBytes(res.Stderr+res.Stdout, 200)}
	}
	return res, nil
}

// lockedWriter lets the stdout and stderr copiers share one writer.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	buf bytes.Buffer
	max int
	mu  sync.Mutex
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := len(p)
	if len(p) > t.max {
		p = p[len(p)-t.max:]
	}
	if over := t.buf.Len() + len(p) - t.max; over > 0 {
		t.buf.Next(over)
	}
	t.buf.Write(p)
	return n, nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.buf.String()
}
