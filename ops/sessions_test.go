package ops

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/opsroom/opsroom/internal/config"
	"github.com/opsroom/opsroom/internal/testworld"
)

func TestSessionQueueIsFIFOAndBounded(t *testing.T) {
	// given a queue of two sessions, both taken
	q := newSessionQueue(2)
	ctx := context.Background()
	for range 2 {
		if err := q.acquire(ctx, false); err != nil {
			t.Fatal(err)
		}
	}
	// when five commands line up, one after the other, and a sixth gives up waiting
	var (
		mu     sync.Mutex
		order  []int
		served = make(chan int, 6)
	)
	lineUp := func(i int, ctx context.Context) {
		want := q.waitingLen() + 1
		go func() {
			if err := q.acquire(ctx, false); err != nil {
				served <- -i
				return
			}
			mu.Lock()
			order = append(order, i)
			mu.Unlock()
			served <- i
		}()
		waitFor(t, func() bool { return q.waitingLen() == want })
	}
	for i := 1; i <= 3; i++ {
		lineUp(i, ctx)
	}
	impatient, cancel := context.WithCancel(ctx)
	lineUp(99, impatient)
	for i := 4; i <= 5; i++ {
		lineUp(i, ctx)
	}
	cancel()
	if got := <-served; got != -99 {
		t.Fatalf("the cancelled waiter: %d, want it to give up (-99)", got)
	}
	// then each freed session goes to the first in line, and never more than two are taken
	for want := 1; want <= 5; want++ {
		q.release()
		if got := <-served; got != want {
			t.Fatalf("session freed went to %d, want %d (order so far %v)", got, want, order)
		}
		if used := q.inUse(); used != 2 {
			t.Fatalf("%d sessions taken, want 2", used)
		}
	}
	if !slices.Equal(order, []int{1, 2, 3, 4, 5}) {
		t.Errorf("served in order %v, want 1..5", order)
	}
	q.release()
	q.release()
	if used, waiting := q.inUse(), q.waitingLen(); used != 0 || waiting != 0 {
		t.Errorf("after every release: %d taken, %d waiting; want none", used, waiting)
	}
}

func TestUrgentCommandGoesFirstInLine(t *testing.T) {
	q := newSessionQueue(1)
	ctx := context.Background()
	_ = q.acquire(ctx, false)
	served := make(chan string, 2)
	go func() { _ = q.acquire(ctx, false); served <- "patient" }()
	waitFor(t, func() bool { return q.waitingLen() == 1 })
	go func() { _ = q.acquire(ctx, true); served <- "urgent" }()
	waitFor(t, func() bool { return q.waitingLen() == 2 })
	q.release()
	if got := <-served; got != "urgent" {
		t.Errorf("first served: %s, want the urgent one", got)
	}
	q.release()
	<-served
}

// TestWaitingCommandTimesOutSayingWhy: a command that finds every session of
// its host taken waits, within its own timeout, and then says that it did not start.
func TestWaitingCommandTimesOutSayingWhy(t *testing.T) {
	cfg := &Config{Hosts: map[string]*HostConfig{"spark": {Address: "127.0.0.1:1", User: "deploy", UseAgent: true,
		KnownHosts: "/nonexistent", MaxSessions: 2, CommandTimeout: config.Duration{Duration: time.Second}}}}
	cfg.Watch.Disabled = true
	if errs, _ := cfg.Validate(); len(errs) > 0 {
		t.Fatal(errs)
	}
	f, err := NewFleet(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		_ = f.now().conns["spark"].slots.acquire(context.Background(), false)
	}
	start := time.Now()
	_, err = f.Run(context.Background(), "spark", "true")
	var busy *NoSessionError
	if !errors.As(err, &busy) {
		t.Fatalf("got %v, want a *NoSessionError", err)
	}
	if took := time.Since(start); took < 900*time.Millisecond || took > 3*time.Second {
		t.Errorf("gave up after %s, want the command timeout (1s)", took)
	}
	if want := `host "spark": no SSH session free within 1s (max_sessions 2, all in use); the command did not start`; err.Error() != want {
		t.Errorf("error:\n%s\nwant:\n%s", err, want)
	}
}

// TestSessionsStayWithinTheServersLimit: against a server that allows two
// sessions per connection, as sshd's MaxSessions does, eight commands at once
// on a host with max_sessions 2 all run, two at a time, on one connection.
func TestSessionsStayWithinTheServersLimit(t *testing.T) {
	srv := startSessionServer(t, 2)
	c := newConn(srv.host(2))
	defer c.close()
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			res, err := c.run(ctx, fmt.Sprintf("sleep 0.2; echo %d", i), runOpts{})
			if err == nil && strings.TrimSpace(res.Stdout) != fmt.Sprint(i) {
				err = fmt.Errorf("printed %q", res.Stdout)
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("command %d: %v", i, err)
		}
	}
	peak, refused, conns := srv.stats()
	if peak != 2 || refused != 0 || conns != 1 {
		t.Errorf("server saw at most %d sessions at once, refused %d, over %d connections; want 2, 0, 1", peak, refused, conns)
	}
}

// TestRefusedSessionFailsThatCommandOnly: a server that allows fewer sessions
// than max_sessions refuses one; the commands running on the connection go
// on, and the refused one says why.
func TestRefusedSessionFailsThatCommandOnly(t *testing.T) {
	srv := startSessionServer(t, 2)
	c := newConn(srv.host(3))
	defer c.close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	long := make([]error, 2)
	for i := range long {
		wg.Go(func() {
			res, err := c.run(ctx, "sleep 1; echo done", runOpts{})
			if err == nil && strings.TrimSpace(res.Stdout) != "done" {
				err = fmt.Errorf("printed %q", res.Stdout)
			}
			long[i] = err
		})
	}
	waitFor(t, func() bool { open, _ := srv.open(); return open == 2 })
	_, err := c.run(ctx, "echo third", runOpts{})
	var refused *SessionRefusedError
	if !errors.As(err, &refused) {
		t.Fatalf("third session: %v, want a *SessionRefusedError", err)
	}
	for _, want := range []string{`host "local"`, "refused a session (administratively prohibited: open failed)",
		"3 of opsroom's sessions open (max_sessions 3)", "the command did not start", "lower hosts.local.max_sessions"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%s", want, err)
		}
	}
	wg.Wait()
	for i, err := range long {
		if err != nil {
			t.Errorf("command %d, running when the third was refused: %v", i, err)
		}
	}
	if _, _, conns := srv.stats(); conns != 1 {
		t.Errorf("%d connections: the refusal dropped the connection", conns)
	}
	if res, err := c.run(ctx, "echo after", runOpts{}); err != nil || strings.TrimSpace(res.Stdout) != "after" {
		t.Errorf("a command after the refusal: %q, %v", res.Stdout, err)
	}
}

// TestSlowDialBlocksNoOne: while a dial hangs (a host that accepts TCP and
// says nothing), a caller with a shorter deadline gives up on time, and
// closing the connection does not wait for the dial.
func TestSlowDialBlocksNoOne(t *testing.T) {
	hung := testworld.StartSilentListener(t)
	knownHosts := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(knownHosts, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SSH_AUTH_SOCK", "/nonexistent")
	h := &HostConfig{Name: "hung", Address: hung, User: "deploy", KnownHosts: knownHosts, IdentityFile: writeKey(t),
		ConnectTimeout: config.Duration{Duration: 3 * time.Second}}
	c := newConn(h)
	first := make(chan error, 1)
	go func() {
		_, err := c.get(context.Background())
		first <- err
	}()
	time.Sleep(100 * time.Millisecond) // the first caller's dial is under way

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.get(ctx)
	if took := time.Since(start); took > time.Second {
		t.Errorf("a caller with 200ms to spare waited %s for another's dial", took)
	}
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), `host "hung"`) {
		t.Errorf("the impatient caller got %v, want the host unreachable within its deadline", err)
	}
	start = time.Now()
	c.close()
	if took := time.Since(start); took > 100*time.Millisecond {
		t.Errorf("close waited %s for a dial", took)
	}
	select {
	case err := <-first:
		if err == nil {
			t.Error("the dial to a silent host succeeded")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the first dial never ended: it is not bounded by connect_timeout")
	}
}

// TestAgentConnectionsAreClosed: with use_agent, every dial talks to the
// ssh-agent; a host that is down, dialled 100 times, must not leave 100
// sockets to the agent open.
func TestAgentConnectionsAreClosed(t *testing.T) {
	if _, err := exec.LookPath("ssh-agent"); err != nil {
		t.Skip("ssh-agent not installed (openssh-client)")
	}
	dir := t.TempDir()
	sock := filepath.Join(dir, "agent.sock")
	agent := exec.Command("ssh-agent", "-D", "-a", sock)
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = agent.Process.Kill(); _ = agent.Wait() })
	waitFor(t, func() bool { _, err := os.Stat(sock); return err == nil })
	t.Setenv("SSH_AUTH_SOCK", sock)
	knownHosts := filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(knownHosts, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedPort := l.Addr().String()
	_ = l.Close()
	c := newConn(&HostConfig{Name: "down", Address: closedPort, User: "deploy", UseAgent: true, KnownHosts: knownHosts,
		ConnectTimeout: config.Duration{Duration: 5 * time.Second}})

	before := openFDs(t)
	for range 100 {
		if _, err := c.get(context.Background()); err == nil {
			t.Fatal("a dial to a closed port succeeded")
		}
	}
	if after := openFDs(t); after > before+5 {
		t.Errorf("open files went from %d to %d over 100 failed dials: the agent connections leak", before, after)
	}
}

func openFDs(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot count open files: %v", err)
	}
	return len(entries)
}

func (q *sessionQueue) waitingLen() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.waiting.Len()
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
	}
}

// sessionServer is an SSH server on loopback that runs each command with the
// local bash and, like sshd's MaxSessions, refuses sessions beyond its limit
// on a connection. It counts what it saw.
type sessionServer struct {
	addr, knownHosts, identity string
	limit                      int

	mu      sync.Mutex
	openNow int // sessions open now, on every connection
	peak    int // the most sessions open at once on one connection
	refused int
	got     int // connections

	noForwarding bool // refuse direct-tcpip channels, as AllowTcpForwarding no does
	forwards     int  // direct-tcpip channels opened
}

func startSessionServer(t *testing.T, limit int) *sessionServer {
	t.Helper()
	testworld.Short(t)
	_, hostKey, _ := ed25519.GenerateKey(rand.Reader)
	hostSigner, err := ssh.NewSignerFromKey(hostKey)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &ssh.ServerConfig{PublicKeyCallback: func(ssh.ConnMetadata, ssh.PublicKey) (*ssh.Permissions, error) { return nil, nil }}
	cfg.AddHostKey(hostSigner)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	s := &sessionServer{addr: ln.Addr().String(), limit: limit, identity: writeKey(t),
		knownHosts: filepath.Join(t.TempDir(), "known_hosts")}
	line := knownhosts.Line([]string{knownhosts.Normalize(s.addr)}, hostSigner.PublicKey())
	if err := os.WriteFile(s.knownHosts, []byte(line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(nc, cfg)
		}
	}()
	return s
}

func (s *sessionServer) host(maxSessions int) *HostConfig {
	return &HostConfig{Name: "local", Address: s.addr, User: "deploy", IdentityFile: s.identity, KnownHosts: s.knownHosts,
		ConnectTimeout: config.Duration{Duration: 5 * time.Second}, MaxSessions: maxSessions}
}

func (s *sessionServer) open() (now, peak int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.openNow, s.peak
}

func (s *sessionServer) stats() (peak, refused, conns int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peak, s.refused, s.got
}

func (s *sessionServer) serve(nc net.Conn, cfg *ssh.ServerConfig) {
	sc, chans, reqs, err := ssh.NewServerConn(nc, cfg)
	if err != nil {
		return
	}
	defer sc.Close()
	s.mu.Lock()
	s.got++
	s.mu.Unlock()
	go ssh.DiscardRequests(reqs)
	onConn := 0 // sessions open on this connection: MaxSessions counts per connection
	for nch := range chans {
		if nch.ChannelType() == "direct-tcpip" {
			go s.forward(nch) // not a session: MaxSessions does not count it
			continue
		}
		s.mu.Lock()
		full := onConn >= s.limit
		if full {
			s.refused++
		} else {
			onConn++
			s.openNow++
			s.peak = max(s.peak, onConn)
		}
		s.mu.Unlock()
		if full {
			_ = nch.Reject(ssh.Prohibited, "open failed") // sshd's words
			continue
		}
		ch, chReqs, err := nch.Accept()
		if err != nil {
			continue
		}
		go s.session(ch, chReqs, &onConn)
	}
}

// session runs the exec request's command, then closes: the session counts
// as open until then, as sshd counts it until the channel is freed.
func (s *sessionServer) session(ch ssh.Channel, reqs <-chan *ssh.Request, onConn *int) {
	defer func() {
		s.mu.Lock()
		*onConn--
		s.openNow--
		s.mu.Unlock()
		_ = ch.Close()
	}()
	for req := range reqs {
		if req.Type != "exec" {
			_ = req.Reply(false, nil)
			continue
		}
		var payload struct{ Command string }
		if ssh.Unmarshal(req.Payload, &payload) != nil {
			_ = req.Reply(false, nil)
			return
		}
		_ = req.Reply(true, nil)
		cmd := exec.Command("bash", "-c", payload.Command)
		cmd.Stdout, cmd.Stderr = ch, ch.Stderr()
		status := 0
		if err := cmd.Run(); err != nil {
			status = 255
			var exitErr *exec.ExitError
			if errors.As(err, &exitErr) {
				status = exitErr.ExitCode()
			}
		}
		_, _ = ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{uint32(status)}))
		return
	}
}

// writeKey writes a fresh private key, as identity_file wants it.
func writeKey(t *testing.T) string {
	t.Helper()
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	block, err := ssh.MarshalPrivateKey(key, "")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "id_ed25519")
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
