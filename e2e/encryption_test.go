package e2e

import (
	"context"
	"strings"
	"testing"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/crypto/cryptohelper"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

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
	mustContain(t, "encrypted !status", got, "web", "**running**")
	before := startedAt(t, c.Name)
	got = w.ask(t, w.alice, "!restart web")
	mustContain(t, "encrypted !restart", got, "restarted **web**: running")
	if after := startedAt(t, c.Name); after == before {
		t.Errorf("StartedAt unchanged by an encrypted !restart (%s)", after)
	}
	w.settle(t)
	testworld.Docker(t, "kill", c.Name)
	eventually(t, "an exited alert, decrypted", func() bool { return len(w.alertsMatching(t, "web", "exited with code 137")) > 0 })

	// The keys survive a restart: opsroom still reads the room and is read.
	o.stop(t)
	w.startOpsroom(t, hosts, services)
	got = w.ask(t, w.alice, "!status web")
	mustContain(t, "encrypted !status after a restart of opsroom", got, "web", "**exited (code 137)**")

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
	mustContain(t, "encrypted command still runs", got, "web", "**running**")
}

func TestUndecryptableCommandIsAnsweredNotLost(t *testing.T) {
	w := newEncryptedWorld(t)
	// A config needs a service; this one's container is never asked about.
	w.startOpsroom(t, map[string]host{"local": w.localHost()}, map[string]service{
		"web": {"host": "local", "kind": "container", "container": "opsroom-undecryptable-web"},
	})

	// An encrypted event whose session opsroom never receives, as when a client
	// does not share its keys with opsroom's device.
	content := &event.EncryptedEventContent{
		Algorithm:        "m.megolm.v1.aes-sha2",
		SenderKey:        "bm90IGEgcmVhbCBrZXkgYXQgYWxsIGp1c3QgdGVzdA",
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

// crossSigning gives cli's account cross-signing keys, as Element's "set up
// secure backup" does: the private keys go to secret storage under a new
// default key, whose recovery key it returns; cli's own device is signed.
func crossSigning(t *testing.T, cli *mautrix.Client, password string) string {
	t.Helper()
	ctx := context.Background()
	mach := cli.Crypto.(*cryptohelper.CryptoHelper).Machine()
	key, err := mach.SSSS.GenerateAndUploadKey(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := mach.SSSS.SetDefaultKeyID(ctx, key.ID); err != nil {
		t.Fatal(err)
	}
	keys, err := mach.GenerateCrossSigningKeys()
	if err != nil {
		t.Fatal(err)
	}
	if err := mach.UploadCrossSigningKeysToSSSS(ctx, key, keys); err != nil {
		t.Fatal(err)
	}
	err = mach.PublishCrossSigningKeys(ctx, keys, func(resp *mautrix.RespUserInteractive) any {
		return &mautrix.ReqUIAuthLogin{
			BaseAuthData: mautrix.BaseAuthData{Type: mautrix.AuthTypePassword, Session: resp.Session},
			User:         cli.UserID.String(),
			Password:     password,
		}
	})
	if err != nil {
		t.Fatalf("publishing cross-signing keys of %s: %v", cli.UserID, err)
	}
	if err := mach.SignOwnDevice(ctx, mach.OwnIdentity()); err != nil {
		t.Fatal(err)
	}
	return key.RecoveryKey()
}

// botDevice is the device opsroom logged in as, from its database.
func botDevice(t *testing.T, dbPath string) id.DeviceID {
	t.Helper()
	db := openDatabase(t, dbPath)
	defer db.Close()
	var device id.DeviceID
	if err := db.QueryRow(`SELECT device_id FROM matrix_session`).Scan(&device); err != nil {
		t.Fatalf("reading opsroom's device: %v", err)
	}
	return device
}

func TestRecoveryKeyCrossSignsOpsroomAndCrossSigningGatesOperators(t *testing.T) {
	w := newEncryptedWorld(t)
	ctx := context.Background()

	// The bot's account was set up in Element with secure backup; opsroom gets its recovery key.
	setup := w.hs.Login(t, w.botID, w.botPassword)
	withCrypto(t, setup)
	recoveryKey := crossSigning(t, setup, w.botPassword)
	// alice verified her session; eve did not set up cross-signing at all.
	crossSigning(t, w.alice, w.alicePassword)

	w.matrix = map[string]any{"encryption": map[string]any{
		"pickle_key":   testPickleKey,
		"recovery_key": map[string]string{"file": w.secretFile(t, "recovery-key", recoveryKey)},
	}}
	w.access = map[string]any{
		"operators":            []string{string(w.alice.UserID), string(w.eve.UserID)},
		"require_cross_signed": true,
	}
	c := testworld.RunContainer(t, testworld.UniqueName(t, "web"), nil)
	o := w.startOpsroom(t, map[string]host{"local": w.localHost()}, map[string]service{"web": containerService(c)})

	// Element shows opsroom's device as verified: it is signed by the account's self-signing key.
	mach := w.alice.Crypto.(*cryptohelper.CryptoHelper).Machine()
	if _, err := mach.FetchKeys(ctx, []id.UserID{w.botID}, true); err != nil {
		t.Fatal(err)
	}
	device, err := mach.GetOrFetchDevice(ctx, w.botID, botDevice(t, o.db))
	if err != nil {
		t.Fatal(err)
	}
	if trust, err := mach.ResolveTrustContext(ctx, device); err != nil || trust < id.TrustStateCrossSignedTOFU {
		t.Errorf("opsroom's device %s has trust %s (%v), want cross-signed", device.DeviceID, trust, err)
	}

	before := startedAt(t, c.Name)
	got := w.ask(t, w.eve, "!restart web")
	mustContain(t, "restart from a device that is not cross-signed", got, "cross-signed", "verify this session")
	if startedAt(t, c.Name) != before {
		t.Fatalf("a restart from a device that is not cross-signed ran")
	}
	mustContain(t, "status from the same device", w.ask(t, w.eve, "!status web"), "**running**")
	mustContain(t, "restart from alice's cross-signed device", w.ask(t, w.alice, "!restart web"), "restarted")
}
