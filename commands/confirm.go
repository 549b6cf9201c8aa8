package commands

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"maunium.net/go/mautrix"
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

// confirmations are the commands waiting for a ✅, by number (the store's ID).
// The commands themselves live in memory: a restart of opsroom drops them, and
// DropWaitingConfirmations edits their prompts to say so.
type confirmations struct {
	mu      sync.Mutex
	waiting map[int64]*waiting
}

// waiting is one command held back until it is confirmed.
type waiting struct {
	n      int64
	ce     *Event // the command as it was sent
	cmd    *command
	svc    *ops.ServiceConfig
	prompt id.EventID    // set before sent is closed; empty if the prompt could not be sent
	sent   chan struct{} // closed once the prompt was sent (or failed to be)
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
// The wait is registered before the prompt is sent, so that a ✅ clicked the
// instant the prompt shows finds it.
func askConfirmation(ce *Event, c *command, svc *ops.ServiceConfig) outcome {
	return askConfirmationOf(ce, c, svc, "", "")
}

// askConfirmationOf is askConfirmation with a question of its own before the
// instructions ("" for none), the prompt a reply to replyTo ("" for the command).
func askConfirmationOf(ce *Event, c *command, svc *ops.ServiceConfig, question string, replyTo id.EventID) outcome {
	d := ce.Meta
	timeout := d.Access.ConfirmTimeout.Duration
	if timeout <= 0 {
		timeout = defaultConfirmTimeout
	}
	rec := &store.Confirmation{RoomID: ce.RoomID, Sender: ce.Sender, Command: c.Name, Service: svc.Name}
	if err := d.Store.AskConfirmation(ce.Ctx, rec); err != nil {
		return failed(svc.Name, err)
	}
	w := &waiting{n: rec.ID, ce: ce, cmd: c, svc: svc, sent: make(chan struct{})}
	w.timer = time.AfterFunc(timeout, func() {
		if d.confirms.take(w.n) == nil {
			return
		}
		w.drop(store.ConfirmExpired, fmt.Sprintf("⌛ Not confirmed within %s: the %s did not run.", ago(timeout), w.what()),
			"not confirmed in time")
	})
	d.confirms.add(w)

	who := "you"
	if d.Access.FourEyes {
		who = "another operator"
	}
	md := fmt.Sprintf("⚠️ React ✅ within %s to confirm the %s, or ❌ to cancel. Needs %s; typing `!confirm %d` or `!deny %d` works too.",
		ago(timeout), w.what(), who, w.n, w.n)
	if question != "" {
		md = fmt.Sprintf("⚠️ %s React ✅ within %s to run the %s, or ❌ to leave it as it is. Needs %s; typing `!confirm %d` or `!deny %d` works too.",
			question, ago(timeout), w.what(), who, w.n, w.n)
	}
	content := Render(md)
	if replyTo != "" {
		content.RelatesTo = (&event.RelatesTo{}).SetReplyTo(replyTo)
	} else if ce.Event.Type == event.EventReaction {
		relate(ce, &content) // a ✅ on a digest entry: the prompt answers the entry
	} else {
		content.SetReply(ce.Event)
	}
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
		close(w.sent)
		if d.confirms.take(w.n) != nil {
			w.timer.Stop()
			w.end(store.ConfirmDropped)
		}
		return failed(svc.Name, fmt.Errorf("could not ask for confirmation: %w", err))
	}
	w.prompt, rec.PromptID = resp.EventID, resp.EventID
	close(w.sent)
	recordAnswered(ce)
	if err := d.Store.SetConfirmationPrompt(ce.Ctx, rec); err != nil {
		zerolog.Ctx(ce.Ctx).Err(err).Msg("Failed to record the confirmation prompt")
	}
	// Offer both reactions, so that a click is all it takes (unless one was quicker).
	for _, key := range []string{confirmKeys[0], denyKeys[0]} {
		if !d.confirms.waits(w.n) {
			break
		}
		if _, err := cli.SendReaction(ce.Ctx, ce.RoomID, resp.EventID, key); err != nil {
			zerolog.Ctx(ce.Ctx).Warn().Err(err).Msg("Failed to offer a confirmation reaction")
		}
	}
	return outcome{Service: svc.Name, Result: store.ResultPending, Detail: fmt.Sprintf("waiting for confirmation %d", w.n)}
}

// add registers w as waiting.
func (c *confirmations) add(w *waiting) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.waiting == nil {
		c.waiting = map[int64]*waiting{}
	}
	c.waiting[w.n] = w
}

// waits says whether confirmation n still waits.
func (c *confirmations) waits(n int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.waiting[n] != nil
}

// take removes and returns confirmation n, if it still waits.
func (c *confirmations) take(n int64) *waiting {
	c.mu.Lock()
	defer c.mu.Unlock()
	w := c.waiting[n]
	delete(c.waiting, n)
	return w
}

// end records how the wait ended.
func (w *waiting) end(state store.ConfirmState) {
	ctx := context.WithoutCancel(w.ce.Ctx)
	if err := w.ce.Meta.Store.EndConfirmation(ctx, w.n, state); err != nil {
		zerolog.Ctx(ctx).Err(err).Msg("Failed to record the end of a confirmation")
	}
}

// answer ends the wait in state and edits the prompt to say how, once it was sent.
func (w *waiting) answer(state store.ConfirmState, md string) {
	w.end(state)
	<-w.sent
	if w.prompt != "" {
		editPrompt(context.WithoutCancel(w.ce.Ctx), w.ce.Proc.Client, w.ce.RoomID, w.prompt, md)
	}
}

func editPrompt(ctx context.Context, cli *mautrix.Client, room id.RoomID, prompt id.EventID, md string) {
	content := Render(md)
	content.SetEdit(prompt)
	if _, err := cli.SendMessageEvent(ctx, room, event.EventMessage, &content); err != nil {
		zerolog.Ctx(ctx).Err(err).Msg("Failed to edit the confirmation prompt")
	}
}

// drop ends the wait without running the command, and audits that it did not run.
func (w *waiting) drop(state store.ConfirmState, md, detail string) {
	w.answer(state, md)
	finish(w.ce, time.Now(), outcome{Service: w.svc.Name, Result: store.ResultCancelled, Detail: detail})
}

// DropWaitingConfirmations closes the waits a stop of opsroom cut off: each
// prompt is edited to say the command did not run, and each is audited.
// Call it at start-up, before any command can ask for a new one.
func DropWaitingConfirmations(ctx context.Context, cli *mautrix.Client, st *store.Store) error {
	waits, err := st.WaitingConfirmations(ctx)
	if err != nil {
		return err
	}
	for _, c := range waits {
		if c.PromptID != "" {
			editPrompt(ctx, cli, c.RoomID, c.PromptID, fmt.Sprintf("⚠️ Dropped by a restart of opsroom: the %s of **%s** did not run; send it again.",
				c.Command, escape(c.Service)))
		}
		if err := st.EndConfirmation(ctx, c.ID, store.ConfirmDropped); err != nil {
			return err
		}
		err := st.Audit().Record(ctx, &store.AuditEntry{Sender: c.Sender, RoomID: c.RoomID, Command: c.Command, Args: c.Service,
			Service: c.Service, Result: store.ResultCancelled, Detail: fmt.Sprintf("confirmation %d dropped by a restart of opsroom", c.ID)})
		if err != nil {
			return err
		}
	}
	return nil
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
				w.drop(store.ConfirmDenied, fmt.Sprintf("❌ Cancelled by %s: the %s did not run.", ce.Sender, w.what()), "denied by "+ce.Sender.String())
				return done
			}
			w.answer(store.ConfirmConfirmed, fmt.Sprintf("✅ Confirmed by %s: running the %s.", ce.Sender, w.what()))
			start := time.Now()
			finish(w.ce, start, w.cmd.run(w.ce, w.ce.Args))
			return done
		},
	}
}

// takeWaiting finds confirmation number arg and checks that the sender may
// answer it: the one who asked (or, with four eyes, another operator of the
// service, for a confirmation); the one who asked or an operator of the
// service, for a denial.
func takeWaiting(ce *Event, arg string, confirming bool) (*waiting, *outcome) {
	n, err := strconv.ParseInt(arg, 10, 64)
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
