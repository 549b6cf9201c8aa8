package bot

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/crypto"
	"maunium.net/go/mautrix/crypto/cryptohelper"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/opsroom/opsroom/store"
)

// setupCrypto gives client end-to-end encryption: mautrix's crypto helper with
// its crypto and state stores in opsroom's own database, so the keys survive
// restarts. It must run before the bot's own sync handlers are registered, so
// that to-device messages (room keys) of the very first sync are processed.
func setupCrypto(ctx context.Context, client *mautrix.Client, enc *Encryption, st *store.Store) (*cryptohelper.CryptoHelper, error) {
	pickleKey, err := enc.PickleKey.Reveal()
	if err != nil {
		return nil, fmt.Errorf("matrix.encryption.pickle_key: %w", err)
	}
	helper, err := cryptohelper.NewCryptoHelper(client, []byte(pickleKey), st.DB)
	if err != nil {
		return nil, fmt.Errorf("setting up encryption: %w", err)
	}
	if err := helper.Init(ctx); err != nil {
		if !keysGone(ctx, client, helper) {
			return nil, fmt.Errorf("setting up encryption for device %s: %w (the database holds the keys of one device: "+
				"log in as that device, or start with a new database file)", client.DeviceID, err)
		}
		// The device was logged out (its token revoked) and logged in again
		// under the same ID: the homeserver dropped its keys, the database
		// still has them. Upload them again, as for a new device.
		zerolog.Ctx(ctx).Warn().Stringer("device_id", client.DeviceID).
			Msg("The homeserver lost this device's keys (it was logged out); uploading them again")
		account := helper.Machine().GetAccount()
		account.Shared = false
		if err := helper.Machine().CryptoStore.PutAccount(ctx, account); err != nil {
			return nil, fmt.Errorf("setting up encryption for device %s: %w", client.DeviceID, err)
		}
		if err := helper.Init(ctx); err != nil {
			return nil, fmt.Errorf("setting up encryption for device %s: uploading its keys again: %w", client.DeviceID, err)
		}
	}
	client.Crypto = helper
	if enc.RecoveryKey.IsSet() {
		recoveryKey, err := enc.RecoveryKey.Reveal()
		if err != nil {
			return nil, fmt.Errorf("matrix.encryption.recovery_key: %w", err)
		}
		if err := helper.Machine().VerifyWithRecoveryKey(ctx, recoveryKey); err != nil {
			return nil, fmt.Errorf("matrix.encryption.recovery_key: cross-signing device %s: %w", client.DeviceID, err)
		}
		zerolog.Ctx(ctx).Info().Stringer("device_id", client.DeviceID).Msg("Cross-signed own device with the recovery key")
	}
	return helper, nil
}

// keysGone says whether helper failed to start because the homeserver has no
// keys for a device the database says were uploaded.
func keysGone(ctx context.Context, client *mautrix.Client, helper *cryptohelper.CryptoHelper) (gone bool) {
	// Machine panics when Init failed before it made the machine: then the
	// failure was not the homeserver's missing keys, and Init's error is the
	// one to report (the chaos soak found a takeover's Init failing so).
	defer func() {
		if recover() != nil {
			gone = false
		}
	}()
	mach := helper.Machine()
	if mach == nil || mach.GetAccount() == nil || !mach.GetAccount().Shared {
		return false
	}
	resp, err := client.QueryKeys(ctx, &mautrix.ReqQueryKeys{DeviceKeys: map[id.UserID]mautrix.DeviceIDList{client.UserID: {client.DeviceID}}})
	if err != nil {
		return false
	}
	device, ok := resp.DeviceKeys[client.UserID][client.DeviceID]
	return !ok || len(device.Keys) == 0
}

// loadRoomState fetches the state of the rooms opsroom talks in, so that it
// knows which are encrypted and whom to share its keys with even when the
// rooms were joined before encryption was turned on.
func (b *Bot) loadRoomState(ctx context.Context) {
	if b.client.Crypto == nil {
		return
	}
	for _, room := range b.cfg.talkRooms() {
		if _, err := b.client.State(ctx, room); err != nil {
			zerolog.Ctx(ctx).Warn().Err(err).Stringer("room_id", room).Msg("Could not load room state")
		}
	}
}

// undecryptable answers messages opsroom could not decrypt (after the crypto
// helper waited for their keys), so that a command is never silently lost.
type undecryptable struct {
	mu       sync.Mutex
	answered map[id.UserID]time.Time // the last notice per sender
}

// undecryptableQuiet is how long a sender gets no second notice.
const undecryptableQuiet = time.Minute

func (b *Bot) onUndecryptable(evt *event.Event, err error) {
	ctx := b.jobCtx
	log := zerolog.Ctx(ctx).With().
		Stringer("room_id", evt.RoomID).
		Stringer("sender", evt.Sender).
		Stringer("event_id", evt.ID).
		Logger()
	log.Warn().Err(err).Msg("Could not decrypt message")
	if ctx.Err() != nil || evt.Sender == b.client.UserID || time.UnixMilli(evt.Timestamp).Before(b.started) ||
		!b.cfg.roomAllowed(evt.RoomID) || !b.hasRole(evt.Sender) {
		return
	}
	b.undecryptable.mu.Lock()
	last, seen := b.undecryptable.answered[evt.Sender]
	if seen && time.Since(last) < undecryptableQuiet {
		b.undecryptable.mu.Unlock()
		return
	}
	b.undecryptable.answered[evt.Sender] = time.Now()
	b.undecryptable.mu.Unlock()

	reason := "its keys did not arrive"
	if !errors.Is(err, crypto.ErrNoSessionFound) {
		reason = err.Error()
	}
	content := event.MessageEventContent{
		MsgType: event.MsgNotice,
		Body: fmt.Sprintf("🔒 %s: I could not decrypt your message (%s). Please send it again; "+
			"if this keeps happening, check that your client shares keys with unverified devices.", evt.Sender, reason),
	}
	content.SetReply(evt)
	if _, err := b.client.SendMessageEvent(ctx, evt.RoomID, event.EventMessage, &content); err != nil {
		log.Err(err).Msg("Failed to send the undecryptable notice")
	}
}
