package e2e

import (
	"bufio"
	"cmp"
	"database/sql"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/opsroom/opsroom/internal/testworld"
)

// The chaos soak: two opsroom instances on PostgreSQL watch three hosts and
// eight services while faults come and a client sends commands; a checker
// (checkChaos) then compares the room with the ground truth: the Docker
// engine's own event stream, what the soak did to hosts, and the commands it
// sent.
//
// Run by the suite, it plays ciSchedule: every fault kind once, in a fixed
// order, in about three minutes. With OPSROOM_CHAOS (how long to inject
// faults; test/chaos.sh sets it), OPSROOM_CHAOS_SEED (default the clock) or
// OPSROOM_CHAOS_GAP (the time between two faults' starts, default 10s-60s)
// it plays a random schedule instead: the fault kinds in rounds, each round
// every kind once in a seeded random order, on random targets, so that a
// run long enough for a round (about 7 minutes at the default gaps)
// exercises them all. OPSROOM_CHAOS_REPORT is a file for the report.
func TestChaosSoak(t *testing.T) {
	began := time.Now()
	random := os.Getenv("OPSROOM_CHAOS") != "" || os.Getenv("OPSROOM_CHAOS_SEED") != "" || os.Getenv("OPSROOM_CHAOS_GAP") != ""
	duration := envDuration(t, "OPSROOM_CHAOS", 3*time.Minute)
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("OPSROOM_CHAOS_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("OPSROOM_CHAOS_SEED=%q: %v", s, err)
		}
	}
	gapMin, gapMax := 10*time.Second, 60*time.Second
	if g := os.Getenv("OPSROOM_CHAOS_GAP"); g != "" {
		lo, hi, _ := strings.Cut(g, "-")
		var err1, err2 error
		gapMin, err1 = time.ParseDuration(lo)
		gapMax, err2 = time.ParseDuration(hi)
		if err1 != nil || err2 != nil || gapMax < gapMin {
			t.Fatalf("OPSROOM_CHAOS_GAP=%q: want MIN-MAX such as 10s-60s", g)
		}
	}
	title := fmt.Sprintf("chaos soak, the fixed schedule (%d faults)", len(ciSchedule))
	if random {
		title = fmt.Sprintf("chaos soak of %s, faults every %s-%s, seed %d", duration, gapMin, gapMax, seed)
		t.Logf("%s (OPSROOM_CHAOS_SEED=%d repeats the choices)", title, seed)
	} else {
		t.Logf("%s; OPSROOM_CHAOS=DURATION (test/chaos.sh) plays a random one", title)
	}

	c := newChaos(t, rand.New(rand.NewPCG(seed, seed^0x6f707372)))
	ready := time.Now()
	t.Logf("the world ready after %s", ready.Sub(began).Round(time.Second))
	if random {
		c.runRandom(duration, gapMin, gapMax)
	} else {
		c.runFixed(ciSchedule, ciGap)
	}
	c.restoreAll()
	faulted := time.Now()
	t.Logf("faults injected in %s", faulted.Sub(ready).Round(time.Second))
	rep := c.settle()
	t.Logf("the last alerts and replies in %s", time.Since(faulted).Round(time.Second))
	table := rep.table(fmt.Sprintf("%s, %s, %s in all", title, time.Now().UTC().Format("2006-01-02 15:04 MST"),
		time.Since(began).Round(time.Second)))
	t.Logf("\n%s", table)
	if path := os.Getenv("OPSROOM_CHAOS_REPORT"); path != "" {
		if err := os.WriteFile(path, []byte(table), 0o644); err != nil {
			t.Error(err)
		}
	}
	for _, p := range rep.problems {
		t.Error(p)
	}
	if t.Failed() {
		t.Logf("the room's alerts:\n%s", c.alertLog())
	}
}

func envDuration(t *testing.T, name string, def time.Duration) time.Duration {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		t.Fatalf("%s=%q: %v", name, v, err)
	}
	return d
}

// step is one fault of a schedule: its kind, what it breaks, for how long,
// and the commands sent during it (a fault of opsroom) and after it.
type step struct {
	kind string
	// target is the service of a service fault (kill, stop, rm,
	// crash-loop) or the host of a host fault (sshd-stop, host-cut,
	// host-stall).
	target string
	// victim is the service killed during a fault of the homeserver or of
	// opsroom: its alert is what that fault must not lose.
	victim        string
	hold          time.Duration
	during, after string
}

// ciSchedule is the soak CI runs: every fault kind once, each on another
// host than the two before it (as the random schedule's, see randomStep),
// each held just long enough for the watcher's rules to see it, and every
// command sent several times.
var ciSchedule = []step{
	{kind: "kill", target: "web1", hold: 4 * time.Second, after: "!status web1"},
	{kind: "sshd-stop", target: "b", hold: 8 * time.Second, after: "!restart echo"},
	{kind: "rm", target: "web5", hold: 4 * time.Second, after: "!status"},
	{kind: "host-cut", target: "a", hold: 8 * time.Second, after: "!status web1"},
	// a crash loop takes some restarts to see: 9 s at a load of 28 on 2 cores
	{kind: "crash-loop", target: "loop", hold: 15 * time.Second, after: "!restart echo"},
	// a stalled host is unreachable after two probes that each time out
	// (command_timeout 10 s): 15-20 s at that load
	{kind: "host-stall", target: "c", hold: 30 * time.Second, after: "!status"},
	{kind: "stop", target: "web2", hold: 4 * time.Second, after: "!status web1"},
	{kind: "homeserver-stall", victim: "web3", hold: 6 * time.Second, after: "!restart echo"},
	{kind: "kill-9-active", victim: "web6", hold: 3 * time.Second, during: "!status web1", after: "!status"},
	{kind: "homeserver-stop", victim: "web1", hold: 6 * time.Second, after: "!restart echo"},
	{kind: "sigstop-active", victim: "web4", hold: 3 * time.Second, during: "!status", after: "!status web1"},
}

// ciGap is the pause after each fault of the fixed schedule: its recovery
// comes, and the command after it is answered, before the next.
const ciGap = 3 * time.Second

// chaosHost is one of the soak's hosts: its own sshd, reached through a proxy.
type chaosHost struct {
	name  string
	sshd  *testworld.SSHD
	proxy *testworld.Proxy
}

type chaos struct {
	t       *testing.T
	rng     *rand.Rand
	w       *world
	hosts   []*chaosHost
	hsProxy *testworld.Proxy
	// services by name: their container, host and the docker run arguments
	// that make it again.
	services  map[string]*chaosService
	crashFile string
	instances []*opsroom
	docker    *dockerEvents
	db        *sql.DB // opsroom's database, where the lease is read
	// decks of the random schedule: what is left of the round
	kindDeck, commandDeck []string
	touched               []string // the host each fault of the random schedule touched

	mu       sync.Mutex
	faults   []fault
	commands []sentCommand
	hsDown   bool
}

// chaosLayout is the soak's services, by host.
var chaosLayout = map[string][]string{"a": {"echo", "web1", "web2"}, "b": {"web3", "web4", "loop"}, "c": {"web5", "web6"}}

type chaosService struct {
	name, host, container string
	env                   map[string]string
	args                  []string
}

func newChaos(t *testing.T, rng *rand.Rand) *chaos {
	ownHomeserver(t) // one of its faults stops the homeserver
	w := watchWorld(t)
	w.watch["group_window"] = "0s" // an alert each: they are counted
	w.watch["flap_changes"] = 1000 // every change reported: the soak changes services more often than people do
	if !strings.HasPrefix(w.database, "postgres://") {
		w.database = testworld.PostgresDatabase(t)
	}
	w.top = map[string]any{"ha": map[string]any{"lease": testLease.String()}}
	c := &chaos{t: t, rng: rng, w: w, services: map[string]*chaosService{}}

	tp := testworld.StartToxiproxy(t)
	c.hsProxy = tp.Proxy(t, "homeserver", strings.TrimPrefix(w.hs.URL, "http://"))
	w.matrix = map[string]any{"homeserver": "http://" + c.hsProxy.Addr}
	hosts := map[string]host{}
	for i, name := range []string{"a", "b", "c"} {
		s := w.sshd
		if i > 0 {
			s = testworld.StartSSHD(t)
		}
		h := &chaosHost{name: name, sshd: s, proxy: tp.Proxy(t, "ssh-"+name, s.Addr)}
		c.hosts = append(c.hosts, h)
		cfg := hostFor(s, s.KnownHostsFor(t, h.proxy.Addr))
		cfg["address"] = h.proxy.Addr
		cfg["connect_timeout"], cfg["command_timeout"] = "5s", "10s"
		hosts[name] = cfg
	}

	c.crashFile = filepath.Join(t.TempDir(), "crash")
	services := map[string]service{}
	for hostName, names := range chaosLayout {
		for _, name := range names {
			s := &chaosService{name: name, host: hostName, container: testworld.UniqueName(t, name),
				args: []string{"--no-healthcheck"}}
			if name == "loop" {
				// A crash loop the soak starts by making the file and ends by removing it.
				s.env = map[string]string{"CRASH_FILE": "/state/crash"}
				s.args = append(s.args, "--restart", "always", "-v", filepath.Dir(c.crashFile)+":/state")
			}
			testworld.RunContainer(t, s.container, s.env, s.args...)
			c.services[name] = s
			services[name] = service{"host": hostName, "kind": "container", "container": s.container}
		}
	}
	c.docker = watchDocker(t)
	c.instances = append(c.instances, w.startOpsroom(t, hosts, services))
	w.waitWatching(t, true)
	c.instances = append(c.instances, w.standingBy(t))
	return c
}

// runFixed plays a schedule, gap after each fault's end.
func (c *chaos) runFixed(schedule []step, gap time.Duration) {
	for _, s := range schedule {
		c.inject(s)
		c.command(s.after)
		time.Sleep(gap)
	}
}

// runRandom injects a fault every gapMin-gapMax (start to start, and at
// least ciGap after the fault's end) until d has passed.
func (c *chaos) runRandom(d, gapMin, gapMax time.Duration) {
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		start := time.Now()
		s := c.randomStep()
		c.inject(s)
		c.command(s.after)
		gap := gapMin + time.Duration(c.rng.Int64N(int64(gapMax-gapMin)+1))
		time.Sleep(max(time.Until(start.Add(gap)), ciGap))
	}
}

// randomStep is the random schedule's next fault: its kind from the round's
// deck, its target, hold and commands at random. It touches no host either
// of the two faults before it touched: opsroom has seen a host recover (a
// host fault's recovery waits for a probe) before the next fault there, or
// two episodes would be one to it.
func (c *chaos) randomStep() step {
	if len(c.kindDeck) == 0 {
		for _, k := range faultKinds {
			c.kindDeck = append(c.kindDeck, k.name)
		}
		c.rng.Shuffle(len(c.kindDeck), func(i, j int) { c.kindDeck[i], c.kindDeck[j] = c.kindDeck[j], c.kindDeck[i] })
	}
	resting := map[string]bool{}
	for _, h := range c.touched[max(0, len(c.touched)-2):] {
		resting[h] = true
	}
	var hosts, webs []string
	for _, h := range c.hosts {
		if !resting[h.name] {
			hosts = append(hosts, h.name)
		}
	}
	for _, w := range c.webs() {
		if !resting[c.services[w].host] {
			webs = append(webs, w)
		}
	}
	// The first kind of the deck that has a target now: the crash loop's
	// service is on one host only.
	i := slices.IndexFunc(c.kindDeck, func(k string) bool { return k != "crash-loop" || !resting[c.services["loop"].host] })
	s := step{kind: c.kindDeck[i]}
	c.kindDeck = slices.Delete(c.kindDeck, i, i+1)
	switch s.kind {
	case "kill", "stop", "rm":
		s.target, s.hold = c.pick(webs...), c.hold(5*time.Second, 12*time.Second)
	case "crash-loop":
		s.target, s.hold = "loop", c.hold(10*time.Second, 20*time.Second)
	case "sshd-stop", "host-cut", "host-stall":
		s.target, s.hold = c.pick(hosts...), c.hold(25*time.Second, 35*time.Second)
	case "homeserver-stall", "homeserver-stop":
		s.victim, s.hold = c.pick(webs...), c.hold(5*time.Second, 15*time.Second)
	case "kill-9-active", "sigstop-active":
		s.victim, s.hold, s.during = c.pick(webs...), c.hold(3*time.Second, 8*time.Second), c.randomCommand()
	}
	s.after = c.randomCommand()
	h := s.target
	if svc, ok := c.services[cmp.Or(s.victim, s.target)]; ok {
		h = svc.host
	}
	c.touched = append(c.touched, h)
	return s
}

// randomCommand is a command from the round's deck: each of the soak's
// commands once a round, in a random order.
func (c *chaos) randomCommand() string {
	if len(c.commandDeck) == 0 {
		c.commandDeck = slices.Sorted(maps.Keys(soakCommands))
		c.rng.Shuffle(len(c.commandDeck), func(i, j int) { c.commandDeck[i], c.commandDeck[j] = c.commandDeck[j], c.commandDeck[i] })
	}
	text := c.commandDeck[0]
	c.commandDeck = c.commandDeck[1:]
	return text
}

// hold is how long a fault lasts: long enough for the watcher's rules to see it.
func (c *chaos) hold(lo, hi time.Duration) time.Duration {
	return lo + time.Duration(c.rng.Int64N(int64(hi-lo)+1))
}

func (c *chaos) pick(names ...string) string { return names[c.rng.IntN(len(names))] }

func (c *chaos) webs() []string {
	var out []string
	for name := range c.services {
		if strings.HasPrefix(name, "web") {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

func (c *chaos) record(f fault) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.faults = append(c.faults, f)
	what := f.target
	if f.victim != "" && f.victim != f.target {
		what += ", and " + f.victim + " killed during it"
	}
	c.t.Logf("fault %d: %s %s (%s)", len(c.faults), f.kind, what, f.to.Sub(f.from).Round(100*time.Millisecond))
}

func (c *chaos) inject(s step) {
	t := c.t
	f := fault{kind: s.kind, target: s.target, victim: s.victim, from: time.Now()}
	switch s.kind {
	case "kill", "stop", "rm":
		svc := c.services[s.target]
		f.victim = svc.name
		switch s.kind {
		case "kill":
			testworld.Docker(t, "kill", svc.container)
		case "stop":
			testworld.Docker(t, "stop", "-t", "1", svc.container)
		case "rm":
			testworld.Docker(t, "rm", "-f", svc.container)
		}
		time.Sleep(s.hold)
		c.bringBack(svc)
	case "crash-loop":
		f.victim = s.target
		if err := os.WriteFile(c.crashFile, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		time.Sleep(s.hold)
		if err := os.Remove(c.crashFile); err != nil {
			t.Fatal(err)
		}
		// A run that saw the file just before it went still crashes: the
		// loop is over once a run outlived the crash file's look (200 ms).
		time.Sleep(time.Second)
		c.waitRunning(c.services[s.target])
	case "sshd-stop", "host-cut", "host-stall":
		h := c.host(s.target)
		// Each host fault as its breaking and its mending.
		fix := map[string][2]func(){
			"sshd-stop":  {func() { h.sshd.Stop(t) }, func() { h.sshd.Start(t) }},
			"host-cut":   {func() { h.proxy.SetEnabled(t, false) }, func() { h.proxy.SetEnabled(t, true) }},
			"host-stall": {func() { h.proxy.Toxic(t, "stall", "timeout", map[string]any{"timeout": 0}) }, func() { h.proxy.RemoveToxic(t, "stall") }},
		}[s.kind]
		fix[0]()
		time.Sleep(s.hold)
		fix[1]()
	case "homeserver-stall", "homeserver-stop":
		// A service dies and comes back while opsroom cannot reach the
		// room: its alert and its recovery wait in the delivery queue.
		if s.kind == "homeserver-stall" {
			f.target = "homeserver link"
			c.hsProxy.Toxic(t, "stall", "timeout", map[string]any{"timeout": 0})
		} else {
			f.target = "homeserver"
			c.setHSDown(true)
			c.w.hs.Stop(t)
		}
		victim := c.services[s.victim]
		testworld.Docker(t, "kill", victim.container)
		time.Sleep(s.hold / 2)
		c.bringBack(victim)
		time.Sleep(s.hold / 2)
		if s.kind == "homeserver-stall" {
			c.hsProxy.RemoveToxic(t, "stall")
		} else {
			c.w.hs.Start(t)
			c.setHSDown(false)
		}
	case "kill-9-active", "sigstop-active":
		// Every command before it answered first: a command cut off by the
		// kill is answered "cut off", which is the HA tests' subject.
		c.waitAnswered()
		f.from = time.Now()
		active, holder := c.active()
		f.target = holder
		// A service dies during the takeover, and a command is sent then.
		victim := c.services[s.victim]
		if s.kind == "kill-9-active" {
			if err := active.cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			<-active.exited
		} else if err := active.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		testworld.Docker(t, "kill", victim.container)
		c.command(s.during)
		f.takeover = c.waitTakeover(holder)
		time.Sleep(s.hold)
		c.bringBack(victim)
		if s.kind == "kill-9-active" {
			// The service manager starts it again: the new standby.
			c.instances = slices.DeleteFunc(c.instances, func(o *opsroom) bool { return o == active })
			c.instances = append(c.instances, c.w.standingBy(t))
		} else if err := active.cmd.Process.Signal(syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
	default:
		t.Fatalf("a schedule names the fault kind %q, which the soak cannot make", s.kind)
	}
	f.to = time.Now()
	c.record(f)
}

func (c *chaos) host(name string) *chaosHost {
	for _, h := range c.hosts {
		if h.name == name {
			return h
		}
	}
	c.t.Fatalf("a schedule names the host %q; the soak's hosts are a, b and c", name)
	return nil
}

func (c *chaos) setHSDown(down bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.hsDown = down
}

// bringBack starts a service the soak stopped, or runs it again if removed.
func (c *chaos) bringBack(s *chaosService) {
	if strings.Contains(testworld.Docker(c.t, "ps", "-a", "--filter", "name=^"+s.container+"$", "--format", "{{.Names}}"), s.container) {
		testworld.Docker(c.t, "start", s.container)
	} else {
		testworld.RunContainer(c.t, s.container, s.env, s.args...)
	}
}

func (c *chaos) waitRunning(s *chaosService) {
	eventually(c.t, s.name+" running again", func() bool {
		return testworld.Inspect(c.t, s.container, "{{.State.Status}}") == "running"
	})
}

// restoreAll leaves every service running after the last fault.
func (c *chaos) restoreAll() {
	for _, s := range c.services {
		c.waitRunning(s)
	}
}

var holderPID = regexp.MustCompile(`^opsroom pid (\d+) `)

// active is the instance holding the lease, as the database says.
func (c *chaos) active() (*opsroom, string) {
	holder := c.holder()
	m := holderPID.FindStringSubmatch(holder)
	for _, o := range c.instances {
		if m != nil && strconv.Itoa(o.cmd.Process.Pid) == m[1] {
			return o, holder
		}
	}
	c.t.Fatalf("the lease holder %q is none of the soak's instances", holder)
	return nil, ""
}

func (c *chaos) holder() string {
	if c.db == nil {
		c.db = openDatabase(c.t, c.w.database)
		c.t.Cleanup(func() { _ = c.db.Close() })
	}
	var holder string
	if err := c.db.QueryRow(`SELECT holder FROM ha_lease WHERE id = 1`).Scan(&holder); err != nil {
		c.t.Fatalf("reading the lease: %v", err)
	}
	return holder
}

// waitTakeover waits until another instance than old holds the lease.
func (c *chaos) waitTakeover(old string) time.Duration {
	start := time.Now()
	eventually(c.t, "a takeover from "+old, func() bool { return c.holder() != old })
	return time.Since(start)
}

// command sends a command, unless the homeserver is down: a status, or a
// restart of echo, which only commands touch (its starts count the runs).
func (c *chaos) command(text string) {
	c.mu.Lock()
	down := c.hsDown
	c.mu.Unlock()
	if down || text == "" {
		return
	}
	resp, err := c.w.alice.SendText(c.t.Context(), c.w.room, text)
	if err != nil {
		c.t.Logf("not sent (%v): %s", err, text)
		return
	}
	c.mu.Lock()
	c.commands = append(c.commands, sentCommand{text: text, id: resp.EventID, at: time.Now()})
	c.mu.Unlock()
}

// readRoom reads the bot's messages once: its alerts (the messages that
// answer no one; not the board) and its replies, by the event they answer.
func (c *chaos) readRoom() (alerts []roomAlert, replies map[id.EventID][]string) {
	replies = map[id.EventID][]string{}
	for _, evt := range c.w.botMessages(c.t) {
		msg := evt.Content.AsMessage()
		switch {
		case msg.RelatesTo == nil:
			if evt.Content.Raw["org.opsroom.board"] != true {
				alerts = append(alerts, roomAlert{body: msg.Body, at: time.UnixMilli(evt.Timestamp)})
			}
		case msg.RelatesTo.GetReplaceID() == "" && msg.RelatesTo.GetReplyTo() != "":
			to := msg.RelatesTo.GetReplyTo()
			replies[to] = append(replies[to], msg.Body)
		}
	}
	return alerts, replies
}

// waitAnswered waits until every command sent has a reply (at most the
// reply timeout: the checker reports one that has none).
func (c *chaos) waitAnswered() {
	deadline := time.Now().Add(replyTimeout)
	for time.Now().Before(deadline) {
		_, replies := c.readRoom()
		c.mu.Lock()
		all := !slices.ContainsFunc(c.commands, func(cmd sentCommand) bool { return len(replies[cmd.id]) == 0 })
		c.mu.Unlock()
		if all {
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// timeline is the run as the checker reads it.
func (c *chaos) timeline() chaosTimeline {
	alerts, replies := c.readRoom()
	c.mu.Lock()
	defer c.mu.Unlock()
	tl := chaosTimeline{faults: slices.Clone(c.faults), docker: map[string][]dockerEvent{}, alerts: alerts}
	for name, s := range c.services {
		tl.services = append(tl.services, name)
		tl.docker[name] = c.docker.of(s.container)
	}
	sort.Strings(tl.services)
	for _, cmd := range c.commands {
		cmd.replies = replies[cmd.id]
		tl.commands = append(tl.commands, cmd)
	}
	return tl
}

// settle waits for the last alerts and replies: until the checker misses
// none, or a minute has passed; then some probe intervals more, for a
// duplicate to come, and checks the run.
func (c *chaos) settle() *chaosReport {
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(2 * time.Second) {
		if rep := checkChaos(c.timeline()); rep.missed+rep.unanswered == 0 {
			break
		}
	}
	time.Sleep(6 * probeInterval)
	c.docker.stop()
	return checkChaos(c.timeline())
}

// alertLog is the room's alerts, one a line with its time, for a failed run.
func (c *chaos) alertLog() string {
	alerts, _ := c.readRoom()
	var b strings.Builder
	for _, a := range alerts {
		first, _, _ := strings.Cut(a.body, "\n")
		fmt.Fprintf(&b, "%s %s\n", a.at.Format("15:04:05.000"), first)
	}
	return b.String()
}

// dockerEvents follows the Docker engine's own event stream: the ground
// truth of what happened to the soak's containers.
type dockerEvents struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	events []dockerEvent
	done   chan struct{}
}

type dockerEvent struct {
	Action string `json:"Action"`
	Actor  struct {
		Attributes map[string]string `json:"Attributes"`
	} `json:"Actor"`
	TimeNano int64 `json:"timeNano"`
}

func (e dockerEvent) name() string    { return e.Actor.Attributes["name"] }
func (e dockerEvent) time() time.Time { return time.Unix(0, e.TimeNano) }

func watchDocker(t *testing.T) *dockerEvents {
	d := &dockerEvents{cmd: exec.Command("docker", "events", "--format", "{{json .}}",
		"--filter", "type=container", "--filter", "label=opsroom-test=1"), done: make(chan struct{})}
	out, err := d.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(d.done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var e dockerEvent
			if json.Unmarshal(sc.Bytes(), &e) == nil {
				d.mu.Lock()
				d.events = append(d.events, e)
				d.mu.Unlock()
			}
		}
	}()
	t.Cleanup(d.stop)
	return d
}

func (d *dockerEvents) stop() {
	if d.cmd.ProcessState == nil {
		_ = d.cmd.Process.Kill()
		_ = d.cmd.Wait()
	}
}

func (d *dockerEvents) of(container string) []dockerEvent {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []dockerEvent
	for _, e := range d.events {
		if e.name() == container {
			out = append(out, e)
		}
	}
	return out
}
