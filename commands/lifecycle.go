package commands

import (
	"context"
	"fmt"
	"time"

	"github.com/opsroom/opsroom/ops"
	"github.com/opsroom/opsroom/store"
)

var (
	cmdRestart = lifecycle("restart", "restarted", "restart the service's container", (*ops.Fleet).Restart)
	cmdStop    = lifecycle("stop", "stopped", "stop the service's container", (*ops.Fleet).Stop)
	cmdStart   = lifecycle("start", "started", "start the service (compose: up -d, recreating it if needed)", (*ops.Fleet).Start)
)

// lifecycle builds the commands that change a service's state and then report
// the state it is in now.
func lifecycle(name, done, summary string, action func(*ops.Fleet, context.Context, string) (ops.Status, error)) *command {
	return &command{
		Name:    name,
		Role:    RoleOperator,
		Args:    "SERVICE",
		Summary: summary,
		Run: func(ce *Event, args []string) outcome {
			svc, bad := lookup(ce, args[0])
			if bad != nil {
				return *bad
			}
			ctx, _, release, busy := claim(ce, svc, name)
			if busy != nil {
				return *busy
			}
			defer release()
			st, err := action(ce.Meta.Fleet, ctx, svc.Name)
			if err != nil {
				return failed(svc.Name, err)
			}
			return outcome{Reply: lifecycleReply(done, st, time.Now()), Service: svc.Name, Result: store.ResultOK}
		},
	}
}

// lifecycleReply reads like "🟢 restarted **bridge**: running since 3 s, restart count 0".
func lifecycleReply(done string, st ops.Status, now time.Time) string {
	return fmt.Sprintf("%s %s **%s**: %s", stateIcon(st.State), done, escape(st.Service), stateSummary(st, now))
}

// stateSummary is a state in a few words: "running since 3 s, restart count 0".
func stateSummary(st ops.Status, now time.Time) string {
	s := stateText(st)
	switch st.State {
	case ops.StateRunning, ops.StateUnhealthy, ops.StateRestarting:
		if !st.StartedAt.IsZero() {
			s += " since " + ago(now.Sub(st.StartedAt))
		}
		s += fmt.Sprintf(", restart count %d", st.RestartCount)
		if st.Health != "" {
			s += ", health " + st.Health
		}
	case ops.StateUnreachable, ops.StateUnknown:
		s += ": " + escape(errText(st.Err))
	}
	return s
}
