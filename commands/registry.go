// Package commands parses "!verb args" from the ops room, checks the sender's
// role and the arguments against the command registry, asks for a confirmation
// where the config wants one, runs the matching fleet action and answers in Markdown.
package commands

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/commands"
	"maunium.net/go/mautrix/event"

	"github.com/opsroom/opsroom/ops"
	"github.com/opsroom/opsroom/store"
)

// Prefix starts every command.
const Prefix = "!"

// Deps is what the handlers work with.
type Deps struct {
	Fleet *ops.Fleet
	Store *store.Store
	// Watcher, when set, is told which services a command is changing, so that
	// the changes it causes are not alerted.
	Watcher *ops.Watcher
	// EditInterval is the least time between two edits of a progress message (default 2 s).
	EditInterval time.Duration
	// Access says who may run which commands.
	Access Access
	// RequireEncryption refuses commands typed in plain text (matrix.encryption.require).
	RequireEncryption bool
	// MaxJobs bounds the commands doing remote work at once (matrix.max_concurrent_jobs, default 4).
	MaxJobs int
	// Reload, when set, is what !reload runs.
	Reload Reloader
	// Observer, when set, hears of every command answered (metrics).
	Observer Observer
	// AlertsChanged, when set, is told that an alert has an edit to deliver (an acknowledgement).
	AlertsChanged func()
	// Changed, when set, is told that a mute or a maintenance window changed
	// (the bot updates the boards and ends windows).
	Changed func()

	registry []*command // for !help
	jobs     jobs
	confirms confirmations
	slots    chan struct{} // one per command doing remote work
}

func (d *Deps) editInterval() time.Duration {
	if d.EditInterval > 0 {
		return d.EditInterval
	}
	return defaultEditInterval
}

// Event is a parsed command, as mautrix's framework hands it to a handler.
type Event = commands.Event[*Deps]

// command is one entry of the registry: what a user types, what it takes, and
// what it does. Help and argument checks are generated from these fields.
type command struct {
	Name    string
	Aliases []string
	// Args is the usage after the verb, e.g. "SERVICE [LINES]"; an argument in
	// brackets is optional.
	Args    string
	Summary string
	// Role is the least role that may run it (default: viewer).
	Role Role
	// Run does the work and says how it went, for the reply and the audit log.
	Run func(ce *Event, args []string) outcome
}

// outcome is what a handler reports back: the reply it wants shown and what
// goes into the audit log.
type outcome struct {
	Reply    string // Markdown
	Service  string
	Result   store.Result
	ExitCode *int
	Detail   string
}

// registry lists every command in the order !help shows them.
func registry() []*command {
	return []*command{
		cmdHelp, cmdServices,
		cmdStatus, cmdOutdated, cmdLogs,
		cmdRestart, cmdStop, cmdStart,
		cmdCheck, cmdUpdate, cmdCancel, cmdRollback,
		cmdAlerts, cmdAck, cmdMute, cmdUnmute, cmdMaintenance, cmdWatch,
		cmdHistory, cmdReload,
		cmdConfirm, cmdDeny,
	}
}

// cmdUnknown stands for a command that is not in the registry, for the role check.
var cmdUnknown = &command{Name: "unknown"}

// needs is the least role that may run c.
func (c *command) needs() Role { return max(c.Role, RoleViewer) }

// NewProcessor returns mautrix's command processor with every command registered.
func NewProcessor(cli *mautrix.Client, deps *Deps) *commands.Processor[*Deps] {
	proc := commands.NewProcessor[*Deps](cli)
	proc.Meta = deps
	proc.LogArgs = true
	deps.registry = registry()
	deps.slots = make(chan struct{}, max(deps.MaxJobs, 1))
	for _, c := range deps.registry {
		proc.Register(c.handler())
	}
	// Replace mautrix's own fallback: ours points at !help and is audited.
	proc.Unregister(proc.GetHandler(commands.UnknownCommandName))
	proc.Register(&commands.Handler[*Deps]{
		Name: commands.UnknownCommandName,
		Func: func(ce *Event) {
			if refusal := authorize(ce, cmdUnknown, nil); refusal != nil {
				finish(ce, time.Now(), *refusal)
				return
			}
			o := outcome{
				Reply:  fmt.Sprintf("Unknown command %s. Type `!help` for the list.", code(Prefix+ce.Command)),
				Result: store.ResultInvalid,
				Detail: "unknown command",
			}
			finish(ce, time.Now(), o)
		},
	})
	return proc
}

func (c *command) handler() *commands.Handler[*Deps] {
	return &commands.Handler[*Deps]{
		Name:        c.Name,
		Aliases:     c.Aliases,
		Description: event.MakeExtensibleText(c.Summary),
		Func: func(ce *Event) {
			start := time.Now()
			var o outcome
			if sent, ok := ce.Ctx.Value(notRunKey{}).(time.Time); ok {
				o = notRun(sent)
			} else if refusal := authorize(ce, c, ce.Args); refusal != nil {
				o = *refusal
				if ce.Event.Type == event.EventReaction && c == cmdAck {
					o.Reply = "" // a 👀 anyone may add; from someone without a role it is logged and audited, not answered
				}
			} else if err := c.checkArgCount(ce.Args); err != nil {
				o = invalid(err.Error())
			} else if svc, ask := needsConfirmation(ce, c, ce.Args); ask {
				o = askConfirmation(ce, c, svc)
			} else {
				o = c.run(ce, ce.Args)
			}
			finish(ce, start, o)
		},
	}
}

// notRunKey marks the context of a command sent while opsroom was down.
type notRunKey struct{}

// NotRun marks ctx as that of a command sent at sent, while opsroom was down:
// the command is answered "not run", and audited so, instead of being run.
func NotRun(ctx context.Context, sent time.Time) context.Context {
	return context.WithValue(ctx, notRunKey{}, sent)
}

func notRun(sent time.Time) outcome {
	return outcome{
		Reply:  fmt.Sprintf("⏸️ Not run: sent at %s while opsroom was down; send it again if still needed.", sent.Format("15:04 MST")),
		Result: store.ResultCancelled,
		Detail: "not run: sent while opsroom was down",
	}
}

// work lists the commands that hold remote resources while they run (SSH
// sessions, a deploy, minutes of a build): they wait for one of
// max_concurrent_jobs slots. The others, control (!cancel, !confirm, !deny)
// and quick reads (!status, !help), are answered at once, however many jobs run;
// a confirmed command takes its slot when it runs.
var work = []*command{cmdOutdated, cmdLogs, cmdRestart, cmdStop, cmdStart, cmdCheck, cmdUpdate, cmdRollback}

// run runs c, in one of the job slots if it is work; while it waits for one,
// the command carries a ⏳ reaction.
func (c *command) run(ce *Event, args []string) outcome {
	if !slices.Contains(work, c) {
		return c.Run(ce, args)
	}
	slots := ce.Meta.slots
	select {
	case slots <- struct{}{}:
	default:
		log := zerolog.Ctx(ce.Ctx)
		log.Info().Int("max_concurrent_jobs", cap(slots)).Msg("Waiting for a job slot")
		waiting, err := ce.Proc.Client.SendReaction(ce.Ctx, ce.RoomID, ce.ID, "⏳")
		if err != nil {
			log.Warn().Err(err).Msg("Failed to mark the command as waiting")
		}
		select {
		case slots <- struct{}{}:
		case <-ce.Ctx.Done():
			return outcome{Result: store.ResultCancelled, Detail: "opsroom stopped before a job slot came free"}
		}
		if waiting != nil {
			if _, err := ce.Proc.Client.RedactEvent(ce.Ctx, ce.RoomID, waiting.EventID); err != nil {
				log.Warn().Err(err).Msg("Failed to take back the waiting mark")
			}
		}
	}
	defer func() { <-slots }()
	return c.Run(ce, args)
}

// usage is the command as help shows it: "!logs SERVICE [LINES]".
func (c *command) usage() string {
	return strings.TrimSpace(Prefix + c.Name + " " + c.Args)
}

func (c *command) checkArgCount(args []string) error {
	if strings.Contains(c.Args, "...") {
		return nil // it takes any number of words: it checks them itself
	}
	minArgs, maxArgs := 0, 0
	for _, a := range strings.Fields(c.Args) {
		maxArgs++
		if !strings.HasPrefix(a, "[") {
			minArgs++
		}
	}
	switch {
	case len(args) < minArgs:
		return fmt.Errorf("missing argument; usage: %s", code(c.usage()))
	case len(args) > maxArgs && maxArgs == 0:
		return fmt.Errorf("%s takes no arguments", code(Prefix+c.Name))
	case len(args) > maxArgs:
		return fmt.Errorf("too many arguments; usage: %s", code(c.usage()))
	}
	return nil
}

// finish sends the reply (unless the handler already showed its result, as a
// progress message does) and writes the audit row, failed if the reply could
// not be delivered.
func finish(ce *Event, start time.Time, o outcome) {
	if o.Reply != "" {
		// A reply that did not reach the room is a failure, whatever the command did.
		if problem := sendReply(ce, o.Reply); problem != "" {
			if o.Result == store.ResultOK {
				o.Result = store.ResultFailed
			}
			o.Detail = strings.TrimSuffix(problem+"; "+o.Detail, "; ")
		}
	}
	if o.Result == store.ResultDenied {
		zerolog.Ctx(ce.Ctx).Warn().Str("reason", o.Detail).Msg("Refused a command")
	}
	entry := &store.AuditEntry{
		Time:     start,
		Sender:   ce.Sender,
		RoomID:   ce.RoomID,
		EventID:  ce.ID,
		Command:  ce.Command,
		Args:     strings.Join(ce.Args, " "),
		Service:  o.Service,
		Result:   o.Result,
		ExitCode: o.ExitCode,
		Duration: time.Since(start),
		Detail:   o.Detail,
	}
	if err := ce.Meta.Store.Audit().Record(context.WithoutCancel(ce.Ctx), entry); err != nil {
		zerolog.Ctx(ce.Ctx).Err(err).Msg("Failed to write audit entry")
	}
	ce.Meta.observe(ce.Command, o.Service, o.Result, entry.Duration)
}

func invalid(msg string) outcome {
	return outcome{Reply: "⚠️ " + msg, Result: store.ResultInvalid, Detail: msg}
}

// lookup resolves a service name typed by the user; an unknown name is answered
// with the closest registered names.
func lookup(ce *Event, name string) (*ops.ServiceConfig, *outcome) {
	svc, err := ce.Meta.Fleet.Lookup(name)
	if err != nil {
		o := invalid(err.Error())
		return nil, &o
	}
	return svc, nil
}

// failed turns an error from the fleet into the reply a user needs: which host,
// which step, the exit code and the tail of stderr.
func failed(service string, err error) outcome {
	o := outcome{Service: service, Result: store.ResultFailed, Detail: err.Error()}
	var cmdErr *ops.CommandError
	var unreachable *ops.UnreachableError
	switch {
	case errors.As(err, &cmdErr):
		exitCode := cmdErr.ExitCode
		o.ExitCode = &exitCode
		o.Reply = fmt.Sprintf("❌ %s of **%s** failed on host %s: %s exited with code %d",
			cmdErr.Step, service, code(cmdErr.Host), code(cmdErr.Command), cmdErr.ExitCode)
		out := cmdErr.Stderr
		if strings.TrimSpace(out) == "" {
			out = cmdErr.Stdout
		}
		if strings.TrimSpace(out) != "" {
			o.Reply += "\n\n" + codeBlock(out, errorTailLines)
		}
	case errors.As(err, &unreachable):
		o.Reply = fmt.Sprintf("❌ **%s**: host %s is unreachable: %s", service, code(unreachable.Host), escape(unreachable.Error()))
	case errors.Is(err, context.DeadlineExceeded):
		o.Reply = fmt.Sprintf("❌ **%s**: timed out: %s", service, escape(err.Error()))
	default:
		o.Reply = fmt.Sprintf("❌ **%s**: %s", service, escape(err.Error()))
	}
	return o
}
