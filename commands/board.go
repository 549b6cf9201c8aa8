package commands

import (
	"fmt"
	"strings"
	"time"

	"github.com/opsroom/opsroom/store"
)

// BoardRow is one line of an alert room's board: a service or host broken now.
type BoardRow struct {
	Service string // "" for a host
	Host    string
	State   string
	Since   time.Time
	// AckedBy is who acknowledged its alert, "" while no one has: filled by
	// the acknowledgement of alerts (issue 14, point 1).
	AckedBy     string
	Muted       bool
	Maintenance bool // a maintenance window covers it
}

// maxBoardRows is how many rows the board lists; the rest are counted.
const maxBoardRows = 50

// BoardMarkdown is an alert room's board: what is broken right now, or "All
// clear"; the maintenance windows open now; and note, when there is one (why
// the board could not be pinned).
func BoardMarkdown(rows []BoardRow, windows []*store.Maintenance, note string) string {
	var b strings.Builder
	if len(rows) == 0 {
		b.WriteString("📋 ✅ **All clear**: every watched service and host is up.\n")
	} else {
		fmt.Fprintf(&b, "📋 **Broken now**: %d\n\n| service | state | since | acknowledged by |\n|---|---|---|---|\n", len(rows))
		for i, r := range rows {
			if i == maxBoardRows {
				fmt.Fprintf(&b, "| and %d more | | | |\n", len(rows)-maxBoardRows)
				break
			}
			what := "host " + code(r.Host)
			if r.Service != "" {
				what = "**" + escape(r.Service) + "** on " + code(r.Host)
			}
			state := escape(r.State)
			if r.Maintenance {
				state += " 🔧"
			}
			if r.Muted {
				state += " 🔕"
			}
			acked := "—"
			if r.AckedBy != "" {
				acked = escape(r.AckedBy)
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", cell(what), state, r.Since.Format("Jan 2 15:04 MST"), cell(acked))
		}
	}
	if len(windows) > 0 {
		b.WriteString("\n🔧 In maintenance (alerts recorded, not posted):\n\n")
		for _, m := range windows {
			fmt.Fprintf(&b, "- %s\n", maintenanceLine(m))
		}
	}
	if note != "" {
		b.WriteString("\n" + note + "\n")
	}
	return strings.TrimRight(b.String(), "\n")
}

// cell keeps a pipe from ending a table cell.
func cell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

// maintenanceLine is one window as the board and !maintenance list it:
// "**web** until 15:00 UTC (@alice: schema migration)".
func maintenanceLine(m *store.Maintenance) string {
	line := MaintenanceScope(m) + " until " + m.End.Format("Jan 2 15:04 MST")
	var who []string
	switch {
	case m.By != "":
		who = append(who, escape(string(m.By)))
	case m.Schedule != "":
		who = append(who, "scheduled")
	}
	if m.Reason != "" {
		who = append(who, escape(m.Reason))
	}
	if len(who) > 0 {
		line += " (" + strings.Join(who, ": ") + ")"
	}
	if m.EndEarly {
		line += ", or once everything in it is back up"
	}
	return line
}

// MaintenanceScope names what a window covers: "**web**", "host `spark`", "every service and host".
func MaintenanceScope(m *store.Maintenance) string {
	switch m.Scope {
	case store.ScopeAll:
		return "every service and host"
	case store.ScopeService:
		return "**" + escape(m.Name) + "**"
	}
	services, hosts := m.Targets()
	var parts []string
	for _, s := range services {
		parts = append(parts, "**"+escape(s)+"**")
	}
	for _, h := range hosts {
		parts = append(parts, "host "+code(h))
	}
	if len(parts) > 1 {
		return strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1]
	}
	return strings.Join(parts, "")
}
