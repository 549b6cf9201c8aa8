package ops

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// systemdBackend operates systemd units: one `systemctl show` probes all of a
// host's units, journalctl has their logs, and systemd's own journal lines
// about them are the event stream. User units (`user_unit: true`) live in
// the run_as user's own service manager.
//
// Reading the journal needs no privilege beyond the group systemd-journal;
// changing a system unit does, so restart, stop and start go through
// `sudo -n` unless the host's commands run as root (see the README for the
// sudoers lines that allow exactly those).
type systemdBackend struct {
	user bool // the units are the run_as user's (systemctl --user)
	sudo bool // changing a system unit needs sudo: commands do not run as root
}

var _ backend = systemdBackend{}

func (b systemdBackend) name() string {
	if b.user {
		return "systemd --user"
	}
	return "systemd"
}

func (b systemdBackend) noun() string {
	if b.user {
		return "user unit"
	}
	return "unit"
}

func (systemdBackend) object(s *ServiceConfig) string { return s.Unit }

// unitProperties are what a probe reads of each unit.
const unitProperties = "Id,LoadState,ActiveState,SubState,NRestarts,ExecMainStatus,ExecMainCode,ActiveEnterTimestamp,ExecMainExitTimestamp,Result"

// systemctl is the systemctl of these units: the user's manager needs its
// runtime directory, which a sudo login shell does not set.
func (b systemdBackend) systemctl() string {
	if b.user {
		return `XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/run/user/$(id -u)}" systemctl --user`
	}
	return "systemctl"
}

// probeCommand shows every unit in one call, with timestamps in UTC (TZ),
// which every systemd version honours.
func (b systemdBackend) probeCommand(services []*ServiceConfig) string {
	return "TZ=UTC " + b.systemctl() + " show --property=" + unitProperties + " -- " + quoteAll(objects(b, services))
}

func (b systemdBackend) parseProbe(host string, services []*ServiceConfig, res RunResult) (map[string]Status, error) {
	units := objects(b, services)
	if res.ExitCode != 0 && !strings.Contains(res.Stdout, "LoadState=") {
		return nil, &EngineError{Host: host, Engine: b.name(), Output: res.Stderr + res.Stdout}
	}
	return parseUnits(units, res.Stdout), nil
}

// parseUnits reads `systemctl show` of the given units: a block of
// Property=value lines a unit, in the order asked, blocks apart by a blank
// line. A unit that does not exist still has its block, LoadState=not-found.
func parseUnits(units []string, stdout string) map[string]Status {
	out := make(map[string]Status, len(units))
	var blocks []map[string]string
	for _, block := range strings.Split(strings.TrimSpace(stdout), "\n\n") {
		props := map[string]string{}
		for _, line := range strings.Split(block, "\n") {
			if k, v, ok := strings.Cut(line, "="); ok {
				props[k] = v
			}
		}
		blocks = append(blocks, props)
	}
	// Blocks come in the order asked; Id says the unit's real name, which
	// differs for an alias, so the order decides unless the counts disagree.
	for i, unit := range units {
		var props map[string]string
		if len(blocks) == len(units) {
			props = blocks[i]
		} else {
			for _, b := range blocks {
				if b["Id"] == unit {
					props = b
				}
			}
		}
		if props == nil {
			out[unit] = Status{State: StateUnknown, Raw: strings.TrimSpace(stdout), Err: fmt.Errorf("systemctl show gave no properties for unit %q", unit)}
			continue
		}
		out[unit] = unitStatus(unit, props)
	}
	return out
}

// unitStatus maps a unit's properties to a state: active is running,
// activating to restart after a failure is restarting, failed and inactive
// are exited (with the main process's exit status; a signal is 128+signal, as
// docker has it), a unit systemd does not know is not deployed.
func unitStatus(unit string, p map[string]string) Status {
	st := Status{Native: p["ActiveState"]}
	unknown := func(why string) Status {
		var raw []string
		for _, k := range strings.Split(unitProperties, ",") {
			raw = append(raw, k+"="+p[k])
		}
		return Status{State: StateUnknown, Native: st.Native, Raw: strings.Join(raw, "\n"), Err: fmt.Errorf("systemctl show of %q: %s", unit, why)}
	}
	switch p["LoadState"] {
	case "not-found":
		st.State, st.Native = StateNotDeployed, "not-found"
		return st
	case "loaded", "masked":
	default:
		return unknown("LoadState " + strconv.Quote(p["LoadState"]))
	}
	var err error
	if st.RestartCount, err = atoiOrZero(p["NRestarts"]); err != nil {
		return unknown("bad NRestarts " + strconv.Quote(p["NRestarts"]))
	}
	if st.ExitCode, err = atoiOrZero(p["ExecMainStatus"]); err != nil {
		return unknown("bad ExecMainStatus " + strconv.Quote(p["ExecMainStatus"]))
	}
	// ExecMainCode is the CLD_* code: 1 exited, 2 killed, 3 dumped core.
	if code := p["ExecMainCode"]; code == "2" || code == "3" {
		st.ExitCode += 128
	}
	st.OOMKilled = p["Result"] == "oom-kill"
	if st.StartedAt, err = parseUnitTime(p["ActiveEnterTimestamp"]); err != nil {
		return unknown("bad ActiveEnterTimestamp " + strconv.Quote(p["ActiveEnterTimestamp"]))
	}
	if st.FinishedAt, err = parseUnitTime(p["ExecMainExitTimestamp"]); err != nil {
		return unknown("bad ExecMainExitTimestamp " + strconv.Quote(p["ExecMainExitTimestamp"]))
	}
	switch p["ActiveState"] {
	case "active", "reloading", "refreshing":
		st.State = StateRunning
	case "activating":
		st.State = StateRunning
		if p["SubState"] == "auto-restart" {
			st.State = StateRestarting
		}
	case "failed", "inactive", "deactivating", "maintenance":
		st.State = StateExited
		if p["LoadState"] == "masked" {
			st.Native = "masked"
		}
	default:
		return unknown("unexpected ActiveState " + strconv.Quote(p["ActiveState"]))
	}
	return st
}

func atoiOrZero(s string) (int, error) {
	if s == "" || s == "[not set]" {
		return 0, nil
	}
	return strconv.Atoi(s)
}

// parseUnitTime reads a systemctl timestamp written with TZ=UTC ("Wed
// 2026-12-02 10:22:04 UTC"); never is empty or "n/a", the zero time.
func parseUnitTime(s string) (time.Time, error) {
	if s == "" || s == "n/a" || s == "0" {
		return time.Time{}, nil
	}
	return time.Parse("Mon 2006-01-02 15:04:05 MST", s)
}

func (b systemdBackend) actionCommand(s *ServiceConfig, action string, lines int) string {
	unit := Quote(s.Unit)
	switch action {
	case "logs":
		if b.user {
			return "journalctl --user-unit " + unit + " -n " + strconv.Itoa(lines) + " --no-pager -o short-iso"
		}
		return "journalctl -u " + unit + " -n " + strconv.Itoa(lines) + " --no-pager -o short-iso"
	case "restart", "stop", "start":
		if b.sudo && !b.user {
			return "sudo -n systemctl " + action + " " + unit
		}
		return b.systemctl() + " " + action + " " + unit
	}
	panic("ops: no systemd recipe for action " + action)
}

// healthLogCommand is empty: systemd has no health checks; a health probe is the way.
func (systemdBackend) actionOutcome(_ *ServiceConfig, _ string, res RunResult) RunResult { return res }

func (systemdBackend) healthLogCommand(*ServiceConfig) string { return "" }

// eventsCommand follows what systemd itself writes to the journal about the
// units (PID 1's lines: started, stopped, main process exited, failed), not
// what the services write: a busy service does not wake the watcher. --since
// the time the ready line was written replays what happened while journalctl
// started. A user manager's lines have no fixed PID: user units are probed
// on the interval only.
func (b systemdBackend) eventsCommand(services []*ServiceConfig) string {
	if b.user {
		return ""
	}
	var matches []string
	for _, u := range objects(b, services) {
		matches = append(matches, Quote("UNIT="+u))
	}
	return `since=$(date +%s); echo ` + readyLine + `; exec journalctl --follow --output=json --output-fields=UNIT,MESSAGE,MESSAGE_ID --since "@$since" _PID=1 ` +
		strings.Join(matches, " ")
}

// unitExitMessageID is systemd's MESSAGE_ID of "Main process exited" (SD_MESSAGE_UNIT_PROCESS_EXIT).
const unitExitMessageID = "98e322203f7a4ed290d09fe03c09fe15"

// parseEvent reads a line of `journalctl --output=json`.
func (systemdBackend) parseEvent(line []byte) (object string, relevant, died bool) {
	var ev struct {
		Unit      string          `json:"UNIT"`
		Message   json.RawMessage `json:"MESSAGE"`
		MessageID string          `json:"MESSAGE_ID"`
	}
	if json.Unmarshal(line, &ev) != nil || ev.Unit == "" {
		return "", false, false
	}
	var msg string
	_ = json.Unmarshal(ev.Message, &msg) // journald writes a binary MESSAGE as an array of bytes
	died = ev.MessageID == unitExitMessageID || strings.Contains(msg, "Main process exited")
	return ev.Unit, true, died
}

// preflight checks that systemctl answers (for user units: the user's own
// manager, which needs lingering or a login) and that the journal, which
// !logs and the event stream read, shows systemd's own lines: a user outside
// the group systemd-journal sees only its own.
func (b systemdBackend) preflight([]*ServiceConfig) []hostCheck {
	manager := hostCheck{name: "systemctl usable", cmd: b.systemctl() + " --version", judge: func(res RunResult) Check {
		if res.ExitCode != 0 {
			return failure(res)
		}
		first, _, _ := strings.Cut(strings.TrimSpace(res.Stdout), "\n")
		return Check{OK: true, Detail: first}
	}}
	journal := hostCheck{name: "journal readable", cmd: "journalctl -n 1 --no-pager -q -o cat _PID=1", judge: func(res RunResult) Check {
		switch {
		case res.ExitCode != 0:
			return failure(res)
		case strings.TrimSpace(res.Stdout) == "":
			return Check{Detail: "journalctl shows none of systemd's own lines: add the user to the group systemd-journal"}
		}
		return Check{OK: true, Detail: "systemd's own lines"}
	}}
	if b.user {
		// --version never asks the manager; show-environment does.
		manager.name, manager.cmd = "systemctl --user reachable", b.systemctl()+" show-environment >/dev/null && "+b.systemctl()+" --version"
		journal.name, journal.cmd = "user journal readable", "journalctl -n 1 --no-pager -q -o cat"
		journal.judge = func(res RunResult) Check {
			out := res.Stderr + res.Stdout
			if res.ExitCode != 0 || strings.Contains(out, "No journal files") || strings.Contains(out, "insufficient permissions") {
				c := failure(res)
				c.Detail += "; add the user to the group systemd-journal"
				return c
			}
			return Check{OK: true, Detail: "the user's units' lines"}
		}
	}
	return []hostCheck{manager, journal}
}
