package commands

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"maunium.net/go/mautrix/commands"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/opsroom/opsroom/ops"
	"github.com/opsroom/opsroom/store"
)

// defaultConfirmTimeout is how long a command waits for its ✅.
const defaultConfirmTimeout = 2 * time.Minute

// Reaction keys of a confirmation prompt; some clients add the emoji variation selector.
var (
	confirmKeys = []string{"✅", "✅\ufe0f"}
	denyKeys    = []string{"❌", "❌\ufe0f"}
)

// confirmations are the commands waiting for a ✅, by number. They live in
// memory: a restart of opsroom drops them (the prompt then stays unanswered,
// and the command did not run).
type confirmations struct {
	mu      sync.Mutex
	last    int
	waiting map[int]*waiting
}

// waiting is one command held back until it is confirmed.
type waiting struct {
	n      int
	ce     *Event // the command as it was sent
	cmd    *command
	svc    *ops.ServiceConfig
	prompt id.EventID
	timer  *time.Timer
}

func (w *waiting) what() string {
	return fmt.Sprintf("%s of **%s** on %s", w.cmd.Name, escape(w.svc.Name), code(w.svc.Host))
}

// needsConfirmation says whether c on the service named first in args waits for a ✅.
func needsConfirmation(ce *Event, c *command, args []string) (*ops.ServiceConfig, bool) {
	if len(args) == 0 {
		return nil, false
	}
	svc, err := ce.Meta.Fleet.Lookup(args[0])
	if err != nil || !svc.Confirm.Needs(c.Name) {
		return nil, false
	}
	return svc, true
}

// askConfirmation holds c back and posts the prompt; ✅ runs it, ❌ or the timeout drops it.
func askConfirmation(ce *Event, c *command, svc *ops.ServiceConfig) outcome {
	d := ce.Meta
	timeout := d.Access.ConfirmTimeout.Duration
	if timeout <= 0 {
		timeout = defaultConfirmTimeout
	}
	d.confirms.mu.Lock()
	d.confirms.last++
	w := &waiting{n: d.confirms.last, ce: ce, cmd: c, svc: svc}
	d.confirms.mu.Unlock()

	who := "you"
	if d.Access.FourEyes {
		who = "another operator"
	}
	md := fmt.Sprintf("⚠️ React ✅ within %s to confirm the %s, or ❌ to cancel. Needs %s; typing `!confirm %d` or `!deny %d` works too.",
		ago(timeout), w.what(), who, w.n, w.n)
	content := Render(md)
	content.SetReply(ce.Event)
	reactions := map[string]any{}
	for _, k := range confirmKeys {
		reactions[k] = fmt.Sprintf("%sconfirm %d", Prefix, w.n)
	}
	for _, k := range denyKeys {
		reactions[k] = fmt.Sprintf("%sdeny %d", Prefix, w.n)
	}
	cli := ce.Proc.Client
	resp, err := cli.SendMessageEvent(ce.Ctx, ce.RoomID, event.EventMessage, &event.Content{
		Parsed: &content,
		Raw:    map[string]any{commands.ReactionCommandsKey: reactions, commands.ReactionMultiUseKey: true},
	})
	if err != nil {
		return failed(svc.Name, fmt.Errorf("could not ask for confirmation: %w", err))
	}
	w.prompt = resp.EventID
	// Offer both reactions, so that a click is all it takes.
	for _, key := range []string{confirmKeys[0], denyKeys[0]} {
		if _, err := cli.SendReaction(ce.Ctx, ce.RoomID, resp.EventID, key); err != nil {
			zerolog.Ctx(ce.Ctx).Warn().Err(err).Msg("Failed to offer a confirmation reaction")
		}
	}
	d.confirms.mu.Lock()
	w.timer = time.AfterFunc(timeout, func() {
		if d.confirms.take(w.n) == nil {
			return
		}
		w.drop(fmt.Sprintf("⌛ Not confirmed within %s: the %s did not run.", ago(timeout), w.what()),
			"not confirmed in time")
	})
	if d.confirms.waiting == nil {
		d.confirms.waiting = map[int]*waiting{}
	}
	d.confirms.waiting[w.n] = w
	d.confirms.mu.Unlock()
	return outcome{Service: svc.Name, Result: store.ResultPending, Detail: fmt.Sprintf("waiting for confirmation %d", w.n)}
}

// take removes and returns confirmation n, if it still waits.
func (c *confirmations) take(n int) *waiting {
	c.mu.Lock()
	defer c.mu.Unlock()
	w := c.waiting[n]
	delete(c.waiting, n)
	return w
}

// answer edits the prompt to say how it ended.
func (w *waiting) answer(md string) {
	ctx := context.WithoutCancel(w.ce.Ctx)
	content := Render(md)
	content.SetEdit(w.prompt)
	if _, err := w.ce.Proc.Client.SendMessageEvent(ctx, w.ce.RoomID, event.EventMessage, &content); err != nil {
		zerolog.Ctx(ctx).Err(err).Msg("Failed to edit the confirmation prompt")
	}
}

// drop ends the wait without running the command, and audits that it did not run.
func (w *waiting) drop(md, detail string) {
	w.answer(md)
	finish(w.ce, time.Now(), outcome{Service: w.svc.Name, Result: store.ResultCancelled, Detail: detail})
}

var (
	cmdConfirm = answerCommand("confirm", "confirm a command that waits for it (or react ✅ to its prompt)", true)
	cmdDeny    = answerCommand("deny", "cancel a command that waits for confirmation (or react ❌)", false)
)

// answerCommand is !confirm (confirming) or !deny: it ends a wait, running the
// command or dropping it.
func answerCommand(name, summary string, confirming bool) *command {
	return &command{
		Name:    name,
		Args:    "NUMBER",
		Summary: summary,
		Role:    RoleOperator,
		Run: func(ce *Event, args []string) outcome {
			w, o := takeWaiting(ce, args[0], confirming)
			if o != nil {
				return *o
			}
			w.timer.Stop()
			done := outcome{Service: w.svc.Name, Result: store.ResultOK, Detail: fmt.Sprintf("%s %s of %s", name, w.cmd.Name, w.svc.Name)}
			if !confirming {
				w.drop(fmt.Sprintf("❌ Cancelled by %s: the %s did not run.", ce.Sender, w.what()), "denied by "+ce.Sender.String())
				return done
			}
			w.answer(fmt.Sprintf("✅ Confirmed by %s: running the %s.", ce.Sender, w.what()))
			start := time.Now()
			finish(w.ce, start, w.cmd.Run(w.ce, w.ce.Args))
			return done
		},
	}
}

// takeWaiting finds confirmation number arg and checks that the sender may
// answer it: the one who asked (or, with four eyes, another operator of the
// service, for a confirmation); the one who asked or an operator of the
// service, for a denial.
func takeWaiting(ce *Event, arg string, confirming bool) (*waiting, *outcome) {
	n, err := strconv.Atoi(arg)
	if err != nil {
		o := invalid(fmt.Sprintf("%s is not a confirmation number; the prompt says which, e.g. `!confirm 3`", code(arg)))
		return nil, &o
	}
	confirms := &ce.Meta.confirms
	confirms.mu.Lock()
	defer confirms.mu.Unlock()
	w := confirms.waiting[n]
	if w == nil {
		o := invalid(fmt.Sprintf("nothing waits for confirmation %d (it may have timed out or been answered)", n))
		return nil, &o
	}
	asker := w.ce.Sender
	refuse := func(msg string) (*waiting, *outcome) {
		return nil, &outcome{Reply: "⛔ " + msg, Service: w.svc.Name, Result: store.ResultDenied, Detail: msg}
	}
	switch {
	case !mayOperate(w.svc, ce.Sender):
		return refuse(fmt.Sprintf("%s may not change **%s** (services.%s.operators).", ce.Sender, escape(w.svc.Name), w.svc.Name))
	case confirming && ce.Meta.Access.FourEyes && ce.Sender == asker:
		return refuse(fmt.Sprintf("the %s needs another operator's ✅ (access.four_eyes); %s asked for it.", w.what(), asker))
	case confirming && !ce.Meta.Access.FourEyes && ce.Sender != asker:
		return refuse(fmt.Sprintf("only %s, who asked for the %s, can confirm it.", asker, w.what()))
	}
	delete(confirms.waiting, n)
	return w, nil
}
