// Package testworld starts the real parts the end-to-end tests talk to: a Matrix
// homeserver, OpenSSH servers and Docker containers, all on this machine's
// loopback, and the fault injectors put between them (Toxiproxy, a rate limiter).
package testworld

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Short skips a test that needs the world when the suite runs with -short.
func Short(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("needs the test world (homeserver, sshd, docker); run without -short")
	}
}

// Missing skips a test that cannot run because a part of the world is
// missing here (PostgreSQL, the systemd host's image, root), saying which and
// how to get it; under CI (CI=true) it fails the test instead, so that a
// machine missing a part can never pass the suite by skipping.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI needs this part of the test world: "+format, args...)
	}
	t.Skipf(format, args...)
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("finding a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// waitTCP waits until addr accepts connections.
func waitTCP(addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not accepting connections after %s: %w", addr, timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// toolDir is where a test tool's binaries are: the directory the environment
// variable names (test/setup.sh sets it), or one in the cache named by the
// tool and the content key of the module it is built from.
func toolDir(env, name, module string) string {
	if dir := os.Getenv(env); dir != "" {
		return dir
	}
	return filepath.Join(cacheDir(), "bin", name+"-"+toolKey(module))
}

// toolKey is the cache key of a tool built from the throw-away module
// test/<module>: the hash of its go.mod, its go.sum and `go version`, the same
// key test/setup.sh computes, so that a changed pin or toolchain builds anew.
func toolKey(module string) string {
	h := sha256.New()
	for _, f := range []string{"go.mod", "go.sum"} {
		data, _ := os.ReadFile(filepath.Join(repoRoot(), "test", module, f))
		h.Write(data)
	}
	version, _ := exec.Command("go", "version").Output()
	h.Write(version)
	return hex.EncodeToString(h.Sum(nil))[:12]
}

// buildTools builds programs pinned in the throw-away module test/<module>
// (go build args) unless binary, the last they make, is there already.
// test/setup.sh builds them ahead of the tests; a test run on its own builds
// them here, once.
func buildTools(t testing.TB, module, what, binary string, args ...string) {
	t.Helper()
	err := withLock(filepath.Dir(binary)+".lock", func() error {
		if _, err := os.Stat(binary); err == nil {
			return nil
		}
		t.Logf("building %s into %s (a cold build takes a few minutes)", what, filepath.Dir(binary))
		cmd := exec.Command("go", append([]string{"build"}, args...)...)
		cmd.Dir = filepath.Join(repoRoot(), "test", module)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("building %s: %v\n%s", what, err, out)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// repoRoot is the top of the opsroom checkout, found from this file.
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// cacheDir is where built tools are kept between runs.
func cacheDir() string {
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "opsroom-test")
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "opsroom-test")
}

// withLock runs fn holding an exclusive lock on path, so that parallel test
// processes (go test runs packages side by side) build a thing once.
func withLock(path string, fn func() error) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		return err
	}
	defer func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }()
	return fn()
}

// process is a server the world started; its output goes to a log file that a
// failing test prints.
type process struct {
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
}

func startProcess(name, logPath string, args ...string) (*process, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &process{cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		_ = logFile.Close()
		close(p.done)
	}()
	return p, nil
}

// stop ends the process group: SIGTERM, then SIGKILL after a few seconds.
func (p *process) stop() {
	if p == nil {
		return
	}
	select {
	case <-p.done:
		return
	default:
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *process) log() string {
	data, _ := os.ReadFile(p.logPath)
	return string(data)
}

// run runs a command to completion, returning stdout, and an error with stderr.
func run(dir, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

var (
	binariesMu sync.Mutex
	binaries   = map[string]*builtBinary{}
)

type builtBinary struct {
	once sync.Once
	path string
	err  error
}

// GoBinary builds the main package pkg of this repository (e.g. "./cmd/opsroom")
// once per test process, static and with the build tags the README uses, and
// returns the binary's path.
func GoBinary(t testing.TB, pkg string) string {
	t.Helper()
	binariesMu.Lock()
	b := binaries[pkg]
	if b == nil {
		b = &builtBinary{}
		binaries[pkg] = b
	}
	binariesMu.Unlock()
	b.once.Do(func() {
		dir, err := os.MkdirTemp("", "opsroom-bin")
		if err != nil {
			b.err = err
			return
		}
		b.path = filepath.Join(dir, filepath.Base(pkg))
		tags, env := "goolm", "CGO_ENABLED=0"
		var args []string
		if os.Getenv("OPSROOM_TEST_RACE") != "" && strings.HasSuffix(pkg, "cmd/opsroom") {
			// opsroom with the race detector (which needs cgo); the test
			// images stay static, for FROM scratch.
			args, env = append(args, "-race"), "CGO_ENABLED=1"
		}
		if os.Getenv("OPSROOM_TEST_PPROF") != "" && strings.HasSuffix(pkg, "cmd/opsroom") {
			tags += ",pprof" // opsroom serves Go's profiles on OPSROOM_PPROF
		}
		args = append([]string{"build", "-tags", tags}, args...)
		cmd := exec.Command("go", append(args, "-o", b.path, pkg)...)
		cmd.Dir = repoRoot()
		cmd.Env = append(os.Environ(), env)
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

// StartSilentListener accepts TCP connections on a loopback port and never
// says a word: a hung host. It returns the address; the test's cleanup closes it.
func StartSilentListener(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return l.Addr().String()
}
