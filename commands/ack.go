package commands

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"maunium.net/go/mautrix/event"

	"github.com/opsroom/opsroom/store"
)

var cmdAck = &command{
	Name:    "ack",
	Args:    "NUMBER",
	Summary: "take alert NUMBER (as `!alerts` numbers them; or react 👀 on the alert): it is edited to say you are on it, and its reminders stop",
	Run: func(ce *Event, args []string) outcome {
		n, err := strconv.ParseInt(strings.TrimPrefix(args[0], "#"), 10, 64)
		if err != nil || n <= 0 {
			return invalid(fmt.Sprintf("%s is not an alert number; `!alerts` shows them, e.g. `!ack 12`", code(args[0])))
		}
		reaction := ce.Event.Type == event.EventReaction
		now := time.Now()
		a, err := ce.Meta.Store.AckAlert(ce.Ctx, n, ce.Sender, now)
		var o outcome
		switch {
		case errors.Is(err, store.ErrNoSuchAlert):
			return invalid(fmt.Sprintf("there is no alert %d; `!alerts` shows the recent ones", n))
		case errors.Is(err, store.ErrNotAckable):
			o = invalid(fmt.Sprintf("alert %d (%s) is not about a problem: there is nothing to take", n, a.Kind))
		case errors.Is(err, store.ErrAlreadyAcked):
			o = outcome{Reply: fmt.Sprintf("Alert %d was already acknowledged by %s at %s.", a.ID, escape(string(a.AckedBy)), a.AckedAt.Format("15:04 MST")),
				Result: store.ResultInvalid, Detail: "already acknowledged by " + string(a.AckedBy)}
		case errors.Is(err, store.ErrAlertResolved):
			o = outcome{Reply: fmt.Sprintf("Alert %d is resolved already: **%s** runs again.", a.ID, escape(a.Subject)),
				Result: store.ResultInvalid, Detail: "already resolved"}
		case err != nil:
			o = failed("", err)
		default:
			if ce.Meta.AlertsChanged != nil {
				ce.Meta.AlertsChanged()
			}
			first, _, _ := strings.Cut(a.Message, "\n")
			o = outcome{Reply: fmt.Sprintf("👀 Alert %d acknowledged by %s: %s", a.ID, escape(string(ce.Sender)), first),
				Result: store.ResultOK, Detail: fmt.Sprintf("acknowledged alert %d", a.ID)}
		}
		if a != nil {
			o.Service = a.Subject
		}
		if reaction {
			// The edit of the alert is the answer to a 👀; a 👀 that changes nothing is only audited.
			o.Reply = ""
		}
		return o
	},
}
