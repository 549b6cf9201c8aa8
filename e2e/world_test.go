package e2e

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.mau.fi/util/dbutil"
	"gopkg.in/yaml.v3"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/crypto/cryptohelper"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/opsroom/opsroom/internal/testworld"

	_ "modernc.org/sqlite"
)

// replyTimeout bounds how long a test waits for opsroom's answer; it is a
// ceiling for a stuck bot, not a speed target.
const replyTimeout = 60 * time.Second

// world is one ops room on a real homeserver, with alice (allowed) and eve
// (not allowed) in it, and a real sshd opsroom reaches the Docker engine through.
type world struct {
	hs    *testworld.Homeserver
	sshd  *testworld.SSHD
	alice *mautrix.Client
	eve   *mautrix.Client
	room  id.RoomID
	// moreRooms are ops rooms besides room, for tests of invites.
	moreRooms []id.RoomID
	// watch is the watch: section of opsroom's config; nil leaves the defaults.
	watch map[string]any
	// matrix and access hold keys of those sections that replace the harness's own.
	matrix map[string]any
	access map[string]any
	// top holds top-level keys of opsroom's config (display_timezone, retention).
	top map[string]any
	// encrypted says the ops room is end-to-end encrypted (alice and eve have crypto).
	encrypted bool

	botID         id.UserID
	botPassword   string
	alicePassword string
	dir           string
	// logs are the rooms as alice has read them (roomEvents), by room; copies
	// of the world (in) share them.
	logs *roomLogs
	// loginUsers are the users the hosts of opsroom's configs log in as (checkLogins).
	loginUsers map[string]bool
	// database is opsroom's database: a SQLite file in dir, or with
	// OPSROOM_TEST_STORE=postgres a fresh PostgreSQL database's URI.
	database string
}

// TestMain stops what the tests of this process shared: the homeserver and
// the throw-away PostgreSQL cluster, if a test started them.
func TestMain(m *testing.M) {
	code := m.Run()
	testworld.StopSharedHomeserver()
	testworld.StopPostgres()
	os.Exit(code)
}

// ownHomeserverTests are the tests whose worlds start a homeserver of their
// own (ownHomeserver); the rest share the process's.
var ownHomeserverTests sync.Map

// ownHomeserver makes the worlds this test builds start a homeserver of
// their own, for a test that stops it: call it before building the world.
func ownHomeserver(t testing.TB) { ownHomeserverTests.Store(t.Name(), true) }

// newDatabase is a new database for opsroom in dir, of the store
// OPSROOM_TEST_STORE picks: sqlite (the default) or postgres.
func newDatabase(t testing.TB, dir string) string {
	t.Helper()
	switch store := os.Getenv("OPSROOM_TEST_STORE"); store {
	case "", "sqlite":
		return filepath.Join(dir, "opsroom.db")
	case "postgres":
		return testworld.PostgresDatabase(t)
	default:
		t.Fatalf("OPSROOM_TEST_STORE=%q: want sqlite or postgres", store)
		return ""
	}
}

// openDatabase opens opsroom's database to read it the way an operator
// would, with SQL ($1 placeholders work on both).
func openDatabase(t testing.TB, database string) *sql.DB {
	t.Helper()
	driver, source := "sqlite", "file:"+database+"?mode=ro&_pragma=busy_timeout(5000)"
	if strings.HasPrefix(database, "postgres://") {
		driver, source = "pgx", database
	}
	db, err := sql.Open(driver, source)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// newWorld is a plain (unencrypted) ops room.
func newWorld(t testing.TB) *world {
	t.Helper()
	return makeWorld(t, false)
}

// newEncryptedWorld is an end-to-end encrypted ops room, as Element makes them:
// alice and eve read and write it through their own crypto.
func newEncryptedWorld(t testing.TB) *world {
	t.Helper()
	return makeWorld(t, true)
}

func makeWorld(t testing.TB, encrypted bool) *world {
	t.Helper()
	testworld.Short(t)
	testworld.RequireDocker(t)
	ctx := context.Background()
	w := &world{dir: t.TempDir(), encrypted: encrypted, logs: &roomLogs{}}
	w.database = newDatabase(t, w.dir)
	if _, own := ownHomeserverTests.Load(t.Name()); own {
		w.hs = testworld.StartHomeserver(t)
	} else {
		w.hs = testworld.SharedHomeserver(t)
	}
	w.sshd = testworld.StartSSHD(t)
	w.botID, w.botPassword = w.hs.Register(t, "opsroom")
	w.alice, w.alicePassword = w.hs.ClientWithPassword(t, "alice")
	w.eve = w.hs.Client(t, "eve")

	req := &mautrix.ReqCreateRoom{
		Preset: "private_chat",
		Name:   "ops",
		Invite: []id.UserID{w.botID, w.eve.UserID},
	}
	if encrypted {
		withCrypto(t, w.alice)
		withCrypto(t, w.eve)
		req.InitialState = []*event.Event{{
			Type:     event.StateEncryption,
			StateKey: new(""),
			Content:  event.Content{Parsed: &event.EncryptionEventContent{Algorithm: id.AlgorithmMegolmV1}},
		}}
	}
	resp, err := w.alice.CreateRoom(ctx, req)
	if err != nil {
		t.Fatalf("creating the ops room: %v", err)
	}
	w.room = resp.RoomID
	if _, err := w.eve.JoinRoomByID(ctx, w.room); err != nil {
		t.Fatalf("eve joining the ops room: %v", err)
	}
	if encrypted {
		for _, cli := range []*mautrix.Client{w.alice, w.eve} {
			eventually(t, string(cli.UserID)+"'s client knowing the room is encrypted", func() bool {
				ok, _ := cli.StateStore.IsEncrypted(ctx, w.room)
				return ok
			})
		}
	}
	return w
}

// host is a hosts: entry of opsroom's config.
type host map[string]any

// service is a services: entry of opsroom's config.
type service map[string]any

// localHost is the sshd of the world as our users' hosts are reached: logged
// in as the non-root testworld.Login, acting as the service owner through
// run_as (sudo -iu), its key pinned by a hashed known_hosts entry, and
// opsroom's default compose command (`docker compose`, v2).
func (w *world) localHost() host {
	return hostFor(w.sshd, w.sshd.HashedKnownHosts)
}

// ownerHost is the same sshd logged in to directly as the owner, without
// run_as, with Debian's docker-compose v1 as its compose command: the owner's
// key is authorized for it alone.
func (w *world) ownerHost(t testing.TB) host {
	t.Helper()
	w.sshd.AuthorizeOwner(t)
	h := hostFor(w.sshd, w.sshd.KnownHosts)
	h["user"] = testworld.Owner
	h["compose_command"] = "docker-compose"
	delete(h, "run_as")
	return h
}

func hostFor(s *testworld.SSHD, knownHosts string) host {
	return host{
		"address":         s.Addr,
		"user":            s.User,
		"run_as":          testworld.Owner,
		"identity_file":   s.IdentityFile,
		"known_hosts":     knownHosts,
		"connect_timeout": "5s",
		"command_timeout": "60s",
	}
}

// checkLogins makes the test's cleanup check, from the world's sshd log,
// that every login was as a user some host of the config names: a build that
// logged in as the owner instead of going through run_as (sudo) fails every
// test, even where the owner may log in.
func (w *world) checkLogins(t testing.TB, hosts map[string]host) {
	t.Helper()
	if w.loginUsers == nil {
		w.loginUsers = map[string]bool{}
		t.Cleanup(func() {
			for _, user := range w.sshd.LoggedIn() {
				if !w.loginUsers[user] {
					t.Errorf("sshd says %s logged in, but no host of opsroom's config logs in as %s (users: %v)", user, user, slices.Sorted(maps.Keys(w.loginUsers)))
					return
				}
			}
		})
	}
	for _, h := range hosts {
		if user, ok := h["user"].(string); ok {
			w.loginUsers[user] = true
		}
	}
}

// opsroom is a running opsroom process, the binary built from this tree.
type opsroom struct {
	cmd    *exec.Cmd
	db     string
	mu     sync.Mutex
	stderr bytes.Buffer
	ready  chan struct{}
	exited chan struct{}
	// readyAt is when opsroom said it listens for commands; read it once ready is closed.
	readyAt time.Time
}

// writeConfig writes opsroom's config for hosts and services, where
// startOpsroom and launch read it.
func (w *world) writeConfig(t testing.TB, hosts map[string]host, services map[string]service) {
	t.Helper()
	matrix := map[string]any{
		"homeserver":    w.hs.URL,
		"user_id":       w.botID,
		"password":      map[string]string{"file": w.secretFile(t, "bot-password", w.botPassword)},
		"rooms":         append([]id.RoomID{w.room}, w.moreRooms...),
		"edit_interval": "300ms",
		"encryption":    map[string]any{"pickle_key": map[string]string{"file": w.secretFile(t, "pickle-key", testPickleKey)}},
	}
	maps.Copy(matrix, w.matrix)
	access := map[string]any{"operators": []id.UserID{w.alice.UserID}}
	maps.Copy(access, w.access)
	cfg := map[string]any{
		"matrix":   matrix,
		"access":   access,
		"database": w.database,
		"log":      map[string]string{"level": "debug", "format": "json"},
		"hosts":    hosts,
		"services": services,
	}
	if w.watch != nil {
		cfg["watch"] = w.watch
	}
	maps.Copy(cfg, w.top)
	w.checkLogins(t, hosts)
	data, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(w.dir, "config.yaml")
	if err := os.WriteFile(cfgPath, data, 0o600); err != nil {
		t.Fatal(err)
	}

}

// startOpsroom writes a config for hosts and services and starts opsroom on it,
// returning once it has synced and listens for commands.
func (w *world) startOpsroom(t testing.TB, hosts map[string]host, services map[string]service) *opsroom {
	t.Helper()
	w.writeConfig(t, hosts, services)

	o := w.launch(t)
	select {
	case <-o.ready:
	case <-o.exited:
		t.Fatalf("opsroom exited before it was ready: %v\n%s", o.cmd.ProcessState, o.log())
	case <-time.After(replyTimeout):
		t.Fatalf("opsroom not ready after %s:\n%s", replyTimeout, o.log())
	}
	return o
}

// preflightDone waits for the preflight opsroom runs at start to finish:
// its git ls-remote would otherwise meet a SlowFetch set up after the start,
// and its processes be taken for the update's.
func (o *opsroom) preflightDone(t testing.TB) {
	t.Helper()
	eventually(t, "the preflight at start done", func() bool { return strings.Contains(o.log(), "Preflight done") })
}

// launch starts an opsroom on the config startOpsroom last wrote, without
// waiting for it to be ready; the test's cleanup stops it, checks the race
// detector's verdict and, if the test failed, prints its log.
func (w *world) launch(t testing.TB) *opsroom {
	t.Helper()
	o := &opsroom{
		cmd:    exec.Command(testworld.GoBinary(t, "./cmd/opsroom"), "-config", filepath.Join(w.dir, "config.yaml")),
		db:     w.database,
		ready:  make(chan struct{}),
		exited: make(chan struct{}),
	}
	pipe, err := o.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := o.cmd.Start(); err != nil {
		t.Fatalf("starting opsroom: %v", err)
	}
	go o.readLog(pipe)
	t.Cleanup(func() {
		o.stop(t)
		if strings.Contains(o.log(), "WARNING: DATA RACE") {
			t.Error("the race detector found a data race in opsroom (OPSROOM_TEST_RACE)")
		}
		if t.Failed() {
			t.Logf("opsroom log:\n%s", o.log())
		}
	})
	return o
}

// testPickleKey is opsroom's pickle key in the tests.
const testPickleKey = "e2e-pickle-key-8c1f0b6a2d"

// secretFile writes a secret into a file of the world, as a deployment keeps it.
func (w *world) secretFile(t testing.TB, name, secret string) string {
	t.Helper()
	path := filepath.Join(w.dir, name)
	if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func (o *opsroom) readLog(pipe interface{ Read([]byte) (int, error) }) {
	sc := bufio.NewScanner(pipe)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var once sync.Once
	for sc.Scan() {
		line := sc.Text()
		o.mu.Lock()
		o.stderr.WriteString(line + "\n")
		o.mu.Unlock()
		if strings.Contains(line, "Ready: listening for commands") {
			once.Do(func() {
				o.readyAt = time.Now()
				close(o.ready)
			})
		}
	}
	_ = o.cmd.Wait()
	close(o.exited)
}

func (o *opsroom) log() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.stderr.String()
}

// stop sends SIGTERM, as a service manager would, and waits for a clean exit.
func (o *opsroom) stop(t testing.TB) {
	select {
	case <-o.exited:
		return
	default:
	}
	_ = o.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-o.exited:
		if code := o.cmd.ProcessState.ExitCode(); code != 0 {
			t.Errorf("opsroom exited with code %d after SIGTERM", code)
		}
	case <-time.After(30 * time.Second):
		_ = o.cmd.Process.Kill()
		<-o.exited
		t.Errorf("opsroom did not stop within 30 s of SIGTERM")
	}
}

// say sends a command as the given user and returns its event ID.
func (w *world) say(t testing.TB, who *mautrix.Client, text string) id.EventID {
	t.Helper()
	resp, err := who.SendText(context.Background(), w.room, text)
	if err != nil {
		t.Fatalf("sending %q: %v", text, err)
	}
	return resp.EventID
}

// replies returns opsroom's replies to the event, oldest first.
func (w *world) replies(t testing.TB, to id.EventID) []*event.Event {
	t.Helper()
	var out []*event.Event
	for _, evt := range w.botMessages(t) {
		msg := evt.Content.AsMessage()
		if msg.RelatesTo != nil && msg.RelatesTo.GetReplyTo() == to && msg.RelatesTo.GetReplaceID() == "" {
			out = append(out, evt)
		}
	}
	return out
}

// botMessages returns the bot's messages in the room, oldest first.
func (w *world) botMessages(t testing.TB) []*event.Event {
	t.Helper()
	var out []*event.Event
	for _, evt := range w.roomEvents(t) {
		if evt.Sender != w.botID {
			continue
		}
		if evt.Type == event.EventEncrypted && w.alice.Crypto != nil {
			decrypted, err := w.alice.Crypto.Decrypt(context.Background(), evt)
			if err != nil {
				continue // its keys have not arrived yet; the next look will have them
			}
			evt = decrypted
		}
		if evt.Type != event.EventMessage {
			continue
		}
		out = append(out, evt)
	}
	return out
}

type roomLogs struct {
	mu     sync.Mutex
	byRoom map[id.RoomID]*roomLog
	// reader is alice logged in on a device of its own, with no keys: a
	// sync of alice's own device would take the to-device messages (room
	// keys) her crypto waits for.
	reader *mautrix.Client
}

// roomLog is a room's timeline as alice's client has read it so far.
type roomLog struct {
	mu     sync.Mutex
	since  string
	events []*event.Event
	seen   map[id.EventID]bool
}

// roomEvents returns the room's events, oldest first, read as a client
// follows a room: through /sync, only what is new since the last look (the
// room read whole through /messages at every look loads the homeserver the
// tests share the machine with); a gap the sync reports (a limited
// timeline) is filled from /messages.
func (w *world) roomEvents(t testing.TB) []*event.Event {
	t.Helper()
	if w.logs == nil {
		w.logs = &roomLogs{}
	}
	w.logs.mu.Lock()
	if w.logs.byRoom == nil {
		w.logs.byRoom = map[id.RoomID]*roomLog{}
	}
	l := w.logs.byRoom[w.room]
	if l == nil {
		l = &roomLog{seen: map[id.EventID]bool{}}
		w.logs.byRoom[w.room] = l
	}
	if w.logs.reader == nil {
		w.logs.reader = w.hs.Login(t, w.alice.UserID, w.alicePassword)
	}
	reader := w.logs.reader
	w.logs.mu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	ctx := context.Background()
	filter, _ := json.Marshal(mautrix.Filter{Room: &mautrix.RoomFilter{
		Rooms:    []id.RoomID{w.room},
		Timeline: &mautrix.FilterPart{Limit: 200},
		State:    &mautrix.FilterPart{Types: []event.Type{}, Limit: 0},
	}, Presence: &mautrix.FilterPart{NotTypes: []event.Type{{Type: "*"}}}})
	for {
		resp, err := reader.SyncRequest(ctx, 0, l.since, string(filter), false, event.PresenceOffline)
		if err != nil {
			t.Fatalf("reading the room: %v", err)
		}
		l.since = resp.NextBatch
		joined := resp.Rooms.Join[w.room]
		if joined == nil || len(joined.Timeline.Events) == 0 {
			break
		}
		var fresh []*event.Event
		if joined.Timeline.Limited {
			fresh = w.eventsBefore(t, reader, joined.Timeline.PrevBatch, l.seen)
		}
		fresh = append(fresh, joined.Timeline.Events...)
		for _, evt := range fresh {
			if !l.seen[evt.ID] {
				l.seen[evt.ID] = true
				evt.RoomID = w.room
				_ = evt.Content.ParseRaw(evt.Type)
				l.events = append(l.events, evt)
			}
		}
		if !joined.Timeline.Limited {
			break
		}
	}
	return slices.Clone(l.events)
}

// eventsBefore pages back through /messages from the token to the first
// event already seen (or the room's start), and returns what it read, oldest first.
func (w *world) eventsBefore(t testing.TB, reader *mautrix.Client, from string, seen map[id.EventID]bool) []*event.Event {
	t.Helper()
	var chunk []*event.Event
	for {
		resp, err := reader.Messages(context.Background(), w.room, from, "", mautrix.DirectionBackward, nil, 500)
		if err != nil {
			t.Fatalf("reading the room: %v", err)
		}
		done := len(resp.Chunk) == 0 || resp.End == "" || resp.End == from
		for _, evt := range resp.Chunk {
			if seen[evt.ID] {
				done = true
				break
			}
			chunk = append(chunk, evt)
		}
		if done {
			break
		}
		from = resp.End
	}
	slices.Reverse(chunk)
	return chunk
}

// withCrypto gives a test client end-to-end encryption, with its keys in its
// own SQLite file, and keeps it syncing (to receive room keys) until the test ends.
func withCrypto(t testing.TB, cli *mautrix.Client) {
	t.Helper()
	raw, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "crypto.db")+
		"?_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	db, err := dbutil.NewWithDB(raw, "sqlite")
	if err != nil {
		t.Fatal(err)
	}
	helper, err := cryptohelper.NewCryptoHelper(cli, []byte("test client pickle key"), db)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := helper.Init(ctx); err != nil {
		t.Fatalf("crypto for %s: %v", cli.UserID, err)
	}
	cli.Crypto = helper
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = cli.SyncWithContext(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done // the sync loop must be gone before its store closes
		_ = db.Close()
	})
}

// alerts returns the bodies of the bot's messages that answer no one: its alerts, oldest first.
func (w *world) alerts(t testing.TB) []string {
	t.Helper()
	var out []string
	for _, evt := range w.alertEvents(t) {
		out = append(out, evt.Content.AsMessage().Body)
	}
	return out
}

// alertEvents returns the bot's messages that answer no one, oldest first;
// not the room's board, which is no alert.
func (w *world) alertEvents(t testing.TB) []*event.Event {
	t.Helper()
	var out []*event.Event
	for _, evt := range w.botMessages(t) {
		if evt.Content.AsMessage().RelatesTo == nil && evt.Content.Raw["org.opsroom.board"] != true {
			out = append(out, evt)
		}
	}
	return out
}

// edits returns the bodies of the edits of msg, oldest first.
func (w *world) edits(t testing.TB, msg id.EventID) []string {
	t.Helper()
	var out []string
	for _, evt := range w.botMessages(t) {
		content := evt.Content.AsMessage()
		if content.RelatesTo.GetReplaceID() == msg && content.NewContent != nil {
			out = append(out, content.NewContent.Body)
		}
	}
	return out
}

// ask sends a command and waits for opsroom's reply, returning its text.
func (w *world) ask(t testing.TB, who *mautrix.Client, text string) string {
	t.Helper()
	sent := w.say(t, who, text)
	return w.waitReply(t, sent, text)
}

func (w *world) waitReply(t testing.TB, sent id.EventID, text string) string {
	t.Helper()
	deadline := time.Now().Add(replyTimeout)
	for time.Now().Before(deadline) {
		if got := w.replies(t, sent); len(got) > 0 {
			msg := got[0].Content.AsMessage()
			if msg.MsgType != event.MsgNotice {
				t.Errorf("reply to %q is %s, want m.notice", text, msg.MsgType)
			}
			return msg.Body
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("no reply to %q within %s", text, replyTimeout)
	return ""
}

// auditRows reads the audit log the way an operator would, with SQL.
func auditRows(t testing.TB, dbPath, command string) []string {
	t.Helper()
	db := openDatabase(t, dbPath)
	defer db.Close()
	rows, err := db.Query(`SELECT sender, result, service, args FROM audit_log WHERE command=$1 ORDER BY id`, command)
	if err != nil {
		t.Fatalf("reading the audit log: %v", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var sender, result, svc, args string
		if err := rows.Scan(&sender, &result, &svc, &args); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%s %s %s %s", sender, result, svc, args))
	}
	return out
}

// reply waits for the reply number n (from 0) to sent, such as an update's
// progress message, and returns its ID.
func (w *world) reply(t testing.TB, sent id.EventID, n int, what string) id.EventID {
	t.Helper()
	var reply id.EventID
	eventually(t, what, func() bool {
		if r := w.replies(t, sent); len(r) > n {
			reply = r[n].ID
			return true
		}
		return false
	})
	return reply
}

// eventually polls cond until it holds or the reply timeout passes.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	eventuallyWithin(t, replyTimeout, what, cond)
}

// eventuallyWithin is eventually with a bound of its own, for what the host
// takes long for on a loaded machine (rootless podman's restarts).
func eventuallyWithin(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, timeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
