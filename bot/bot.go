// Package bot is opsroom's Matrix side: it logs in, encrypts and decrypts, syncs,
// keeps out rooms that are not ops rooms, hands commands and reactions to the
// command processor off the sync loop, and delivers the watcher's alerts.
package bot

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/commands"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	opscommands "github.com/opsroom/opsroom/commands"
	"github.com/opsroom/opsroom/ops"
	"github.com/opsroom/opsroom/store"
)

// shutdownGrace is how long running commands may finish after a shutdown signal
// before they are cancelled.
const shutdownGrace = 10 * time.Second

// Bot is the logged-in Matrix client with its command processor.
type Bot struct {
	cfg     *Config
	client  *mautrix.Client
	store   *store.Store
	access  *opscommands.Access
	proc    *commands.Processor[*opscommands.Deps]
	started time.Time

	// instance, fence and failedOver: see Deps.
	instance   string
	fence      func() error
	failedOver string

	alertsCfg    *AlertsConfig // nil: no reminders
	wakeDelivery chan struct{} // an alert is waiting to be sent
	observer     Observer
	running      sync.WaitGroup
	jobCtx       context.Context

	undecryptable undecryptable
	notRun        notRun

	fleet       *ops.Fleet
	digest      ops.DriftConfig
	boards      *boards
	schedule    []MaintenanceWindow
	wakeWindows chan struct{} // a maintenance window or what it covers changed
}

// Deps is what the bot is built from.
type Deps struct {
	Config   *Config
	Store    *store.Store
	Commands *opscommands.Deps
	// Started is when opsroom started: commands sent from then on are run,
	// those sent before are answered "not run" (see notRunLookBack). Zero is now.
	Started time.Time
	// Observer, when set, hears how sync and alert delivery fare (health, metrics).
	Observer Observer
	// Digest says when the drift digest goes to the alert rooms (drift.digest,
	// drift.digest_every; neither: never). It is read once, at start.
	Digest ops.DriftConfig
	// Alerts, when set, says when alerts no one takes are reminded (the alerts: section).
	Alerts *AlertsConfig
	// Maintenance are the scheduled maintenance windows (the `maintenance:` section).
	Maintenance []MaintenanceWindow
	// Instance names this process in the command claims (ha.Name).
	Instance string
	// Fence, when set, says whether this process may still act as the active
	// instance (nil) or not: every request that changes something on the
	// homeserver (a message, an edit, a reaction, a join) is refused once it
	// is not, so a paused instance that wakes up after a takeover sends nothing.
	Fence func() error
	// FailedOver, when set, is the instance this one took over from without
	// it giving up its lease: the updates it left running were interrupted by
	// a failover, not by a restart.
	FailedOver string
}

// New logs in (reusing the device of an earlier run) and prepares the sync handlers.
func New(ctx context.Context, deps Deps) (*Bot, error) {
	cfg := deps.Config
	client, err := login(ctx, cfg, deps.Store)
	if err != nil {
		return nil, err
	}
	client.Log = zerolog.Ctx(ctx).With().Str("component", "matrix").Logger()
	if deps.Fence != nil {
		client.Client.Transport = &fencedTransport{base: client.Client.Transport, fence: deps.Fence}
	}
	client.Store = deps.Store.SyncStore()
	started := deps.Started
	if started.IsZero() {
		started = time.Now()
	}
	b := &Bot{
		cfg:     cfg,
		client:  client,
		store:   deps.Store,
		access:  &deps.Commands.Access,
		proc:    opscommands.NewProcessor(client, deps.Commands),
		started: started,

		alertsCfg:    deps.Alerts,
		wakeDelivery: make(chan struct{}, 1),
		jobCtx:       ctx,

		undecryptable: undecryptable{answered: map[id.UserID]time.Time{}},
		notRun:        notRun{answered: map[id.RoomID]int{}},

		instance:   deps.Instance,
		fence:      deps.Fence,
		failedOver: deps.FailedOver,

		fleet:       deps.Commands.Fleet,
		digest:      deps.Digest,
		boards:      newBoards(cfg.alertRooms()),
		schedule:    deps.Maintenance,
		wakeWindows: make(chan struct{}, 1),
	}
	deps.Commands.AlertsChanged = func() { b.wakeAlerts(); b.changed() } // an acknowledgement: its edit, and the boards
	deps.Commands.Changed = b.changed
	if cfg.Encryption.Enabled() {
		helper, err := setupCrypto(ctx, client, &cfg.Encryption, deps.Store)
		if err != nil {
			return nil, err
		}
		helper.DecryptErrorCallback = b.onUndecryptable
	}
	b.observer = deps.Observer
	// First, so that every handled response counts, the very first included.
	observeSync(client, b.obs())
	syncer := client.Syncer.(observedSyncer).DefaultSyncer
	// Before skipOldEvents, which ends the handling of the whole first sync.
	var readyOnce sync.Once
	syncer.OnSync(func(ctx context.Context, _ *mautrix.RespSync, _ string) bool {
		readyOnce.Do(func() { zerolog.Ctx(ctx).Info().Msg("Ready: listening for commands") })
		return true
	})
	syncer.OnSync(b.skipOldEvents)
	syncer.OnEventType(event.EventMessage, b.onMessage)
	syncer.OnEventType(event.EventReaction, b.onReaction)
	syncer.OnEventType(event.StateMember, b.onMember)
	syncer.OnEventType(event.StatePinnedEvents, b.onBoardState)
	syncer.OnEventType(event.StatePowerLevels, b.onBoardState)
	syncer.OnEventType(event.EventRedaction, b.onBoardState)
	return b, nil
}

func login(ctx context.Context, cfg *Config, st *store.Store) (*mautrix.Client, error) {
	log := zerolog.Ctx(ctx)
	if cfg.AccessToken.IsSet() {
		token, err := cfg.AccessToken.Reveal()
		if err != nil {
			return nil, fmt.Errorf("matrix.access_token: %w", err)
		}
		client, err := mautrix.NewClient(cfg.Homeserver, cfg.UserID, token)
		if err != nil {
			return nil, fmt.Errorf("matrix.homeserver: %w", err)
		}
		who, err := client.Whoami(ctx)
		if err != nil {
			return nil, fmt.Errorf("checking the access token with %s: %w", cfg.Homeserver, err)
		}
		if who.UserID != cfg.UserID {
			return nil, fmt.Errorf("matrix.access_token belongs to %s, not to matrix.user_id %s", who.UserID, cfg.UserID)
		}
		client.DeviceID = who.DeviceID
		log.Info().Stringer("user_id", who.UserID).Stringer("device_id", who.DeviceID).Msg("Using access token")
		return client, nil
	}
	password, err := cfg.Password.Reveal()
	if err != nil {
		return nil, fmt.Errorf("matrix.password: %w", err)
	}
	client, err := mautrix.NewClient(cfg.Homeserver, cfg.UserID, "")
	if err != nil {
		return nil, fmt.Errorf("matrix.homeserver: %w", err)
	}
	deviceID, err := st.DeviceID(ctx, cfg.UserID)
	if err != nil {
		return nil, err
	}
	resp, err := client.Login(ctx, &mautrix.ReqLogin{
		Type:                     mautrix.AuthTypePassword,
		Identifier:               mautrix.UserIdentifier{Type: mautrix.IdentifierTypeUser, User: string(cfg.UserID)},
		Password:                 password,
		DeviceID:                 deviceID,
		InitialDeviceDisplayName: cfg.DeviceName,
		StoreCredentials:         true,
	})
	if err != nil {
		return nil, fmt.Errorf("logging in to %s as %s: %w", cfg.Homeserver, cfg.UserID, err)
	}
	if err := st.SetDeviceID(ctx, cfg.UserID, resp.DeviceID); err != nil {
		return nil, err
	}
	log.Info().Stringer("user_id", resp.UserID).Stringer("device_id", resp.DeviceID).Msg("Logged in")
	return client, nil
}

// Run joins the ops rooms, then syncs and delivers alerts until ctx ends or
// sync stops for good (the access token revoked, a store error, a filter the
// homeserver will not create), which it returns. Either way it lets running
// commands finish (for a short grace period) before it returns.
func (b *Bot) Run(ctx context.Context) error {
	log := zerolog.Ctx(ctx)
	jobCtx, cancelJobs := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelJobs()
	b.jobCtx = jobCtx

	for _, room := range b.cfg.talkRooms() {
		if _, err := b.client.JoinRoomByID(ctx, room); err != nil {
			// Not invited yet: the invite is accepted when it comes.
			log.Warn().Err(err).Stringer("room_id", room).Msg("Could not join room yet; invite the bot")
		}
	}
	b.loadRoomState(ctx) // before the edits below, which must be encrypted where the room is
	cause := "a restart of opsroom"
	if b.failedOver != "" {
		cause = "a failover (" + b.failedOver + " stopped answering)"
	}
	if err := opscommands.MarkInterrupted(ctx, b.client, b.store, cause); err != nil {
		log.Err(err).Msg("Failed to close the updates a restart interrupted")
	}
	if err := opscommands.AnswerCutOff(ctx, b.client, b.store, cause, b.started.Add(-notRunLookBack)); err != nil {
		log.Err(err).Msg("Failed to answer the commands a stop cut off")
	}
	if err := opscommands.DropWaitingConfirmations(ctx, b.client, b.store); err != nil {
		log.Err(err).Msg("Failed to close the confirmations a restart dropped")
	}

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		b.deliverAlerts(gctx)
		return nil
	})
	g.Go(func() error {
		b.remind(gctx)
		return nil
	})
	g.Go(func() error {
		b.runBoards(gctx)
		return nil
	})
	g.Go(func() error {
		b.runMaintenance(gctx)
		return nil
	})
	g.Go(func() error { return b.sync(gctx) })
	if b.fleet != nil {
		g.Go(func() error {
			b.runDigest(gctx)
			return nil
		})
	}
	err := g.Wait()
	if err != nil {
		log.Err(err).Msg("Sync stopped for good; waiting for running commands")
	} else {
		log.Info().Msg("Sync stopped; waiting for running commands")
	}
	if b.fence != nil && b.fence() != nil {
		// Another instance is active now: what runs here must stop at once.
		log.Warn().Msg("Cancelling running commands: this instance is no longer the active one")
		cancelJobs()
	}
	done := make(chan struct{})
	go func() { b.running.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(shutdownGrace):
		log.Warn().Msg("Cancelling commands still running after the grace period")
		cancelJobs()
		<-done
	}
	return err
}

func (b *Bot) onMember(ctx context.Context, evt *event.Event) {
	if evt.GetStateKey() != string(b.client.UserID) || evt.Content.AsMember().Membership != event.MembershipInvite {
		return
	}
	log := zerolog.Ctx(ctx).With().Stringer("room_id", evt.RoomID).Stringer("inviter", evt.Sender).Logger()
	if !slices.Contains(b.cfg.talkRooms(), evt.RoomID) || !b.hasRole(evt.Sender) {
		log.Warn().Msg("Ignoring invite: room or inviter is not allowed (matrix.rooms, matrix.alert_rooms, access)")
		return
	}
	if _, err := b.client.JoinRoomByID(ctx, evt.RoomID); err != nil {
		log.Err(err).Msg("Failed to accept invite")
		return
	}
	if b.client.Crypto != nil {
		if _, err := b.client.State(ctx, evt.RoomID); err != nil {
			log.Warn().Err(err).Msg("Could not load room state")
		}
	}
	log.Info().Msg("Joined room")
}

func (b *Bot) onMessage(ctx context.Context, evt *event.Event) {
	if evt.Sender == b.client.UserID {
		return
	}
	msg := evt.Content.AsMessage()
	// Commands are typed text: a notice is a bot's, and the body of a file or
	// an image is its name, which must not run as a command.
	if msg.MsgType != event.MsgText || !strings.HasPrefix(strings.TrimSpace(msg.Body), opscommands.Prefix) {
		return
	}
	log := zerolog.Ctx(ctx).With().
		Stringer("room_id", evt.RoomID).
		Stringer("sender", evt.Sender).
		Stringer("event_id", evt.ID).
		Logger()
	if !b.cfg.roomAllowed(evt.RoomID) {
		log.Warn().Msg("Ignoring command from a room that is not an ops room (matrix.rooms)")
		return
	}
	jobCtx := log.WithContext(b.jobCtx)
	if sent := time.UnixMilli(evt.Timestamp); sent.Before(b.started) {
		if !b.answersNotRun(&log, evt.RoomID, sent) {
			return
		}
		jobCtx = opscommands.NotRun(jobCtx, sent)
	}
	// The command is the plain body: the text checked above, audited and
	// repeated in replies. mautrix would parse the formatted body (or a
	// structured command) instead, which a client can make say something else.
	msg.Format, msg.FormattedBody, msg.MSC4391BotCommand = "", "", nil
	b.spawn(jobCtx, func(ctx context.Context) { b.run(ctx, evt) })
}

// onReaction hands reactions in ops and alert rooms to the processor, which
// runs the command the message reacted to attached to the reaction (mautrix's
// reaction commands): a confirmation prompt's ✅ or ❌, an alert's 👀.
func (b *Bot) onReaction(ctx context.Context, evt *event.Event) {
	if evt.Sender == b.client.UserID || !slices.Contains(b.cfg.talkRooms(), evt.RoomID) || time.UnixMilli(evt.Timestamp).Before(b.started) {
		return
	}
	log := zerolog.Ctx(ctx).With().
		Stringer("room_id", evt.RoomID).
		Stringer("sender", evt.Sender).
		Stringer("event_id", evt.ID).
		Logger()
	b.spawn(log.WithContext(b.jobCtx), func(ctx context.Context) { b.run(ctx, evt) })
}

// run runs the command of evt; once it is done here, on an instance still
// active, its claim counts as answered: whatever it said (or failed to say,
// loudly) is its answer, and no later instance reports it cut off.
func (b *Bot) run(ctx context.Context, evt *event.Event) {
	// Claimed here, off the sync loop: a database write per command must not
	// hold up the next event.
	if !b.claim(zerolog.Ctx(ctx), evt) {
		return
	}
	b.proc.Process(ctx, evt)
	if b.fence != nil && b.fence() != nil {
		return
	}
	if err := b.store.AnswerClaim(context.WithoutCancel(ctx), evt.ID); err != nil {
		zerolog.Ctx(ctx).Err(err).Msg("Failed to record that the command was answered")
	}
}

// claim takes the command of evt for this instance, and says whether it is to
// run here: not when it was claimed before (by this instance or by one active
// before a takeover: the event comes again when the new one syncs from the
// position stored), nor when this instance is no longer the active one.
func (b *Bot) claim(log *zerolog.Logger, evt *event.Event) bool {
	command := evt.Content.AsMessage().Body
	if evt.Type == event.EventReaction {
		command = "reaction " + evt.Content.AsReaction().RelatesTo.Key
	}
	claimed, err := b.store.ClaimCommand(context.WithoutCancel(b.jobCtx), evt.ID, evt.RoomID, strings.TrimSpace(command), b.instance)
	switch {
	case err != nil:
		log.Err(err).Msg("Not running the command: could not claim it")
		return false
	case !claimed:
		log.Info().Msg("Not running the command: it was claimed before (answered by the instance active then)")
		return false
	}
	return true
}

// spawn runs fn off the sync loop: mautrix dispatches events one after
// another, so a slow command must not hold up the next. The bound on
// concurrent jobs (matrix.max_concurrent_jobs) is the command processor's: it
// holds back the commands that do remote work, never control (!cancel,
// !confirm, reactions) or quick reads (!status, !help).
func (b *Bot) spawn(ctx context.Context, fn func(context.Context)) {
	b.running.Go(func() { fn(ctx) })
}

// hasRole says whether user is named in the access section (a viewer at least).
func (b *Bot) hasRole(user id.UserID) bool {
	return b.access.NamedRole(user) != opscommands.RoleNone
}

// UserID is the bot's own Matrix ID.
func (b *Bot) UserID() id.UserID { return b.client.UserID }
