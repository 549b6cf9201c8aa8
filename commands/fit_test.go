package commands

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix/crypto"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/format"
	"maunium.net/go/mautrix/id"

	"github.com/opsroom/opsroom/ops"
)

// jsonLog is n lines of a service's JSON log, each about 1 kB and full of < > &.
func jsonLog(n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		line := fmt.Sprintf(`{"n":%d,"level":"error","msg":"render failed","html":"`, i)
		for len(line) < 1000 {
			line += `<div class=\"a&b\"><b>&amp;</b></div>`
		}
		b.WriteString(line + `"}` + "\n")
	}
	return b.String()
}

// everyState is 1,000 services with long names in every state, with long
// errors, on 100 hosts (two of them unreachable).
func everyState() []ops.Status {
	states := []ops.State{ops.StateRunning, ops.StateRestarting, ops.StateExited, ops.StateNotDeployed,
		ops.StateUnhealthy, ops.StateUnreachable, ops.StateUnknown}
	var all []ops.Status
	for i := range 1000 {
		host := fmt.Sprintf("host-%d.example.org", i%100)
		st := ops.Status{
			Service: fmt.Sprintf("a-service-with-a-long-name-<&>-%04d-%s", i, strings.Repeat("x", 60)),
			Host:    host, State: states[i%len(states)], RestartCount: i, ExitCode: i % 256, Health: "unhealthy",
			StartedAt: now.Add(-time.Hour), FinishedAt: now.Add(-time.Minute),
		}
		switch {
		case i%100 == 13 || i%100 == 42:
			st.State = ops.StateUnreachable
		case st.State == ops.StateUnreachable:
			st.State = ops.StateExited
		}
		if st.State == ops.StateUnreachable || st.State == ops.StateUnknown {
			st.Err = fmt.Errorf("host %q: ssh: handshake failed: <%s> & %s", host, strings.Repeat("e", 200), strings.Repeat("<&>", 100))
		}
		all = append(all, st)
	}
	return all
}

// room encrypts events as opsroom's crypto does, with a real Megolm outbound
// session, and wraps them the way the homeserver stores them.
type room struct {
	id      id.RoomID
	session *crypto.OutboundGroupSession
}

func newRoom(t *testing.T) *room {
	t.Helper()
	r := &room{id: "!AbCdEfGhIjKlMnOpQr:opsroom.example.org"}
	var err error
	r.session, err = crypto.NewOutboundGroupSession(r.id, &event.EncryptionEventContent{Algorithm: id.AlgorithmMegolmV1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.session.Shared = true
	r.session.MaxMessages = 1 << 20
	return r
}

// sent is the JSON of the event the homeserver stores for content, sent in
// the room, plain and encrypted.
func (r *room) sent(t *testing.T, content *event.MessageEventContent) (plain, encrypted []byte) {
	t.Helper()
	plaintext, err := json.Marshal(map[string]any{"room_id": r.id, "type": event.EventMessage.Type, "content": content})
	if err != nil {
		t.Fatal(err)
	}
	ciphertext, err := r.session.Encrypt(plaintext)
	if err != nil {
		t.Fatal(err)
	}
	enc := &event.EncryptedEventContent{
		Algorithm: id.AlgorithmMegolmV1, SessionID: r.session.ID(), MegolmCiphertext: ciphertext, RelatesTo: content.RelatesTo,
		//lint:ignore SA1019 mautrix still sends the deprecated fields, and they count
		DeviceID:  "OPSROOMDEV",
		SenderKey: id.SenderKey(strings.Repeat("k", 43)),
	}
	pdu := func(evtType string, content any) []byte {
		eventID := func(n int) string { return "$" + strings.Repeat(strconv.Itoa(n), 43) }
		data, err := json.Marshal(map[string]any{
			"auth_events": []string{eventID(1), eventID(2), eventID(3), eventID(4)},
			"prev_events": []string{eventID(5), eventID(6)},
			"content":     content, "depth": 1234567, "hashes": map[string]string{"sha256": strings.Repeat("h", 43)},
			"origin": "opsroom.example.org", "origin_server_ts": time.Now().UnixMilli(), "room_id": r.id,
			"sender": "@opsroom:opsroom.example.org", "type": evtType,
			"signatures": map[string]any{"opsroom.example.org": map[string]string{"ed25519:a_AbCd": strings.Repeat("s", 86)}},
			"unsigned":   map[string]any{"age_ts": time.Now().UnixMilli(), "transaction_id": "mautrix-go_1764000000000000000_123"},
		})
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	return pdu(event.EventMessage.Type, content), pdu(event.EventEncrypted.Type, enc)
}

// mustFit fails unless content, sent plain or encrypted, is under 64 KiB,
// and says how big it was.
func (r *room) mustFit(t *testing.T, what string, content *event.MessageEventContent) int {
	t.Helper()
	plain, encrypted := r.sent(t, content)
	if len(plain) >= maxEventBytes || len(encrypted) >= maxEventBytes {
		t.Errorf("%s: the sent event is %d bytes plain, %d encrypted; the limit is %d", what, len(plain), len(encrypted), maxEventBytes)
	}
	t.Logf("%s: %d bytes plain, %d encrypted (estimated %d)", what, len(plain), len(encrypted), sentSize(content))
	return len(encrypted)
}

var theCommand = &event.Event{ID: "$command" + id.EventID(strings.Repeat("c", 35)), Sender: "@alice:opsroom.example.org"}

// asReply is content as finish sends it: rendered, fitted, a reply to the command.
func asReply(md string) *event.MessageEventContent {
	content := Render(md)
	content.SetReply(theCommand)
	return &content
}

// asRespond is content as mautrix's Event.Respond sends it, as progress
// messages are: rendered by mautrix (not fitted), a reply, or an edit.
func asRespond(md string, edit id.EventID) *event.MessageEventContent {
	content := format.RenderMarkdown(md, true, false)
	content.MsgType = event.MsgNotice
	if edit != "" {
		content.SetEdit(edit)
	} else {
		content.SetReply(theCommand)
	}
	return &content
}

// Every message opsroom sends, with the biggest content it can be given,
// arrives under the homeserver's 64 KiB limit on the event, in an encrypted
// room as in a plain one.
func TestEveryMessageFitsEncrypted(t *testing.T) {
	r := newRoom(t)
	log := jsonLog(500)
	progressID := id.EventID("$progress" + strings.Repeat("p", 34))

	t.Run("status of 1000 services in every state", func(t *testing.T) {
		md := statusReport(everyState(), nil, now)
		r.mustFit(t, "!status all", asReply(md))
		inOrder(t, md, "**140 running, 140 unhealthy, 140 restarting, 281 exited, 140 not-deployed, 139 unknown, 2 hosts unreachable (20 services)**",
			"| 🔴 all 10 services | host-13.example.org | unreachable |", " more not running, not shown", "🟢 running — host-0.example.org: 2 · host-1.example.org: 1")
	})
	t.Run("500 lines of JSON logs", func(t *testing.T) {
		md := "Last 500 lines of **web** on `spark`:\n\n" + fencedTail(log, 500, maxSentSize)
		content := asReply(md)
		r.mustFit(t, "!logs web 500", content)
		cut := regexp.MustCompile(`… (\d+) earlier lines cut`).FindStringSubmatch(content.Body)
		if cut == nil {
			t.Fatalf("the logs do not say how much was cut:\n%.300s", content.Body)
		}
		n, _ := strconv.Atoi(cut[1])
		kept := strings.Split(strings.TrimSuffix(log, "\n"), "\n")[n:]
		if !strings.Contains(content.Body, strings.Join(kept, "\n")+"\n```") {
			t.Errorf("the reply does not end with the last %d lines, whole", len(kept))
		}
		if len(kept) < 3 {
			t.Errorf("only %d lines of the log were kept; more fit", len(kept))
		}
	})
	t.Run("a failed command with long output", func(t *testing.T) {
		err := &ops.CommandError{Host: "spark", Service: "web", Step: "restart", Command: "docker restart " + strings.Repeat("<web>", 100),
			ExitCode: 1, Stderr: log}
		r.mustFit(t, "failed restart", asReply(failed("web", err).Reply))
	})
	t.Run("an exit alert with its logs, and its edit when resolved", func(t *testing.T) {
		a := &ops.Alert{Kind: ops.AlertExited, Service: "web<&>", Host: "spark", Status: ops.Status{ExitCode: 1}, Logs: log}
		md := AlertMarkdown(a, nil, time.Now())
		pills := strings.Repeat(format.MarkdownMention(id.UserID("@someone-with-a-long-name:opsroom.example.org"))+" ", 5)
		content := Render(pills + ": " + md)
		content.Mentions = &event.Mentions{UserIDs: []id.UserID{"@a:b", "@c:d", "@e:f"}}
		r.mustFit(t, "alert", &content)
		resolved := Render(md + "\n\n**Resolved** 15:04:05: ✅ **web** on `spark` recovered: running (was exited for 5 min)")
		resolved.SetEdit(progressID)
		r.mustFit(t, "alert marked resolved", &resolved)
		edit := RenderEdit(md+"\n\n**Resolved** 15:04:05: ✅ recovered", progressID)
		r.mustFit(t, "alert marked resolved through RenderEdit", &edit)
	})
	t.Run("an engine-down alert of a host with 1000 services", func(t *testing.T) {
		var services []string
		for i := range 1000 {
			services = append(services, fmt.Sprintf("service-%d-<&>", i))
		}
		a := &ops.Alert{Kind: ops.AlertEngineDown, Host: "spark", Services: services, Err: &ops.EngineError{Host: "spark", Output: log}}
		content := Render(AlertMarkdown(a, nil, time.Now()))
		r.mustFit(t, "engine down", &content)
	})
	t.Run("progress of an update, edited", func(t *testing.T) {
		p := &progress{verb: "Updating", service: "web", host: "spark", who: "@alice:opsroom.example.org", started: now}
		p.StageStarted(ops.StageFetch, "git fetch origin master")
		p.StageDone(ops.StageFetch, "origin/master 3f2a1c0 -> 9b7d4e2 (3 new commits)")
		p.StageStarted(ops.StageBuild, "docker compose build web")
		p.Output(ops.StageBuild, []byte(log))
		r.mustFit(t, "progress message", asRespond(p.render(now), ""))
		r.mustFit(t, "progress edit", asRespond(p.render(now), progressID))
		p.failStage()
		err := &ops.CommandError{Host: "spark", Service: "web", Step: "build", Command: "docker compose build web", ExitCode: 1, Stdout: log, Stderr: log}
		r.mustFit(t, "failed update", asRespond(p.renderFailure(err, ops.Status{State: ops.StateRunning}, now), progressID))
	})
	t.Run("the full output of an update, in the thread", func(t *testing.T) {
		out := strings.Repeat(log, 5) // about 2.5 MB, over the 256 KiB an update keeps
		msgs := threadOutput("Full output:", out[len(out)-maxFullOutput:], maxThreadMessages)
		if len(msgs) < 2 {
			t.Fatalf("256 KiB of output in %d message(s), want it split", len(msgs))
		}
		for i, md := range msgs {
			content := Render(md)
			if fitMessage(md) != md {
				t.Errorf("part %d was cut again when sent", i+1)
			}
			content.RelatesTo = (&event.RelatesTo{}).SetThread(progressID, progressID)
			r.mustFit(t, fmt.Sprintf("thread part %d of %d", i+1, len(msgs)), &content)
		}
		if !strings.HasPrefix(msgs[0], "Full output: (part 1 of 10)\n\n_… ") {
			t.Errorf("the first part does not say what was cut:\n%.200s", msgs[0])
		}
	})
	t.Run("the note of a reply that could not be sent", func(t *testing.T) {
		ce := &Event{Event: theCommand, Command: "logs", Args: []string{strings.Repeat("<&>", 5000)}}
		md := fmt.Sprintf("⚠️ the answer to %s could not be sent: %s", code(commandLine(ce)), escape(refusal(errors.New(strings.Repeat("<&>", 5000)))))
		r.mustFit(t, "undelivered note", asReply(md))
	})
	t.Run("a text reply with no code block at all", func(t *testing.T) {
		md := "❌ **web**: " + escape(strings.Repeat("<&> an error that goes on ", 5000))
		content := asReply(md)
		r.mustFit(t, "huge error", content)
		if !strings.Contains(content.Body, "more bytes cut") {
			t.Errorf("a cut text does not say so:\n%.300s", content.Body)
		}
	})
}

// The estimate sentSize is what the fitting trusts: it must never be below
// what a real encrypted event weighs, and not far above it either.
func TestSentSizeEstimatesTheEncryptedEvent(t *testing.T) {
	r := newRoom(t)
	for _, md := range []string{"ok", jsonLog(3), strings.Repeat("plain text line\n", 2000), statusReport(everyState()[:200], nil, now)} {
		content := asReply(md)
		_, encrypted := r.sent(t, content)
		if est := sentSize(content); est < len(encrypted) || est > len(encrypted)+5*1024 {
			t.Errorf("estimated %d bytes for an event of %d", est, len(encrypted))
		}
	}
}

func TestFitKeepsTheTailOfEachBlockAndSaysWhatItCut(t *testing.T) {
	head := "Last lines of **web**:"
	md := head + "\n\n" + fencedTail(jsonLog(200), 0, maxSentSize*4) + "\n\nand a line after"
	got := fitMessage(md)
	if messageSize(got) > maxSentSize {
		t.Fatalf("fitted message weighs %d", messageSize(got))
	}
	m := regexp.MustCompile("(?s)^" + regexp.QuoteMeta(head) + "\n\n_… (\\d+) earlier lines cut_\n```\n(.*)\n```\n\nand a line after$").FindStringSubmatch(got)
	if m == nil {
		t.Fatalf("fitted message is not the head, a note, the block and the line after:\n%.500s", got)
	}
	n, _ := strconv.Atoi(m[1])
	if want := strings.Join(strings.Split(strings.TrimSuffix(jsonLog(200), "\n"), "\n")[n:], "\n"); m[2] != want {
		t.Errorf("the block is not the last %d lines", 200-n)
	}
	// A second fitting of a fitted message changes nothing; a smaller budget
	// adds to the count in the note instead of writing a second one.
	if again := fitMessage(got); again != got {
		t.Errorf("fitting twice changed the message")
	}
	smaller := fitTo(got, messageSize, maxSentSize/2)
	m2 := regexp.MustCompile(`_… (\d+) earlier lines cut_`).FindAllStringSubmatch(smaller, -1)
	if len(m2) != 1 {
		t.Fatalf("want one note, got %d:\n%.300s", len(m2), smaller)
	}
	if n2, _ := strconv.Atoi(m2[0][1]); n2 <= n {
		t.Errorf("cutting more says %d lines cut, had %d", n2, n)
	}
}

func TestFitCutsTheLargestBlockFirst(t *testing.T) {
	small := codeBlock("small output\nstays whole", 0)
	md := "first:\n\n" + small + "\n\nsecond:\n\n" + fencedTail(jsonLog(300), 0, maxSentSize*4)
	got := fitMessage(md)
	if !strings.Contains(got, small) {
		t.Errorf("the small block was cut:\n%.500s", got)
	}
	if !strings.Contains(got, "earlier lines cut") || messageSize(got) > maxSentSize {
		t.Errorf("the large block was not cut to fit")
	}
}

func TestFitKeepsTheTailOfOneHugeLine(t *testing.T) {
	line := strings.Repeat("<&>", 50000) + "THE END"
	got := fitMessage("out:\n\n" + fencedTail("first\n"+line, 0, maxSentSize*8))
	if messageSize(got) > maxSentSize {
		t.Fatalf("fitted message weighs %d", messageSize(got))
	}
	if !strings.Contains(got, "_… 1 earlier line cut, and the start of the next_") || !strings.Contains(got, "THE END\n```") {
		t.Errorf("a huge last line must keep its tail and say so:\n%.300s", got)
	}
}

func TestFitOfALongTableCutsRowsAndClosesNothingOpen(t *testing.T) {
	var b strings.Builder
	b.WriteString("| a | b |\n|---|---|\n")
	for i := range 5000 {
		fmt.Fprintf(&b, "| row %d | <&> %s |\n", i, strings.Repeat("y", 40))
	}
	got := fitMessage(b.String())
	if messageSize(got) > maxSentSize {
		t.Fatalf("fitted message weighs %d", messageSize(got))
	}
	if !regexp.MustCompile(`\n\n_… \d+ more lines cut_$`).MatchString(got) || !strings.HasPrefix(got, "| a | b |\n|---|---|\n| row 0 |") {
		t.Errorf("a long table keeps its head and says how many lines it cut:\n…%s", got[max(0, len(got)-300):])
	}
}

func TestThreadOutputKeepsEveryLineInOrder(t *testing.T) {
	out := jsonLog(100) + strings.Repeat("<", 12000) + "\nlast line"
	msgs := threadOutput("Full output:", out, 100)
	var lines []string
	for i, md := range msgs {
		if messageSize(md) > maxSentSize {
			t.Errorf("part %d weighs %d", i+1, messageSize(md))
		}
		if !strings.Contains(md, fmt.Sprintf("(part %d of %d)", i+1, len(msgs))) {
			t.Errorf("part %d does not say so:\n%.100s", i+1, md)
		}
		parts := parseParts(md)
		blk := parts[len(parts)-1]
		if !blk.block || blk.cut != 0 {
			t.Fatalf("part %d does not end in a whole block: %+v", i+1, blk)
		}
		lines = append(lines, strings.Join(blk.lines, "\n"))
	}
	if got := strings.Join(lines, "\n"); strings.ReplaceAll(got, "\n", "") != strings.ReplaceAll(out, "\n", "") {
		t.Errorf("the parts do not carry the output whole and in order")
	}
}

// BenchmarkFitLogs is the most expensive fitting: 500 lines of 1 kB JSON full of <>&.
func BenchmarkFitLogs(b *testing.B) {
	md := "Last 500 lines of **web** on `spark`:\n\n" + fencedTail(jsonLog(500), 500, maxSentSize)
	b.ReportAllocs()
	for b.Loop() {
		fitMessage(md)
	}
}
