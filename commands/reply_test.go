package commands

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"

	"github.com/opsroom/opsroom/store"
)

// refusingHomeserver answers each message the bot sends with the next of its
// answers (the last one again when they run out) and keeps what was sent.
type refusingHomeserver struct {
	mu      sync.Mutex
	answers []func(rw http.ResponseWriter)
	tries   int
	txns    []string
	bodies  []string
}

func (hs *refusingHomeserver) ServeHTTP(rw http.ResponseWriter, req *http.Request) {
	parts := strings.Split(req.URL.Path, "/")
	if req.Method != http.MethodPut || len(parts) < 3 || parts[len(parts)-3] != "send" {
		_, _ = rw.Write([]byte("{}"))
		return
	}
	var content struct {
		Body string `json:"body"`
	}
	data, _ := io.ReadAll(req.Body)
	_ = json.Unmarshal(data, &content)
	hs.mu.Lock()
	defer hs.mu.Unlock()
	hs.txns = append(hs.txns, parts[len(parts)-1])
	hs.bodies = append(hs.bodies, content.Body)
	answer := hs.answers[min(hs.tries, len(hs.answers)-1)]
	hs.tries++
	answer(rw)
}

func accepted(rw http.ResponseWriter) { _, _ = rw.Write([]byte(`{"event_id":"$sent"}`)) }

func refused(status int, body string) func(http.ResponseWriter) {
	return func(rw http.ResponseWriter) {
		rw.Header().Set("Content-Type", "application/json")
		rw.WriteHeader(status)
		_, _ = rw.Write([]byte(body))
	}
}

// replyWorld is a command processor on a homeserver that answers as told,
// with a real audit log.
type replyWorld struct {
	hs    *refusingHomeserver
	ce    *Event
	store *store.Store
}

func newReplyWorld(t *testing.T, answers ...func(http.ResponseWriter)) *replyWorld {
	t.Helper()
	old := sendBackoff
	sendBackoff = 10 * time.Millisecond
	t.Cleanup(func() { sendBackoff = old })
	ctx := zerolog.New(io.Discard).WithContext(context.Background())
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "opsroom.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	hs := &refusingHomeserver{answers: answers}
	srv := httptest.NewServer(hs)
	t.Cleanup(srv.Close)
	cli, err := mautrix.NewClient(srv.URL, "@opsroom:reply.test", "token")
	if err != nil {
		t.Fatal(err)
	}
	deps := &Deps{Store: st}
	proc := NewProcessor(cli, deps)
	evt := &event.Event{Type: event.EventMessage, Sender: "@alice:reply.test", RoomID: "!ops:reply.test", ID: "$command",
		Content: event.Content{Parsed: &event.MessageEventContent{MsgType: event.MsgText, Body: "!logs bridge 500"}}}
	ce := &Event{Event: evt, Ctx: ctx, Proc: proc, Meta: deps, Command: "logs", Args: []string{"bridge", "500"}}
	return &replyWorld{hs: hs, ce: ce, store: st}
}

// finish answers the command with reply and returns its audit row.
func (w *replyWorld) finish(t *testing.T, o outcome) *store.AuditEntry {
	t.Helper()
	finish(w.ce, time.Now(), o)
	rows, err := w.store.Audit().Recent(context.Background(), "", 10)
	if err != nil || len(rows) != 1 {
		t.Fatalf("audit rows: %v, %v", rows, err)
	}
	return rows[0]
}

func (w *replyWorld) sent() (tries int, txns, bodies []string) {
	w.hs.mu.Lock()
	defer w.hs.mu.Unlock()
	return w.hs.tries, w.hs.txns, w.hs.bodies
}

func TestAReplyTheHomeserverRefusesIsReplacedAndAuditedFailed(t *testing.T) {
	w := newReplyWorld(t,
		refused(http.StatusRequestEntityTooLarge, `{"errcode":"M_TOO_LARGE","error":"event is too long, length 91047 > 65536"}`),
		accepted)
	row := w.finish(t, outcome{Reply: "Last 500 lines of **bridge**:\n\n```\nlots\n```", Service: "bridge", Result: store.ResultOK})
	tries, _, bodies := w.sent()
	if tries != 2 {
		t.Fatalf("want the reply once (not retried: the refusal is permanent) and the note once, got %d sends: %q", tries, bodies)
	}
	want := "⚠️ the answer to `!logs bridge 500` could not be sent: the homeserver refused it (M_TOO_LARGE: event is too long, length 91047 > 65536)"
	if bodies[1] != want {
		t.Errorf("the note reads\n%q\nwant\n%q", bodies[1], want)
	}
	if row.Result != store.ResultFailed || !strings.Contains(row.Detail, "reply not delivered: the homeserver refused it (M_TOO_LARGE") {
		t.Errorf("audit row: %s %q, want failed, saying why", row.Result, row.Detail)
	}
}

func TestARefusedReplyOfAFailedCommandKeepsItsOwnReason(t *testing.T) {
	w := newReplyWorld(t, refused(http.StatusForbidden, `{"errcode":"M_FORBIDDEN","error":"You don't have permission to post that to the room."}`))
	exit := 1
	row := w.finish(t, outcome{Reply: "❌ failed", Service: "bridge", Result: store.ResultFailed, ExitCode: &exit, Detail: "exited 1"})
	if tries, _, _ := w.sent(); tries != 2 {
		t.Errorf("want the reply and the note tried once each, got %d sends", tries)
	}
	if row.Result != store.ResultFailed || !strings.Contains(row.Detail, "M_FORBIDDEN") || !strings.Contains(row.Detail, "nor could the note") ||
		!strings.HasSuffix(row.Detail, "; exited 1") || row.ExitCode == nil {
		t.Errorf("audit row: %s %q", row.Result, row.Detail)
	}
}

func TestTransientRefusalsAreRetriedUnderOneTransaction(t *testing.T) {
	for name, first := range map[string]func(http.ResponseWriter){
		"rate limited": refused(http.StatusTooManyRequests, `{"errcode":"M_LIMIT_EXCEEDED","error":"Too many requests","retry_after_ms":50}`),
		"bad gateway":  refused(http.StatusBadGateway, `<html>bad gateway</html>`),
		"server error": refused(http.StatusInternalServerError, `{"errcode":"M_UNKNOWN","error":"database is locked"}`),
		"dropped":      func(rw http.ResponseWriter) { panic(http.ErrAbortHandler) },
	} {
		t.Run(name, func(t *testing.T) {
			w := newReplyWorld(t, first, first, accepted)
			row := w.finish(t, outcome{Reply: "🟢 all good", Result: store.ResultOK})
			tries, txns, bodies := w.sent()
			if tries != 3 || bodies[2] != "🟢 all good" {
				t.Fatalf("want two refusals and the reply, got %d sends: %q", tries, bodies)
			}
			if txns[0] != txns[1] || txns[1] != txns[2] {
				t.Errorf("retries must reuse the transaction ID, got %q", txns)
			}
			if row.Result != store.ResultOK || row.Detail != "" {
				t.Errorf("audit row: %s %q, want ok", row.Result, row.Detail)
			}
		})
	}
}

func TestRetriesEndAndTheFailureIsAudited(t *testing.T) {
	w := newReplyWorld(t, refused(http.StatusServiceUnavailable, `{"errcode":"M_UNKNOWN","error":"try later"}`))
	row := w.finish(t, outcome{Reply: "🟢 all good", Result: store.ResultOK})
	if tries, _, _ := w.sent(); tries != 2*sendAttempts {
		t.Errorf("want %d attempts of the reply and as many of the note, got %d", sendAttempts, tries)
	}
	if row.Result != store.ResultFailed || !strings.Contains(row.Detail, "HTTP 503") && !strings.Contains(row.Detail, "M_UNKNOWN") {
		t.Errorf("audit row: %s %q", row.Result, row.Detail)
	}
}

func TestTransientSendErrors(t *testing.T) {
	resp := func(status int) *http.Response { return &http.Response{StatusCode: status} }
	for _, tc := range []struct {
		err       error
		transient bool
		wait      time.Duration
	}{
		{mautrix.HTTPError{Response: resp(429), RespError: &mautrix.RespError{ErrCode: "M_LIMIT_EXCEEDED", ExtraData: map[string]any{"retry_after_ms": 1500.0}}}, true, 1500 * time.Millisecond},
		{mautrix.HTTPError{Response: resp(429), RespError: &mautrix.RespError{ErrCode: "M_LIMIT_EXCEEDED", ExtraData: map[string]any{"retry_after_ms": 3.6e6}}}, true, maxRateLimitWait},
		{mautrix.HTTPError{Response: resp(502)}, true, 0},
		{mautrix.HTTPError{Message: "request error", WrappedError: io.ErrUnexpectedEOF}, true, 0},
		{fmt.Errorf("failed to encrypt event: %w", mautrix.HTTPError{Message: "request error", WrappedError: io.EOF}), true, 0},
		{mautrix.HTTPError{Response: resp(413), RespError: &mautrix.RespError{ErrCode: "M_TOO_LARGE"}}, false, 0},
		{mautrix.HTTPError{Response: resp(403), RespError: &mautrix.RespError{ErrCode: "M_FORBIDDEN"}}, false, 0},
		{fmt.Errorf("failed to encrypt event: no group session"), false, 0},
		{mautrix.HTTPError{Message: "request error", WrappedError: context.Canceled}, false, 0},
	} {
		wait, transient := transientSendError(tc.err)
		if transient != tc.transient || wait != tc.wait {
			t.Errorf("%v: transient %v after %s, want %v after %s", tc.err, transient, wait, tc.transient, tc.wait)
		}
	}
}

func TestOutputInAThreadIsSplitAndEditsFit(t *testing.T) {
	w := newReplyWorld(t, accepted)
	if err := postOutputThread(w.ce, "$progress", "Full output:", jsonLog(100)); err != nil {
		t.Fatal(err)
	}
	tries, _, bodies := w.sent()
	if tries < 2 || !strings.HasPrefix(bodies[0], "Full output: (part 1 of ") || !strings.Contains(bodies[tries-1], `{"n":100,`) {
		t.Errorf("100 lines of 1 kB in %d messages, want them split, in order:\n%.200s", tries, bodies)
	}
	if err := sendEdit(w.ce, "$progress", "✅ done\n\n"+fencedTail(jsonLog(100), 0, maxSentSize)); err != nil {
		t.Fatal(err)
	}
	if _, _, bodies := w.sent(); !strings.HasPrefix(bodies[len(bodies)-1], "* ✅ done") {
		t.Errorf("the edit was not sent: %.200s", bodies[len(bodies)-1])
	}
}
