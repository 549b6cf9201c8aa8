package commands

import (
	"fmt"
	"strings"
	"time"

	"github.com/opsroom/opsroom/ops"
	"github.com/opsroom/opsroom/store"
)

// AlertLine is an alert as one line of a group's message: its first line
// without the host, which the group's message names once; a recovery is what
// is added to its service's line ("✅ recovered after 12 s").
func AlertLine(a *ops.Alert) string {
	if a.Kind == ops.AlertRecovered {
		return fmt.Sprintf("✅ recovered after %s", ago(a.Downtime))
	}
	first, _, _ := strings.Cut(alertMarkdown(a, nil, time.Now()), "\n")
	return strings.Replace(first, " on "+code(a.Host), "", 1)
}

// GroupMarkdown is the message of a group of alerts of one host: a line per
// service, its latest problem and, once it is back, its recovery; as the
// group grows and its services recover, the message is edited to this.
func GroupMarkdown(alerts []*store.Alert) string {
	if len(alerts) == 0 {
		return ""
	}
	type entry struct{ problem, recovery string }
	var order []string
	entries := map[string]*entry{}
	for _, a := range alerts {
		e := entries[a.Subject]
		if e == nil {
			e = &entry{}
			entries[a.Subject] = e
			order = append(order, a.Subject)
		}
		if a.Kind == string(ops.AlertRecovered) {
			e.recovery = a.Line
		} else {
			e.problem, e.recovery = a.Line, ""
		}
	}
	var down []string
	for _, name := range order {
		if entries[name].recovery == "" {
			down = append(down, name)
		}
	}
	var b strings.Builder
	names := escape(nameList(order, maxAlertServices))
	host := code(alerts[0].Host)
	switch {
	case len(down) == 0:
		fmt.Fprintf(&b, "✅ %d services on %s went down together, and all recovered: %s", len(order), host, names)
	case len(down) < len(order):
		fmt.Fprintf(&b, "🔴 %d services on %s went down together: %s; %d still down: %s", len(order), host, names,
			len(down), escape(nameList(down, maxAlertServices)))
	default:
		fmt.Fprintf(&b, "🔴 %d services on %s went down together: %s", len(order), host, names)
	}
	b.WriteString("\n\n")
	shown := order
	if len(shown) > maxAlertServices {
		shown = shown[:maxAlertServices]
	}
	for _, name := range shown {
		e := entries[name]
		line := "- " + e.problem
		if e.recovery != "" {
			line += " · " + e.recovery
		}
		b.WriteString(line + "\n")
	}
	if more := len(order) - len(shown); more > 0 {
		fmt.Fprintf(&b, "- … and %d more\n", more)
	}
	fmt.Fprintf(&b, "\nThe last lines of each: %s", code("!logs SERVICE"))
	return fitEdit(b.String(), alertReserve)
}
