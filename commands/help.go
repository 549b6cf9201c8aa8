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
