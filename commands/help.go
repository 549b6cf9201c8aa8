package commands

import (
	"fmt"
	"strings"

	"github.com/opsroom/opsroom/store"
)

var cmdHelp = &command{
	Name:    "help",
	Summary: "list the commands",
	Run: func(ce *Event, _ []string) outcome {
		var b strings.Builder
		b.WriteString("**Commands**\n\n")
		for _, c := range ce.Meta.registry {
			fmt.Fprintf(&b, "- %s — %s", code(c.usage()), c.Summary)
			if c.needs() == RoleOperator {
				b.WriteString(" *(operators)*")
			}
			b.WriteString("\n")
		}
		return outcome{Reply: b.String(), Result: store.ResultOK}
	},
}

var cmdServices = &command{
	Name:    "services",
	Summary: "list the registered services: name, host, kind",
	Run: func(ce *Event, _ []string) outcome {
		services := ce.Meta.Fleet.Services()
		if len(services) == 0 {
			return outcome{Reply: "No services are registered: add them under `services:` in the config.", Result: store.ResultOK}
		}
		var b strings.Builder
		b.WriteString("| service | host | kind |\n|---|---|---|\n")
		for _, s := range services {
			fmt.Fprintf(&b, "| %s | %s | %s |\n", escape(s.Name), escape(s.Host), s.Kind)
		}
		return outcome{Reply: b.String(), Result: store.ResultOK}
	},
}
