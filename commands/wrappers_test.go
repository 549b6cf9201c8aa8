package commands

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/opsroom/opsroom/internal/config"
	"github.com/opsroom/opsroom/internal/testworld"
	"github.com/opsroom/opsroom/ops"
	"github.com/opsroom/opsroom/store"
)

// wrapperSigns are what opsroom wraps a remote command in on its way to the
// host, and must never show in the room: run_as's sudo and login shell, the
// envelope (the script, base64-encoded, and its marks), the process group
// (setsid, the group ID line). The tools themselves may be named: the
// preflight says whether the host has setsid and base64.
var wrapperSigns = []*regexp.Regexp{
	regexp.MustCompile(`setsid --wait bash`),
	regexp.MustCompile(`exec bash -c`),
	regexp.MustCompile(`opsroom-pgid`),
	regexp.MustCompile(`base64 -d`),
	regexp.MustCompile(`opsroom-[0-9a-f]{12}`),
	regexp.MustCompile(`sudo -n`),
	regexp.MustCompile(`bash -lc`),
}

func wrapperIn(text string) string {
	for _, re := range wrapperSigns {
		if m := re.FindString(text); m != "" {
			return m
		}
	}
	return ""
}

// A failed or timed-out run's message shows the recipe's own command, never
// the wrapper around it: the words users see are the ones they would type.
func TestRunFailureShowsTheRecipeNotItsWrapper(t *testing.T) {
	start := time.Date(2026, 11, 24, 14, 0, 0, 0, time.UTC)
	p := &progress{verb: "Updating", service: "app", host: "spark", who: "@alice:example.org", started: start, timeout: 15 * time.Minute}
	p.StageStarted(ops.StageFetch, "git fetch origin master")
	p.failStage()
	// What ops says of a grouped command that ran out of time: the command line as sent.
	sent := `exec setsid --wait bash -c 'echo opsroom-pgid=$$ >&2; exec bash -c "$1"' opsroom 'git -C '\''/srv/app'\'' fetch '\''origin'\'' '\''master'\'' 2>&1'`
	err := fmt.Errorf("fetch: %w", fmt.Errorf("host %q: `%s` did not finish within %s: %w", "spark", sent, 15*time.Minute, context.DeadlineExceeded))
	final := p.renderFailure(err, ops.Status{Service: "app", State: ops.StateRunning}, start.Add(15*time.Minute))
	if w := wrapperIn(final); w != "" {
		t.Errorf("the failure shows the wrapper (%q):\n%s", w, final)
	}
	mustShow(t, shown(final), "❌ Update of **app** on `spark` failed at stage fetch",
		"stage fetch (git fetch origin master) did not finish within 15m0s, the service's update_timeout")
	if detail := p.failureText(err); wrapperIn(detail) != "" || !strings.Contains(detail, "did not finish within 15m0s") {
		t.Errorf("the audit detail of a timeout: %q", detail)
	}
	other := errors.New("fetch: host \"spark\": connection lost while running a command")
	if got := p.failureText(other); got != other.Error() {
		t.Errorf("an error other than a timeout is shown as it is: %q", got)
	}
}

// Every message a failing update, a timed-out update, a failing restart and a
// preflight put in the room, through the real fleet on a real host (logged in
// as the deploy user, acting as the owner through sudo), shows the recipes'
// own commands and nothing of the wrappers around them.
func TestTheRoomNeverSeesTheWrappers(t *testing.T) {
	w := newHostWorld(t)
	for _, cmd := range []struct {
		body string
		want []string // what the room must show of it, as Markdown
	}{
		{"!update slow", []string{"failed at stage fetch", "stage fetch (git fetch origin master) did not finish within 3s"}},
		{"!update gone", []string{"failed at stage fetch", "fetch 'origin' 'master' 2>&1` exited with code", "no-such-origin.git"}},
		{"!restart web", []string{"restart of **web** failed", "docker restart 'opsroom-wrappers-no-such-container'` exited with code"}},
		{"!check gone", []string{"❌ remote reachable", "no-such-origin.git"}},
		{"!history", []string{"!update slow", "!update gone", "!restart web"}},
	} {
		said := w.send(cmd.body)
		if len(said) == 0 {
			t.Errorf("%s: nothing said in the room", cmd.body)
			continue
		}
		all := strings.Join(said, "\n---\n")
		t.Logf("%s:\n%s", cmd.body, all)
		for _, text := range said {
			if w := wrapperIn(text); w != "" {
				t.Errorf("%s: the room sees the wrapper (%q):\n%s", cmd.body, w, text)
			}
		}
		mustShow(t, all, cmd.want...)
	}
}

// hostWorld is the commands on a real fleet and store, answering in a room
// that records what they say. Its host is this machine's real sshd, logged
// in to as the deploy user, acting as the owner through sudo. Its services:
// slow (compose; its fetch takes 30 s, its update_timeout is 3 s), gone
// (compose; its origin does not exist) and web (a container that does not
// exist).
type hostWorld struct {
	ctx  context.Context
	proc interface {
		Process(context.Context, *event.Event)
	}
	cli   *mautrix.Client
	room  *roomRecorder
	store *store.Store
	sent  int
}

const hostWorldSender = "@alice:wrappers.test"

func newHostWorld(t *testing.T) *hostWorld {
	t.Helper()
	testworld.Short(t)
	sshd := testworld.StartSSHD(t)
	owner := testworld.OwnerUser(t)
	root := owner.Dir(t)
	origin, slow, gone := filepath.Join(root, "origin.git"), filepath.Join(root, "slow"), filepath.Join(root, "gone")
	testworld.Git(t, root, "init", "-q", "--bare", origin)
	testworld.Git(t, root, "clone", "-q", origin, slow)
	if err := os.WriteFile(filepath.Join(slow, "docker-compose.yml"), []byte("services: {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	testworld.Git(t, slow, "add", "-A")
	testworld.Git(t, slow, "commit", "-q", "-m", "v1")
	testworld.Git(t, slow, "push", "-q", "origin", "master")
	testworld.Git(t, root, "clone", "-q", origin, gone)
	testworld.Git(t, slow, "config", "remote.origin.uploadpack", "sleep 30; git-upload-pack")
	testworld.Git(t, gone, "remote", "set-url", "origin", filepath.Join(root, "no-such-origin.git"))
	owner.Chown(t, root)

	ctx := zerolog.New(io.Discard).WithContext(context.Background())
	cfg := &ops.Config{
		Hosts: map[string]*ops.HostConfig{"spark": {Address: sshd.Addr, User: sshd.User, IdentityFile: sshd.IdentityFile,
			KnownHosts: sshd.KnownHosts, RunAs: testworld.Owner}},
		Services: map[string]*ops.ServiceConfig{
			"slow": {Host: "spark", Kind: ops.KindCompose, Directory: slow, ComposeService: "app", Container: "opsroom-wrappers-slow",
				UpdateTimeout: config.Duration{Duration: 3 * time.Second}},
			"gone": {Host: "spark", Kind: ops.KindCompose, Directory: gone, ComposeService: "app", Container: "opsroom-wrappers-gone"},
			"web":  {Host: "spark", Kind: ops.KindContainer, Container: "opsroom-wrappers-no-such-container"},
		},
		Watch: ops.WatchConfig{Disabled: true},
	}
	if errs, _ := cfg.Validate(); len(errs) > 0 {
		t.Fatalf("config: %v", errs)
	}
	fleet, err := ops.NewFleet(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = fleet.Close() })
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "opsroom.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	room := &roomRecorder{}
	srv := httptest.NewServer(room)
	t.Cleanup(srv.Close)
	cli, err := mautrix.NewClient(srv.URL, "@opsroom:wrappers.test", "token")
	if err != nil {
		t.Fatal(err)
	}
	proc := NewProcessor(cli, &Deps{Fleet: fleet, Store: st, EditInterval: 100 * time.Millisecond,
		Access: Access{Operators: []string{hostWorldSender}}})
	return &hostWorld{ctx: ctx, proc: proc, cli: cli, room: room, store: st}
}

// send hands a command to the processor, as the bot does, and returns the
// texts it put in the room.
func (w *hostWorld) send(body string) []string {
	w.sent++
	w.proc.Process(w.ctx, &event.Event{
		Type: event.EventMessage, Sender: hostWorldSender, RoomID: "!ops:wrappers.test",
		ID: id.EventID(fmt.Sprintf("$command%d", w.sent)), Timestamp: time.Now().UnixMilli(),
		Content: event.Content{Parsed: &event.MessageEventContent{MsgType: event.MsgText, Body: body}},
	})
	return w.room.take()
}

func mustShow(t *testing.T, got string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("lacks %q:\n%s", w, got)
		}
	}
}

// roomRecorder is a homeserver that takes every message the bot sends and
// keeps each text it carries: the body, the HTML, and an edit's new content.
type roomRecorder struct {
	mu    sync.Mutex
	texts []string
	n     int
}

func (r *roomRecorder) ServeHTTP(rw http.ResponseWriter, req *http.Request) {
	// PUT /_matrix/client/v3/rooms/{room}/send/{type}/{txn}
	parts := strings.Split(req.URL.Path, "/")
	if req.Method != http.MethodPut || len(parts) < 3 || parts[len(parts)-3] != "send" {
		_, _ = rw.Write([]byte("{}"))
		return
	}
	var content struct {
		Body          string `json:"body"`
		FormattedBody string `json:"formatted_body"`
		NewContent    *struct {
			Body          string `json:"body"`
			FormattedBody string `json:"formatted_body"`
		} `json:"m.new_content"`
	}
	data, _ := io.ReadAll(req.Body)
	_ = json.Unmarshal(data, &content)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.n++
	if content.NewContent != nil {
		// An edit's body is "* " and the new body; the new content is what clients show.
		r.texts = append(r.texts, content.NewContent.Body, content.NewContent.FormattedBody)
	} else if content.Body != "" {
		r.texts = append(r.texts, content.Body, content.FormattedBody)
	}
	_, _ = fmt.Fprintf(rw, `{"event_id":"$sent%d"}`, r.n)
}

func (r *roomRecorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.texts
	r.texts = nil
	return out
}
