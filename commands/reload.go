package commands

import (
	"context"
	"fmt"
	"strings"

	"github.com/opsroom/opsroom/ops"
	"github.com/opsroom/opsroom/store"
)

// Reloader re-reads the config file and applies its hosts and services to
// the running fleet; notes say what else changed and needs a restart.
// cmd/opsroom implements it.
type Reloader func(ctx context.Context) (changed ops.Reloaded, notes []string, err error)

var cmdReload = &command{
	Name:    "reload",
	Summary: "re-read the config file: hosts and services are added, changed and removed without a restart (as on SIGHUP)",
	Role:    RoleOperator,
	Run: func(ce *Event, _ []string) outcome {
		if ce.Meta.Reload == nil {
			return invalid("This opsroom cannot reload its config; restart it instead.")
		}
		changed, notes, err := ce.Meta.Reload(ce.Ctx)
		if err != nil {
			return outcome{Reply: "❌ The config was not reloaded; the running one stays.\n\n" + escape(err.Error()),
				Result: store.ResultFailed, Detail: err.Error()}
		}
		return outcome{Reply: ReloadedText(changed, notes), Result: store.ResultOK}
	},
}

// ReloadedText says in Markdown what a reload changed.
func ReloadedText(r ops.Reloaded, notes []string) string {
	var b strings.Builder
	if r.Empty() {
		b.WriteString("🔄 Reloaded the config: no host or service changed.")
	} else {
		b.WriteString("🔄 Reloaded the config:\n\n")
		item := func(label string, names []string) {
			if len(names) > 0 {
				fmt.Fprintf(&b, "- %s: %s\n", label, escape(strings.Join(names, ", ")))
			}
		}
		item("services added", r.Added)
		item("services removed", r.Removed)
		item("services changed", r.Changed)
		item("hosts connected afresh", r.Hosts)
	}
	for _, n := range notes {
		fmt.Fprintf(&b, "\n\n⚠️ %s", escape(n))
	}
	return b.String()
}
