package e2e

import (
	"context"
	"strings"
	"testing"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"

	"github.com/opsroom/opsroom/internal/testworld"
)

// wireTypes counts the types of the bot's events in the room as the homeserver
// holds them, before any decryption.
func (w *world) wireTypes(t testing.TB) map[event.Type]int {
	t.Helper()
	resp, err := w.alice.Messages(context.Background(), w.room, "", "", mautrix.DirectionBackward, nil, 500)
	if err != nil {
		t.Fatalf("reading the room: %v", err)
	}
	types := map[event.Type]int{}
	for _, evt := range resp.Chunk {
		if evt.Sender == w.botID && evt.StateKey == nil {
			types[evt.Type]++
		}
	}
	return types
}

func TestEncryptedRoomWorksAsAPlainOneAndAcrossARestart(t *testing.T) {
	w := newEncryptedWorld(t)
	w.watch = map[string]any{"interval": probeInterval.String()}
	c := testworld.RunContainer(t, testworld.UniqueName(t, "web"), nil)
	hosts := map[string]host{"local": w.localHost()}
	services := map[string]service{"web": containerService(c)}
	o := w.startOpsroom(t, hosts, services)

	got := w.ask(t, w.alice, "!status web")
	mustContain(t, "encrypted !status", got, "web", "running")
	before := startedAt(t, c.Name)
	got = w.ask(t, w.alice, "!restart web")
	mustContain(t, "encrypted !restart", got, "restarted", "web")
	if after := startedAt(t, c.Name); after == before {
		t.Errorf("StartedAt unchanged by an encrypted !restart (%s)", after)
	}
	settle()
	testworld.Docker(t, "kill", c.Name)
	eventually(t, "an exited alert, decrypted", func() bool { return len(w.alertsMatching(t, "web", "exited with code 137")) > 0 })

	// The keys survive a restart: opsroom still reads the room and is read.
	o.stop(t)
	w.startOpsroom(t, hosts, services)
	got = w.ask(t, w.alice, "!status web")
	mustContain(t, "encrypted !status after a restart of opsroom", got, "web", "exited")

	types := w.wireTypes(t)
	if types[event.EventMessage] != 0 || types[event.EventEncrypted] < 4 {
		t.Errorf("the bot's events on the wire: %v; want only m.room.encrypted (at least 4)", types)
	}
}

func TestRequireEncryptionRefusesPlainCommands(t *testing.T) {
	w := newEncryptedWorld(t)
	w.matrix = map[string]any{"encryption": map[string]any{
		"pickle_key": testPickleKey,
		"require":    true,
	}}
	c := testworld.RunContainer(t, testworld.UniqueName(t, "web"), nil)
	o := w.startOpsroom(t, map[string]host{"local": w.localHost()}, map[string]service{"web": containerService(c)})

	before := startedAt(t, c.Name)
	content := event.MessageEventContent{MsgType: event.MsgText, Body: "!restart web"}
	resp, err := w.alice.SendMessageEvent(context.Background(), w.room, event.EventMessage, &content, mautrix.ReqSendEvent{DontEncrypt: true})
	if err != nil {
		t.Fatal(err)
	}
	got := w.waitReply(t, resp.EventID, "plain !restart")
	mustContain(t, "plain command refused", got, "must be sent encrypted")
	if after := startedAt(t, c.Name); after != before {
		t.Errorf("a refused plain !restart restarted the container")
	}
	if rows := auditRows(t, o.db, "restart"); len(rows) != 1 || !strings.Contains(rows[0], "denied") {
		t.Errorf("audit rows for restart: %q, want one denied", rows)
	}
	got = w.ask(t, w.alice, "!status web")
	mustContain(t, "encrypted command still runs", got, "web", "running")
}

func TestUndecryptableCommandIsAnsweredNotLost(t *testing.T) {
	w := newEncryptedWorld(t)
	w.startOpsroom(t, map[string]host{"local": w.localHost()}, map[string]service{})

	// An encrypted event whose session opsroom never receives, as when a client
	// does not share its keys with opsroom's device.
	content := &event.EncryptedEventContent{
		Algorithm:        "m.megolm.v1.aes-sha2",
		SenderKey:        "bm90IGEgcmVhbCBrZXkgYXQgYWxsIGp1c3QgdGVzdA",
		DeviceID:         w.alice.DeviceID,
		SessionID:        "bm8gc3VjaCBzZXNzaW9uIGV4aXN0cyBhbnl3aGVyZQA",
		MegolmCiphertext: []byte(strings.Repeat("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo", 8)),
	}
	resp, err := w.alice.SendMessageEvent(context.Background(), w.room, event.EventEncrypted, content)
	if err != nil {
		t.Fatal(err)
	}
	got := w.waitReply(t, resp.EventID, "an undecryptable message")
	mustContain(t, "undecryptable notice", got, "could not decrypt", "keys did not arrive", "send it again")
}
