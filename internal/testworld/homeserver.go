package testworld

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"
	"maunium.net/go/mautrix/synapseadmin"
)

// DendriteVersion is the homeserver the tests run, built from test/tools.
const DendriteVersion = "v0.15.2"

// registrationSecret is the shared secret `generate-config -ci` writes.
const registrationSecret = "complement"

var dendriteTools = []string{"dendrite", "generate-config", "generate-keys"}

// Homeserver is a Dendrite on 127.0.0.1 with its own data directory.
type Homeserver struct {
	URL        string
	ServerName string

	dir, config, addr string
	proc              *process
	// shared says other tests use it too (SharedHomeserver): it must not stop.
	shared bool
}

// accountSeq makes every localpart Register is given unique in this process.
var accountSeq atomic.Int64

// dendriteBin returns the directory with the Dendrite binaries, building them
// from test/tools when they are not there yet (OPSROOM_TEST_BIN names a ready one).
func dendriteBin(t testing.TB) string {
	t.Helper()
	dir := toolDir("OPSROOM_TEST_BIN", "dendrite-"+DendriteVersion, "tools")
	var pkgs []string
	for _, tool := range dendriteTools {
		pkgs = append(pkgs, "github.com/element-hq/dendrite/cmd/"+tool)
	}
	buildTools(t, "tools", "Dendrite "+DendriteVersion, filepath.Join(dir, dendriteTools[len(dendriteTools)-1]),
		append([]string{"-o", dir + "/"}, pkgs...)...)
	return dir
}

// StartHomeserver starts a fresh Dendrite of this test's own; its cleanup
// stops it. Tests that stop or restart the homeserver need one; the others
// share one per process (SharedHomeserver).
func StartHomeserver(t testing.TB) *Homeserver {
	t.Helper()
	h := newHomeserver(t, t.TempDir())
	t.Cleanup(func() {
		h.proc.stop()
		if t.Failed() {
			t.Logf("dendrite log:\n%s", tail(h.proc.log(), 50))
		}
	})
	return h
}

var (
	sharedMu sync.Mutex
	shared   *Homeserver
)

// SharedHomeserver is the one Dendrite of this test process, started by the
// first test that asks for it and stopped by StopSharedHomeserver (the
// package's TestMain): each test registers accounts and makes rooms of its
// own on it (Register makes every localpart unique), which costs far less
// than a homeserver each. A test that stops it fails: such a test needs
// StartHomeserver.
func SharedHomeserver(t testing.TB) *Homeserver {
	t.Helper()
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if shared != nil && !shared.proc.exited() {
		return shared
	}
	dir, err := os.MkdirTemp("", "opsroom-shared-homeserver")
	if err != nil {
		t.Fatal(err)
	}
	shared = newHomeserver(t, dir)
	shared.shared = true
	return shared
}

// StopSharedHomeserver stops the process's shared homeserver, if one started.
func StopSharedHomeserver() {
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if shared != nil {
		shared.proc.stop()
		_ = os.RemoveAll(shared.dir)
		shared = nil
	}
}

// newHomeserver configures and starts a Dendrite whose data is in dir.
func newHomeserver(t testing.TB, dir string) *Homeserver {
	t.Helper()
	bin := dendriteBin(t)
	h := &Homeserver{
		ServerName: "localhost",
		dir:        dir,
		config:     filepath.Join(dir, "dendrite.yaml"),
		addr:       fmt.Sprintf("127.0.0.1:%d", FreePort(t)),
	}
	h.URL = "http://" + h.addr
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	args := []string{"-ci", "-dir", filepath.Join(dir, "data"), "-server", h.ServerName}
	if PostgresBin() != "" {
		// On SQLite, Dendrite's storage now and then panics under concurrent
		// writes ("cannot start a transaction within a transaction", its
		// issue #1348), taking the test with it; PostgreSQL, its main engine,
		// does not. SQLite stays the fallback where PostgreSQL is missing.
		args = append(args, "-db", PostgresDatabase(t))
	}
	cfg, err := run(dir, filepath.Join(bin, "generate-config"), args...)
	if err != nil {
		t.Fatal(err)
	}
	// A few clients per test, one test at a time: a small pool.
	cfg = strings.Replace(cfg, "max_open_conns: 90", "max_open_conns: 10", 1)
	key := filepath.Join(dir, "matrix_key.pem")
	// The generated private_key path is relative to the working directory: make it absolute.
	cfg = strings.Replace(cfg, "private_key: matrix_key.pem", "private_key: "+key, 1)
	// Its internal message streams on disk, as in production (-ci keeps them in
	// memory): an event a client sent just before a stop would otherwise never
	// reach /sync after the start.
	cfg = strings.Replace(cfg, "in_memory: true", "in_memory: false", 1)
	// Accounts are made with the shared secret only; open registration makes Dendrite refuse to start.
	cfg = strings.Replace(cfg, "registration_disabled: false", "registration_disabled: true", 1)
	if err := os.WriteFile(h.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := run(dir, filepath.Join(bin, "generate-keys"), "--private-key", key); err != nil {
		t.Fatal(err)
	}
	h.Start(t)
	return h
}

// Start starts the homeserver (again), on the same port and data.
func (h *Homeserver) Start(t testing.TB) {
	t.Helper()
	proc, err := startProcess(filepath.Join(dendriteBin(t), "dendrite"), filepath.Join(h.dir, "dendrite.log"),
		"-config", h.config, "-http-bind-address", h.addr, "-https-bind-address", "")
	if err != nil {
		t.Fatal(err)
	}
	h.proc = proc
	deadline := time.Now().Add(30 * time.Second)
	for {
		cli, _ := mautrix.NewClient(h.URL, "", "")
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := cli.Versions(ctx)
		cancel()
		if err == nil {
			return
		}
		if proc.exited() || time.Now().After(deadline) {
			t.Fatalf("dendrite did not come up at %s: %v\n%s", h.URL, err, tail(proc.log(), 30))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop stops the homeserver, for "homeserver away" tests.
func (h *Homeserver) Stop(t testing.TB) {
	t.Helper()
	if h.shared {
		t.Fatal("this test stops the homeserver other tests share: give it one of its own (testworld.StartHomeserver)")
	}
	h.proc.stop()
}

// Register creates an account and returns its ID and generated password.
// The localpart gets a number of its own (alice becomes alice-7), so that
// tests on one homeserver never meet each other's accounts.
func (h *Homeserver) Register(t testing.TB, localpart string) (id.UserID, string) {
	t.Helper()
	localpart = fmt.Sprintf("%s-%d", localpart, accountSeq.Add(1))
	buf := make([]byte, 12)
	_, _ = rand.Read(buf)
	password := hex.EncodeToString(buf)
	cli, err := mautrix.NewClient(h.URL, "", "")
	if err != nil {
		t.Fatal(err)
	}
	admin := synapseadmin.Client{Client: cli}
	resp, err := admin.SharedSecretRegister(context.Background(), registrationSecret, synapseadmin.ReqSharedSecretRegister{
		Username: localpart,
		Password: password,
	})
	if err != nil {
		t.Fatalf("registering %s: %v", localpart, err)
	}
	return resp.UserID, password
}

// Client registers an account and returns a client logged in as it.
func (h *Homeserver) Client(t testing.TB, localpart string) *mautrix.Client {
	t.Helper()
	cli, _ := h.ClientWithPassword(t, localpart)
	return cli
}

// ClientWithPassword is Client, also returning the account's password (for
// what asks for it again, such as publishing cross-signing keys).
func (h *Homeserver) ClientWithPassword(t testing.TB, localpart string) (*mautrix.Client, string) {
	t.Helper()
	userID, password := h.Register(t, localpart)
	return h.Login(t, userID, password), password
}

// Login logs in to an existing account, as a new device.
func (h *Homeserver) Login(t testing.TB, userID id.UserID, password string) *mautrix.Client {
	t.Helper()
	cli, err := mautrix.NewClient(h.URL, userID, "")
	if err != nil {
		t.Fatal(err)
	}
	_, err = cli.Login(context.Background(), &mautrix.ReqLogin{
		Type:             mautrix.AuthTypePassword,
		Identifier:       mautrix.UserIdentifier{Type: mautrix.IdentifierTypeUser, User: string(userID)},
		Password:         password,
		StoreCredentials: true,
	})
	if err != nil {
		t.Fatalf("logging in as %s: %v", userID, err)
	}
	return cli
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
