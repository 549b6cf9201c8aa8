package testworld

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	// pgx's database/sql driver, registered as "pgx", for CREATE DATABASE.
	_ "github.com/jackc/pgx/v5/stdlib"
)

// pgAccount is the non-root user the throw-away cluster runs as (initdb
// refuses root): the one Debian's postgresql package creates.
const pgAccount = "postgres"

// PostgresCluster is a throw-away PostgreSQL cluster on loopback: initdb'd in
// a temporary directory, its socket there too, run as pgAccount with trust
// authentication, fsync off. One per test process, shared by its tests, each
// test with a database of its own.
type PostgresCluster struct {
	Port int
	dir  string
	proc *exec.Cmd
	done chan struct{}
	log  string
}

var (
	pgOnce    sync.Once
	pgCluster *PostgresCluster
	pgErr     error
	pgSkip    string
	pgSeq     atomic.Int64
)

// PostgresBin is the directory of PostgreSQL's server programs (initdb,
// postgres): $OPSROOM_POSTGRES_BIN (test/setup.sh sets it), else Debian's
// newest /usr/lib/postgresql/VERSION/bin; "" when there is none.
func PostgresBin() string {
	if dir := os.Getenv("OPSROOM_POSTGRES_BIN"); dir != "" {
		return dir
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[i])))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[j])))
		return vi < vj
	})
	for i := len(dirs) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(dirs[i], "initdb")); err == nil {
			return dirs[i]
		}
	}
	return ""
}

// PostgresDatabase returns the URI of a new, empty database for this test in
// the process's cluster, which it starts on first use. It skips the test
// under -short, and when PostgreSQL is not installed (test/setup.sh installs it).
func PostgresDatabase(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("needs PostgreSQL (a throw-away cluster); run without -short")
	}
	c := startPostgres(t)
	name := fmt.Sprintf("opsroom_test_%d_%d", os.Getpid(), pgSeq.Add(1))
	admin, err := sql.Open("pgx", c.uri("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("creating PostgreSQL database %s: %v\n%s", name, err, c.logTail())
	}
	return c.uri(name)
}

// uri is the URI of database db in the cluster.
func (c *PostgresCluster) uri(db string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", pgAccount, c.Port, db)
}

func (c *PostgresCluster) logTail() string {
	data, _ := os.ReadFile(c.log)
	if len(data) > 4000 {
		data = data[len(data)-4000:]
	}
	return string(data)
}

// startPostgres starts the process's cluster once; it skips the test when
// PostgreSQL or its account is missing.
func startPostgres(t testing.TB) *PostgresCluster {
	t.Helper()
	pgOnce.Do(func() { pgCluster, pgSkip, pgErr = newPostgres() })
	if pgSkip != "" {
		Missing(t, "%s", pgSkip)
	}
	if pgErr != nil {
		t.Fatalf("starting the throw-away PostgreSQL cluster: %v", pgErr)
	}
	return pgCluster
}

func newPostgres() (c *PostgresCluster, skip string, err error) {
	bin := PostgresBin()
	if bin == "" {
		return nil, "needs PostgreSQL's server programs (Debian's postgresql; test/setup.sh installs it, or set OPSROOM_POSTGRES_BIN)", nil
	}
	account, err := user.Lookup(pgAccount)
	if err != nil {
		return nil, "needs the " + pgAccount + " account that Debian's postgresql package creates (initdb refuses root)", nil
	}
	uid, _ := strconv.Atoi(account.Uid)
	gid, _ := strconv.Atoi(account.Gid)
	dir, err := os.MkdirTemp("", "opsroom-postgres-")
	if err != nil {
		return nil, "", err
	}
	c = &PostgresCluster{dir: dir, log: filepath.Join(dir, "postgres.log"), done: make(chan struct{})}
	defer func() {
		if err != nil {
			_ = os.RemoveAll(dir)
		}
	}()
	as := func(cmd *exec.Cmd) *exec.Cmd {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
		cmd.Dir = dir
		cmd.Env = []string{"PATH=/usr/bin:/bin", "LANG=C.UTF-8", "HOME=" + dir}
		return cmd
	}
	if err := os.Chown(dir, uid, gid); err != nil {
		return nil, "", err
	}
	data := filepath.Join(dir, "data")
	out, err := as(exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", pgAccount, "--auth=trust",
		"--encoding=UTF8", "--locale=C.UTF-8", "--no-sync")).CombinedOutput()
	if err != nil {
		return nil, "", fmt.Errorf("initdb: %v\n%s", err, out)
	}
	logFile, err := os.OpenFile(c.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, "", err
	}
	defer logFile.Close()
	for try := 0; ; try++ {
		c.Port = freePort()
		// fsync off: the cluster is thrown away; a socket dir of its own, not /var/run/postgresql.
		cmd := as(exec.Command(filepath.Join(bin, "postgres"), "-D", data, "-h", "127.0.0.1", "-p", strconv.Itoa(c.Port),
			"-k", dir, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
			"-c", "max_connections=400", "-c", "shared_buffers=32MB"))
		cmd.Stdout, cmd.Stderr = logFile, logFile
		// Fast shutdown when the test process ends, however it ends.
		cmd.SysProcAttr.Pdeathsig = syscall.SIGINT
		cmd.SysProcAttr.Setpgid = true
		if err := cmd.Start(); err != nil {
			return nil, "", fmt.Errorf("starting postgres: %w", err)
		}
		c.proc, c.done = cmd, make(chan struct{})
		go func(done chan struct{}) { _ = cmd.Wait(); close(done) }(c.done)
		if err := c.waitReady(15 * time.Second); err == nil {
			return c, "", nil
		} else if try == 2 {
			c.stop()
			return nil, "", fmt.Errorf("%w\n%s", err, c.logTail())
		}
		c.stop() // most likely the port was taken meanwhile: another one
	}
}

// waitReady waits until the cluster answers a query.
func (c *PostgresCluster) waitReady(timeout time.Duration) error {
	db, err := sql.Open("pgx", c.uri("postgres"))
	if err != nil {
		return err
	}
	defer db.Close()
	deadline := time.Now().Add(timeout)
	for {
		select {
		case <-c.done:
			return fmt.Errorf("postgres exited at start")
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := db.PingContext(ctx)
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("postgres not answering after %s: %w", timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (c *PostgresCluster) stop() {
	if c.proc == nil || c.proc.Process == nil {
		return
	}
	_ = c.proc.Process.Signal(syscall.SIGINT) // fast shutdown
	select {
	case <-c.done:
	case <-time.After(20 * time.Second):
		_ = syscall.Kill(-c.proc.Process.Pid, syscall.SIGKILL)
		<-c.done
	}
}

// StopPostgres stops the process's cluster, if it started one, and removes
// it: a package's TestMain calls it after the tests.
func StopPostgres() {
	if pgCluster == nil {
		return
	}
	pgCluster.stop()
	_ = os.RemoveAll(pgCluster.dir)
}

// freePort is a loopback TCP port that was free a moment ago.
func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
