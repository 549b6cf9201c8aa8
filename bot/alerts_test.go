package bot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"

	"github.com/opsroom/opsroom/store"
)

const (
	good = id.RoomID("!good:example.org")
	bad  = id.RoomID("!bad:example.org")
)

// fakeHomeserver takes or refuses opsroom's sends, room by room, as the test says.
type fakeHomeserver struct {
	mu     sync.Mutex
	txns   map[string]bool
	sent   map[id.RoomID][]sentEvent // the events it took, in order
	tries  map[id.RoomID][]time.Time
	refuse func(room id.RoomID, body string) *refusalReply // nil: take it
	hold   map[id.RoomID]chan struct{}                     // a send to the room waits until it is closed
}

type sentEvent struct {
	Body    string
	Replace id.EventID // set for an edit
}

type refusalReply struct {
	status  int
	errcode string
	extra   map[string]any
}

func newFakeHomeserver() *fakeHomeserver {
	return &fakeHomeserver{txns: map[string]bool{}, sent: map[id.RoomID][]sentEvent{},
		tries: map[id.RoomID][]time.Time{}, hold: map[id.RoomID]chan struct{}{}}
}

func (hs *fakeHomeserver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// /_matrix/client/v3/rooms/ROOM/send/TYPE/TXN, /_matrix/client/v3/rooms/ROOM/state/TYPE/
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/_matrix/client/v3/rooms/"), "/")
	if len(parts) < 2 || parts[1] != "send" || r.Method != http.MethodPut {
		writeJSON(w, http.StatusNotFound, map[string]any{"errcode": "M_NOT_FOUND", "error": "no such state"})
		return
	}
	room, txn := id.RoomID(parts[0]), parts[len(parts)-1]
	var content struct {
		Body      string `json:"body"`
		RelatesTo struct {
			RelType string     `json:"rel_type"`
			EventID id.EventID `json:"event_id"`
		} `json:"m.relates_to"`
		NewContent *struct {
			Body string `json:"body"`
		} `json:"m.new_content"`
	}
	if err := json.NewDecoder(r.Body).Decode(&content); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"errcode": "M_NOT_JSON", "error": err.Error()})
		return
	}
	hs.mu.Lock()
	hs.tries[room] = append(hs.tries[room], time.Now())
	hold := hs.hold[room]
	hs.mu.Unlock()
	if hold != nil {
		select {
		case <-hold:
		case <-r.Context().Done():
			return
		}
	}
	hs.mu.Lock()
	defer hs.mu.Unlock()
	if hs.refuse != nil {
		if no := hs.refuse(room, content.Body); no != nil {
			reply := map[string]any{"errcode": no.errcode, "error": "refused by the test"}
			for k, v := range no.extra {
				reply[k] = v
			}
			writeJSON(w, no.status, reply)
			return
		}
	}
	key := string(room) + "/" + txn
	eventID := id.EventID("$" + strings.NewReplacer("!", "", ":", "-").Replace(key))
	if !hs.txns[key] {
		hs.txns[key] = true
		ev := sentEvent{Body: content.Body}
		if content.RelatesTo.RelType == "m.replace" && content.NewContent != nil {
			ev = sentEvent{Body: content.NewContent.Body, Replace: content.RelatesTo.EventID}
		}
		hs.sent[room] = append(hs.sent[room], ev)
	}
	writeJSON(w, http.StatusOK, map[string]any{"event_id": eventID})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// messages returns the bodies of the messages (not edits) the room took.
func (hs *fakeHomeserver) messages(room id.RoomID) []string {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	var out []string
	for _, ev := range hs.sent[room] {
		if ev.Replace == "" {
			out = append(out, ev.Body)
		}
	}
	return out
}

func (hs *fakeHomeserver) edits(room id.RoomID) []string {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	var out []string
	for _, ev := range hs.sent[room] {
		if ev.Replace != "" {
			out = append(out, ev.Body)
		}
	}
	return out
}

func (hs *fakeHomeserver) triesIn(room id.RoomID) []time.Time {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	return append([]time.Time(nil), hs.tries[room]...)
}

func (hs *fakeHomeserver) setRefuse(f func(room id.RoomID, body string) *refusalReply) {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	hs.refuse = f
}

// deliveryBot is a bot on the fake homeserver, with a store of its own, whose
// delivery runs until stopped (or the test ends).
type deliveryBot struct {
	*Bot
	st   *store.Store
	stop func()
}

func newDeliveryBot(t *testing.T, hs *fakeHomeserver, st *store.Store, cfg *Config) *deliveryBot {
	t.Helper()
	srv := httptest.NewServer(hs)
	t.Cleanup(srv.Close)
	if st == nil {
		var err error
		st, err = store.Open(context.Background(), filepath.Join(t.TempDir(), "opsroom.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
	}
	cli, err := mautrix.NewClient(srv.URL, "@opsroom:example.org", "token")
	if err != nil {
		t.Fatal(err)
	}
	b := &Bot{cfg: cfg, client: cli, store: st, wakeDelivery: make(chan struct{}, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		b.runDelivery(ctx, backoff{min: 20 * time.Millisecond, max: 200 * time.Millisecond})
	}()
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return &deliveryBot{Bot: b, st: st, stop: stop}
}

// alert records an alert for the rooms, as the watcher does, and wakes the delivery.
func (b *deliveryBot) alert(t *testing.T, subject, message string, rooms ...id.RoomID) {
	t.Helper()
	a := &store.Alert{Subject: subject, Kind: "exited", Message: message}
	if err := b.st.RecordTransition(context.Background(), store.WatchState{Key: "service:" + subject, State: "exited"}, a, rooms); err != nil {
		t.Fatal(err)
	}
	select {
	case b.wakeDelivery <- struct{}{}:
	default:
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10 s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func exitAlert(service string, logs string) string {
	return fmt.Sprintf("🔴 **%s** on `local` exited with code 1\n\nLast lines:\n\n```\n%s\n```", service, logs)
}

func TestAnAlertTooLargeIsSentShortenedAndTheNextOneFollows(t *testing.T) {
	hs := newFakeHomeserver()
	hs.refuse = func(_ id.RoomID, body string) *refusalReply {
		if len(body) > 4000 {
			return &refusalReply{status: http.StatusRequestEntityTooLarge, errcode: "M_TOO_LARGE"}
		}
		return nil
	}
	b := newDeliveryBot(t, hs, nil, &Config{Rooms: []id.RoomID{good}})

	b.alert(t, "web", exitAlert("web", strings.Repeat(`{"msg":"<b>&</b>"}`+"\n", 500)), good)
	b.alert(t, "db", exitAlert("db", "bye"), good)
	waitUntil(t, "both alerts", func() bool { return len(hs.messages(good)) == 2 })

	got := hs.messages(good)
	if !strings.Contains(got[0], "**web** on `local` exited with code 1") ||
		!strings.Contains(got[0], "the last lines were too long to send; see `!logs web`") || strings.Contains(got[0], "<b>") {
		t.Errorf("the large alert arrived as %q; want its first line and the note, without the logs", got[0])
	}
	if !strings.Contains(got[1], "**db** on `local` exited with code 1") || !strings.Contains(got[1], "bye") {
		t.Errorf("the next alert arrived as %q; want it whole", got[1])
	}
	waitUntil(t, "both recorded as delivered", func() bool {
		alerts, err := b.st.RecentAlerts(context.Background(), "", 10)
		if err != nil {
			t.Fatal(err)
		}
		return len(alerts) == 2 && len(alerts[0].Undelivered)+len(alerts[1].Undelivered) == 0
	})
}

func TestAnAlertRefusedEvenShortenedFailsWithItsReasonAndTheNextOneFollows(t *testing.T) {
	hs := newFakeHomeserver()
	hs.refuse = func(_ id.RoomID, body string) *refusalReply {
		if strings.Contains(body, "poison") {
			return &refusalReply{status: http.StatusBadRequest, errcode: "M_BAD_JSON"}
		}
		return nil
	}
	b := newDeliveryBot(t, hs, nil, &Config{Rooms: []id.RoomID{good}})
	ctx := context.Background()

	b.alert(t, "web", exitAlert("poison", "x"), good)
	b.alert(t, "db", exitAlert("db", "bye"), good)
	waitUntil(t, "the next alert", func() bool { return len(hs.messages(good)) == 1 })

	if n := len(hs.triesIn(good)); n != 3 {
		t.Errorf("%d sends, want 3: the poison alert, shortened, and the next one", n)
	}
	alerts, err := b.st.RecentAlerts(ctx, "web", 1)
	if err != nil || len(alerts) != 1 {
		t.Fatalf("RecentAlerts(web) = %v, %v", alerts, err)
	}
	if u := alerts[0].Undelivered; len(u) != 1 || u[0].RoomID != good || !strings.Contains(u[0].Failure, "M_BAD_JSON") {
		t.Errorf("the poison alert's undelivered: %+v, want failed in %s with M_BAD_JSON", u, good)
	}
	audit, err := b.st.Audit().Recent(ctx, "web", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(audit) != 2 || audit[0].Result != store.ResultFailed || audit[0].RoomID != good ||
		!strings.Contains(audit[0].Detail, "M_BAD_JSON") || audit[1].Result != store.ResultOK {
		t.Errorf("audit rows of web: %+v; want the alert ok, then failed in %s with the reason", audit, good)
	}
}

func TestARoomThatRefusesOpsroomIsReportedOnceAndHoldsUpNoOther(t *testing.T) {
	hs := newFakeHomeserver()
	forbidden := func(room id.RoomID, _ string) *refusalReply {
		if room == bad {
			return &refusalReply{status: http.StatusForbidden, errcode: "M_FORBIDDEN"}
		}
		return nil
	}
	hs.refuse = forbidden
	cfg := &Config{Rooms: []id.RoomID{good}, AlertRooms: []id.RoomID{good, bad}}
	b := newDeliveryBot(t, hs, nil, cfg)
	ctx := context.Background()
	notices := func(text string) int {
		n := 0
		for _, m := range hs.messages(good) {
			if strings.Contains(m, text) {
				n++
			}
		}
		return n
	}
	const cannot = "opsroom cannot post alerts to `!bad:example.org`: M_FORBIDDEN"

	b.alert(t, "web", exitAlert("web", "bye"), good, bad)
	waitUntil(t, "the alert and the notice in the good room", func() bool { return len(hs.messages(good)) == 2 })
	if notices(cannot) != 1 {
		t.Fatalf("good room: %q; want the alert and the notice %q", hs.messages(good), cannot)
	}
	// The bad room is retried, on its own backoff; the good room's next alert goes at once.
	waitUntil(t, "the bad room retried", func() bool { return len(hs.triesIn(bad)) >= 5 })
	b.alert(t, "db", exitAlert("db", "bye"), good, bad)
	waitUntil(t, "the next alert in the good room", func() bool { return len(hs.messages(good)) == 3 })

	problems, err := b.st.RoomProblems(ctx)
	if err != nil || len(problems) != 1 || problems[0].RoomID != bad || !strings.Contains(problems[0].Problem, "M_FORBIDDEN") {
		t.Errorf("RoomProblems = %+v, %v; want the bad room's", problems, err)
	}

	// A restart while the room still refuses: not reported again.
	b.stop()
	tries := len(hs.triesIn(bad))
	b = newDeliveryBot(t, hs, b.st, cfg)
	waitUntil(t, "the bad room retried after the restart", func() bool { return len(hs.triesIn(bad)) >= tries+3 })
	if n := notices(cannot); n != 1 {
		t.Errorf("%d notices that the room refuses alerts, want 1 (reported once): %q", n, hs.messages(good))
	}

	// The room takes alerts again: its held alerts arrive in order, the good
	// room hears of it, and the notice is marked resolved.
	hs.setRefuse(nil)
	waitUntil(t, "the held alerts in the bad room", func() bool { return len(hs.messages(bad)) == 2 })
	if got := hs.messages(bad); !strings.Contains(got[0], "web") || !strings.Contains(got[1], "db") {
		t.Errorf("bad room: %q, want the web alert, then the db alert", got)
	}
	waitUntil(t, "the good room told", func() bool { return notices("opsroom can post alerts to `!bad:example.org` again") == 1 })
	waitUntil(t, "the notice marked resolved", func() bool {
		edits := hs.edits(good)
		return len(edits) == 1 && strings.Contains(edits[0], cannot) && strings.Contains(edits[0], "Resolved")
	})
	if problems, _ := b.st.RoomProblems(ctx); len(problems) != 0 {
		t.Errorf("RoomProblems after the room took alerts again: %+v, want none", problems)
	}
}

func TestAStalledRoomHoldsUpNoOther(t *testing.T) {
	hs := newFakeHomeserver()
	release := make(chan struct{})
	hs.hold[bad] = release
	b := newDeliveryBot(t, hs, nil, &Config{Rooms: []id.RoomID{good}, AlertRooms: []id.RoomID{good, bad}})

	b.alert(t, "web", exitAlert("web", "bye"), good, bad)
	waitUntil(t, "the first alert in the good room", func() bool { return len(hs.messages(good)) == 1 })
	waitUntil(t, "the first send to the stalled room, held", func() bool { return len(hs.triesIn(bad)) == 1 })
	b.alert(t, "db", exitAlert("db", "bye"), good, bad)
	waitUntil(t, "the second alert in the good room", func() bool { return len(hs.messages(good)) == 2 })
	if n := len(hs.triesIn(bad)); n != 1 {
		t.Errorf("%d sends to the stalled room, want 1 (still waiting)", n)
	}
	close(release)
	waitUntil(t, "both alerts in the stalled room once it answers", func() bool { return len(hs.messages(bad)) == 2 })
}

func TestARateLimitIsWaitedOutAsAsked(t *testing.T) {
	hs := newFakeHomeserver()
	limited := true
	hs.refuse = func(room id.RoomID, _ string) *refusalReply {
		if room == good && limited {
			limited = false
			return &refusalReply{status: http.StatusTooManyRequests, errcode: "M_LIMIT_EXCEEDED",
				extra: map[string]any{"retry_after_ms": 500}}
		}
		return nil
	}
	b := newDeliveryBot(t, hs, nil, &Config{Rooms: []id.RoomID{good}, AlertRooms: []id.RoomID{good, bad}})

	b.alert(t, "web", exitAlert("web", "bye"), good, bad)
	waitUntil(t, "the alert in both rooms", func() bool { return len(hs.messages(good)) == 1 && len(hs.messages(bad)) == 1 })
	tries := hs.triesIn(good)
	if len(tries) != 2 {
		t.Fatalf("%d sends to the rate-limited room, want 2", len(tries))
	}
	if wait := tries[1].Sub(tries[0]); wait < 500*time.Millisecond {
		t.Errorf("retried after %s, before the 500 ms the homeserver asked for", wait)
	}
	if other := hs.triesIn(bad)[0]; other.After(tries[1]) {
		t.Error("the other room waited for the rate-limited one")
	}
}

func TestAlertsForARoomNoLongerConfiguredAreDropped(t *testing.T) {
	hs := newFakeHomeserver()
	gone := id.RoomID("!gone:example.org")
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "opsroom.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	// Recorded while gone was an alert room; delivered after it was taken out of the config.
	a := &store.Alert{Subject: "web", Kind: "exited", Message: exitAlert("web", "bye")}
	if err := st.RecordTransition(context.Background(), store.WatchState{Key: "service:web"}, a, []id.RoomID{good, gone}); err != nil {
		t.Fatal(err)
	}
	newDeliveryBot(t, hs, st, &Config{Rooms: []id.RoomID{good}})

	waitUntil(t, "the alert in the room still configured", func() bool { return len(hs.messages(good)) == 1 })
	if n := len(hs.triesIn(gone)); n != 0 {
		t.Errorf("%d sends to the room no longer configured, want none", n)
	}
	var u []store.Undelivered
	waitUntil(t, "the alert recorded as delivered, and failed for the room no longer configured", func() bool {
		alerts, err := st.RecentAlerts(context.Background(), "web", 1)
		if err != nil {
			t.Fatal(err)
		}
		u = alerts[0].Undelivered
		return len(u) == 1
	})
	if u[0].RoomID != gone || !strings.Contains(u[0].Failure, "no longer in matrix.alert_rooms") {
		t.Errorf("undelivered: %+v, want the room no longer configured, failed", u)
	}
}

func TestClassifyTellsRetriesFromRefusals(t *testing.T) {
	httpErr := func(path string, status int, errcode string) error {
		req, _ := http.NewRequest(http.MethodPut, "https://hs.example.org"+path, nil)
		return fmt.Errorf("sending: %w", mautrix.HTTPError{Request: req, Response: &http.Response{StatusCode: status, Header: http.Header{}},
			RespError: &mautrix.RespError{ErrCode: errcode, ExtraData: map[string]any{"retry_after_ms": float64(1500)}}})
	}
	const send = "/_matrix/client/v3/rooms/!a:b/send/m.room.message/1"
	for _, tc := range []struct {
		name string
		err  error
		want refusal
		wait time.Duration
	}{
		{"rate limited", httpErr(send, 429, "M_LIMIT_EXCEEDED"), refusedNot, 1500 * time.Millisecond},
		{"server error", httpErr(send, 502, ""), refusedNot, 0},
		{"session lost", httpErr(send, 401, "M_UNKNOWN_TOKEN"), refusedNot, 0},
		{"network", errors.New("dial tcp: connection refused"), refusedNot, 0},
		{"too large", httpErr(send, 413, "M_BAD_JSON"), refusedContent, 0},
		{"bad JSON", httpErr(send, 400, "M_BAD_JSON"), refusedContent, 0},
		{"forbidden", httpErr(send, 403, "M_FORBIDDEN"), refusedByRoom, 0},
		{"no such room", httpErr(send, 404, "M_NOT_FOUND"), refusedByRoom, 0},
		{"a key upload while encrypting", httpErr("/_matrix/client/v3/keys/claim", 400, "M_UNKNOWN"), refusedNot, 0},
	} {
		if got, wait := classify(tc.err); got != tc.want || wait != tc.wait {
			t.Errorf("%s: classify = %d, %s; want %d, %s", tc.name, got, wait, tc.want, tc.wait)
		}
	}
}

func TestShortenAlertKeepsTheFirstParagraphAndSaysWhatIsMissing(t *testing.T) {
	for _, tc := range []struct {
		name    string
		alert   store.Alert
		want    string
		shorter bool
	}{
		{"service logs", store.Alert{Subject: "web", Kind: "exited", Message: exitAlert("web", "a\nb")},
			"🔴 **web** on `local` exited with code 1\n\n_(the last lines were too long to send; see `!logs web`)_", true},
		{"host output", store.Alert{Subject: "vps", Kind: "engine-down", Message: "🔴 Docker on `vps` does not answer\n\n```\nout\n```"},
			"🔴 Docker on `vps` does not answer\n\n_(the rest of this alert was too long to send)_", true},
		{"one paragraph", store.Alert{Subject: "web", Kind: "recovered", Message: "✅ **web** recovered"},
			"✅ **web** recovered", false},
	} {
		got, shorter := shortenAlert(&tc.alert, true)
		if got != tc.want || shorter != tc.shorter {
			t.Errorf("%s: shortenAlert = %q, %v; want %q, %v", tc.name, got, shorter, tc.want, tc.shorter)
		}
	}
	long := store.Alert{Subject: "web", Kind: "unhealthy", Message: strings.Repeat("é", 5000)}
	if got, shorter := shortenAlert(&long, true); !shorter || len(got) > maxShortHead+200 || !strings.Contains(got, "too long to send") {
		t.Errorf("a long first paragraph: %d bytes, shorter %v; want it cut with a note", len(got), shorter)
	}
	refused := store.Alert{Subject: "web", Kind: "exited", Message: exitAlert("web", "a")}
	if got, _ := shortenAlert(&refused, false); !strings.HasSuffix(got, "_(the last lines were refused by the homeserver; see `!logs web`)_") {
		t.Errorf("refused for another reason than its size: %q", got)
	}
}

// The edit that marks an alert resolved waits out a rate limit in its own
// room only: the other room's alerts go on meanwhile.
func TestAResolvedEditWaitingInOneRoomHoldsUpNoOther(t *testing.T) {
	hs := newFakeHomeserver()
	editTries := 0
	hs.refuse = func(room id.RoomID, body string) *refusalReply {
		if room == bad && strings.Contains(body, "Resolved") {
			if editTries++; editTries == 1 {
				return &refusalReply{status: http.StatusTooManyRequests, errcode: "M_LIMIT_EXCEEDED",
					extra: map[string]any{"retry_after_ms": 1000}}
			}
		}
		return nil
	}
	b := newDeliveryBot(t, hs, nil, &Config{Rooms: []id.RoomID{good}, AlertRooms: []id.RoomID{good, bad}})
	ctx := context.Background()
	record := func(kind, message string) {
		a := &store.Alert{Subject: "web", Kind: kind, Message: message}
		if err := b.st.RecordTransition(ctx, store.WatchState{Key: "service:web"}, a, []id.RoomID{good, bad}); err != nil {
			t.Fatal(err)
		}
		b.wakeDelivery <- struct{}{}
	}

	record("exited", exitAlert("web", "bye"))
	waitUntil(t, "the exit alert in both rooms", func() bool { return len(hs.messages(good)) == 1 && len(hs.messages(bad)) == 1 })
	record("recovered", "✅ **web** on `local` recovered: running")
	waitUntil(t, "the good room's alert marked resolved", func() bool { return len(hs.edits(good)) == 1 })
	record("exited", exitAlert("web", "again"))
	waitUntil(t, "the next alert in the good room", func() bool { return len(hs.messages(good)) == 3 })
	hs.mu.Lock()
	tries := editTries
	hs.mu.Unlock()
	if tries != 1 || len(hs.edits(bad)) != 0 {
		t.Errorf("the rate-limited room's edit was tried %d times and arrived %d times before the good room's next alert; want it still waiting",
			tries, len(hs.edits(bad)))
	}
	waitUntil(t, "the rate-limited room's edit, then its next alert", func() bool { return len(hs.edits(bad)) == 1 && len(hs.messages(bad)) == 3 })
}
