package e2e

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"maunium.net/go/mautrix/event"

	"github.com/opsroom/opsroom/internal/testworld"
)

// The size tests: every reply arrives whatever it has to carry, cut to what
// the homeserver takes (64 KiB of event JSON, in an encrypted room after
// HTML, JSON escaping and base64 of the ciphertext), and a reply that could
// not be delivered is recorded as a failure.

// jsonLogLine is a service's JSON log line of about 1 kB, full of < > &, in
// testsvc's SAY form: {n} is the line's number.
func jsonLogLine() string {
	return `{"n":{n},"level":"error","msg":"template failed","html":"` +
		strings.Repeat(`<div class=\"a&b\"><b>&amp;</b></div>`, 26) + `"}`
}

// auditDetails reads the result and detail of a command's audit rows.
func auditDetails(t testing.TB, dbPath, command string) []string {
	t.Helper()
	db := openDatabase(t, dbPath)
	defer db.Close()
	rows, err := db.Query(`SELECT result, detail FROM audit_log WHERE command=$1 ORDER BY id`, command)
	if err != nil {
		t.Fatalf("reading the audit log: %v", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var result, detail string
		if err := rows.Scan(&result, &detail); err != nil {
			t.Fatal(err)
		}
		out = append(out, result+" "+detail)
	}
	return out
}

// !logs web 500 of a service printing 500 JSON lines of 1 kB full of < > &
// once needed 6 MB of event; it arrives in an encrypted room, its last lines
// whole and in order, saying how many it cut, and its audit row is ok.
func TestLogsOfLongJSONLinesArriveInAnEncryptedRoom(t *testing.T) {
	w := newEncryptedWorld(t)
	line := jsonLogLine()
	say := strconv.Quote(line + "\n")
	c := testworld.RunContainer(t, testworld.UniqueName(t, "web"),
		map[string]string{"SAY": say[1 : len(say)-1], "SAY_TIMES": "500", "TICK": "1h"})
	eventually(t, "the service printing its 500 lines", func() bool {
		return strings.Contains(testworld.Docker(t, "logs", "--tail", "1", c.Name), `{"n":500,`)
	})
	o := w.startOpsroom(t, map[string]host{"local": w.localHost()}, map[string]service{"web": containerService(c)})

	got := w.ask(t, w.alice, "!logs web 500")
	m := regexp.MustCompile(`… (\d+) earlier lines cut`).FindStringSubmatch(got)
	if m == nil {
		t.Fatalf("the reply does not say how many lines it cut:\n%.600s", got)
	}
	cut, _ := strconv.Atoi(m[1])
	var want []string
	for n := cut + 1; n <= 500; n++ {
		want = append(want, strings.ReplaceAll(line, "{n}", strconv.Itoa(n)))
	}
	if len(want) < 3 || !strings.Contains(got, "\n"+strings.Join(want, "\n")+"\n") {
		t.Errorf("the reply does not show lines %d to 500 whole and in order:\n%.600s\n…\n%s", cut+1, got, got[max(0, len(got)-600):])
	}
	t.Logf("!logs web 500 showed the last %d lines and said %d were cut", len(want), cut)
	if rows := auditDetails(t, o.db, "logs"); len(rows) != 1 || rows[0] != "ok " {
		t.Errorf("audit rows of !logs: %q, want one ok", rows)
	}
}

// !status all of 200 services on 20 hosts, 14 of them cut off (Toxiproxy in
// front of one sshd, 10 real containers), arrives in an encrypted room: the
// summary first, each cut-off host as one row, in natural order, and the
// running services counted per host.
func TestStatusOfABigFleetWithHostsCutOffArrives(t *testing.T) {
	w := newEncryptedWorld(t)
	w.watch = map[string]any{"disabled": true}
	tp := testworld.StartToxiproxy(t)
	var containers []*testworld.Container
	for i := 1; i <= 10; i++ {
		// No health check: ten of them at once on a busy machine miss its 1 s timeout.
		containers = append(containers, testworld.RunContainer(t, testworld.UniqueName(t, fmt.Sprintf("svc%d", i)), nil, "--no-healthcheck"))
	}
	hosts, services := map[string]host{}, map[string]service{}
	var proxies []*testworld.Proxy
	for h := 1; h <= 20; h++ {
		name := fmt.Sprintf("h%d", h)
		p := tp.Proxy(t, name, w.sshd.Addr)
		proxies = append(proxies, p)
		hosts[name] = w.viaProxy(t, p)
		for i, c := range containers {
			services[fmt.Sprintf("%s-app%d", name, i+1)] = service{"host": name, "kind": "container", "container": c.Name}
		}
	}
	o := w.startOpsroom(t, hosts, services)
	for _, p := range proxies[6:] { // h7 to h20
		p.SetEnabled(t, false)
	}

	got := w.ask(t, w.alice, "!status all")
	if !strings.HasPrefix(got, "**60 running, 14 hosts unreachable (140 services)**") &&
		!strings.HasPrefix(got, "60 running, 14 hosts unreachable (140 services)") {
		t.Errorf("the reply does not start with the summary:\n%s", got)
	}
	var order []string
	for _, h := range []int{7, 8, 9, 10, 11, 20} {
		order = append(order, fmt.Sprintf("| 🔴 all 10 services | h%d | unreachable |", h))
	}
	order = append(order, "🟢 running — h1: 10 · h2: 10 · h3: 10 · h4: 10 · h5: 10 · h6: 10")
	rest := got
	for _, want := range order {
		i := strings.Index(rest, want)
		if i < 0 {
			t.Fatalf("the reply lacks %q in its place:\n%s", want, got)
		}
		rest = rest[i+len(want):]
	}
	if strings.Contains(got, "h7-app1") && !strings.Contains(got, "- host **h7** (h7-app1") {
		t.Errorf("a cut-off host's services have rows of their own:\n%s", got)
	}
	if rows := auditDetails(t, o.db, "status"); len(rows) != 1 || rows[0] != "ok " {
		t.Errorf("audit rows of !status: %q, want one ok", rows)
	}
}

// A reply the homeserver refuses (here: the bot may no longer post in the
// room) is recorded as failed, with the homeserver's reason, never ok.
func TestARefusedReplyIsAuditedAsFailed(t *testing.T) {
	w := newWorld(t)
	c := testworld.RunContainer(t, testworld.UniqueName(t, "web"), nil)
	o := w.startOpsroom(t, map[string]host{"local": w.localHost()}, map[string]service{"web": containerService(c)})
	mustContain(t, "status while the bot may post", w.ask(t, w.alice, "!status web"), "**running**")

	ctx := context.Background()
	var levels event.PowerLevelsEventContent
	if err := w.alice.StateEvent(ctx, w.room, event.StatePowerLevels, "", &levels); err != nil {
		t.Fatalf("reading the power levels: %v", err)
	}
	setEventsDefault := func(level int) {
		t.Helper()
		levels.EventsDefault = level
		if _, err := w.alice.SendStateEvent(ctx, w.room, event.StatePowerLevels, "", &levels); err != nil {
			t.Fatalf("setting the power levels: %v", err)
		}
	}
	setEventsDefault(50) // alice has 100, the bot 0
	w.say(t, w.alice, "!status web")
	eventually(t, "the second !status recorded", func() bool { return len(auditDetails(t, o.db, "status")) == 2 })
	rows := auditDetails(t, o.db, "status")
	if !strings.HasPrefix(rows[1], "failed reply not delivered: the homeserver refused it (M_FORBIDDEN") {
		t.Errorf("audit row of the refused reply: %q, want failed with the homeserver's reason", rows[1])
	}

	setEventsDefault(0)
	mustContain(t, "status once the bot may post again", w.ask(t, w.alice, "!status web"), "**running**")
	if rows := auditDetails(t, o.db, "status"); len(rows) != 3 || rows[2] != "ok " {
		t.Errorf("audit rows: %q, want the third ok", rows)
	}
}
