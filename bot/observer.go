package bot

import (
	"context"
	"time"

	"maunium.net/go/mautrix"
)

// Observer hears how the Matrix side fares, for opsroom's health check and
// metrics. It is called inline and must return at once.
type Observer interface {
	// Synced is one /sync request's outcome: nil for a response handled,
	// else why it failed (mautrix retries it).
	Synced(err error)
	// Alerted is an alert stored, on its way to the alert rooms (or muted).
	Alerted(kind string)
	// Delivered is an alert posted to a room, lag after it was raised.
	Delivered(kind string, lag time.Duration)
	// DeliveryRetry is a try at posting an alert that failed and will be
	// made again after a pause.
	DeliveryRetry()
}

type noObserver struct{}

func (noObserver) Synced(error)                    {}
func (noObserver) Alerted(string)                  {}
func (noObserver) Delivered(string, time.Duration) {}
func (noObserver) DeliveryRetry()                  {}

// obs is the bot's observer, or one that does nothing.
func (b *Bot) obs() Observer {
	if b.observer == nil {
		return noObserver{}
	}
	return b.observer
}

// observedSyncer is mautrix's syncer, telling the observer how each sync went.
type observedSyncer struct {
	*mautrix.DefaultSyncer
	observer Observer
}

// observeSync has every sync's outcome reach o: a handled response through
// the syncer's first handler, a failure through OnFailedSync.
func observeSync(client *mautrix.Client, o Observer) {
	syncer := client.Syncer.(*mautrix.DefaultSyncer)
	syncer.OnSync(func(context.Context, *mautrix.RespSync, string) bool {
		o.Synced(nil)
		return true
	})
	client.Syncer = observedSyncer{DefaultSyncer: syncer, observer: o}
}

// OnFailedSync tells the observer, then leaves the retry to mautrix's own policy.
func (s observedSyncer) OnFailedSync(res *mautrix.RespSync, err error) (time.Duration, error) {
	s.observer.Synced(err)
	return s.DefaultSyncer.OnFailedSync(res, err)
}
