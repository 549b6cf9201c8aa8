package ops

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestEventLinesReportActionsAfterTheReadyLine(t *testing.T) {
	var actions []string
	ready := false
	e := &eventLines{parse: func(line []byte) (string, bool, bool) {
		object, relevant, died := dockerBackend{}.parseEvent(line)
		actions = append(actions, fmt.Sprintf("%s relevant=%v died=%v", object, relevant, died))
		return object, relevant, died
	}, onEvent: func(string, bool) {}, onFirst: func() { ready = true }}
	stream := "opsroom-events-ready\n" +
		`{"status":"die","id":"abc","Type":"container","Action":"die","Actor":{"Attributes":{"exitCode":"137","name":"web"}}}` + "\n" +
		"garbage that is not json\n" +
		`{"Type":"container","Action":"health_status: unhealthy"}` + "\n" +
		`{"Type":"container","Action":"sta`
	for _, chunk := range []string{stream[:7], stream[7:60], stream[60:]} {
		_, _ = e.Write([]byte(chunk))
	}
	_, _ = e.Write([]byte("rt\"}\n"))
	if want := "web relevant=true died=true, relevant=false died=false, relevant=true died=false, relevant=true died=false"; !ready || strings.Join(actions, ",") != want {
		t.Errorf("ready %v, actions %q", ready, actions)
	}
	for action, want := range map[string]bool{"die": true, "start": true, "exec_start: sh": false, "attach": false, "kill": false, "health_status: healthy": true} {
		if relevantAction(action) != want {
			t.Errorf("relevantAction(%q) = %v, want %v", action, !want, want)
		}
	}
}

// The envelope holds a line's last newline back until more output comes: a
// quiet stream's ready line arrives without it, and is ready all the same.
func TestEventLinesAreReadyWithoutTheReadyLinesNewline(t *testing.T) {
	ready := false
	e := &eventLines{parse: dockerBackend{}.parseEvent, onEvent: func(string, bool) {}, onFirst: func() { ready = true }}
	_, _ = e.Write([]byte("opsroom-events-ready"))
	if !ready {
		t.Error("the ready line without its newline did not make the stream ready")
	}
}

// So does each event line: the last event of a quiet stream (a container
// that died) is read as it comes through the envelope, not when the next
// event comes, which may be hours later.
func TestEventLinesReadAnEventWithoutWaitingForTheNext(t *testing.T) {
	var died []string
	e := &eventLines{parse: dockerBackend{}.parseEvent, onEvent: func(object string, d bool) {
		if d {
			died = append(died, object)
		}
	}, onFirst: func() {}}
	env := newEnvelope()
	out := env.frame(e)
	die := func(name string) string {
		return `{"status":"die","id":"abc","Type":"container","Action":"die","Actor":{"Attributes":{"exitCode":"137","name":"` + name + `"}}}` + "\n"
	}
	_, _ = out.Write([]byte(env.begin + "\nopsroom-events-ready\n"))
	_, _ = out.Write([]byte(die("web")))
	if !slices.Equal(died, []string{"web"}) {
		t.Fatalf("after web died: %q, want web at once", died)
	}
	_, _ = out.Write([]byte(die("db")[:20]))
	_, _ = out.Write([]byte(die("db")[20:]))
	_, _ = out.Write([]byte("\n" + env.end + " 0\n"))
	if !slices.Equal(died, []string{"web", "db"}) {
		t.Errorf("after db died and the stream ended: %q, want web and db, each once", died)
	}
}

func TestEventsCommandQuotesEveryContainer(t *testing.T) {
	got := dockerCLI.eventsCommand([]string{"web", "it's"})
	want := `since=$(date +%s.%N); echo opsroom-events-ready; exec docker events --since "$since" --format '{{json .}}' --filter type=container --filter container='web' --filter container='it'\''s'`
	if got != want {
		t.Errorf("%s\nwant %s", got, want)
	}
}

// The tail a result keeps is bounded in size and in the buffer behind it, so
// that the event stream, which runs for an hour with keep set to streamKeep,
// holds 4 KiB and not an hour of events (the memory soak measures the whole).
func TestTailBufferKeepsOnlyItsTail(t *testing.T) {
	tb := &tailBuffer{max: streamKeep}
	line := strings.Repeat("x", 499) + "\n"
	for i := 0; i < 2000; i++ { // 1 MB of events
		_, _ = tb.Write([]byte(line))
	}
	_, _ = tb.Write([]byte("the end\n"))
	got := tb.String()
	if len(got) != streamKeep || !strings.HasSuffix(got, "x\nthe end\n") {
		t.Errorf("kept %d bytes ending %q; want the last %d", len(got), got[max(0, len(got)-20):], streamKeep)
	}
	if c := tb.buf.Cap(); c > 4*streamKeep {
		t.Errorf("the buffer holds %d bytes of capacity for a %d-byte tail", c, streamKeep)
	}
}
