package e2e

import (
	"bufio"
	"database/sql"
	"encoding/json"
	"fmt"
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
// eight services while faults come at random (seeded, logged) and a client
// sends commands; a checker then compares the room with the ground truth:
// the Docker engine's own event stream, what the soak did to hosts, and the
// commands it sent. OPSROOM_CHAOS is how long it injects faults (default 3m;
// test/chaos.sh runs it longer), OPSROOM_CHAOS_SEED its seed (default the
// clock), OPSROOM_CHAOS_GAP the time between two faults' starts (default
// 10s-60s), OPSROOM_CHAOS_REPORT a file for the counts table.
func TestChaosSoak(t *testing.T) {
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
	t.Logf("chaos soak: %s of faults every %s-%s, seed %d (OPSROOM_CHAOS_SEED=%d repeats the choices)", duration, gapMin, gapMax, seed, seed)

	c := newChaos(t, rand.New(rand.NewPCG(seed, seed^0x6f707372)))
	c.run(duration, gapMin, gapMax)
	c.restoreAll()
	time.Sleep(20 * time.Second) // the last recoveries, and any duplicate, arrive
	c.docker.stop()
	rep := c.check()
	table := rep.table(duration, seed)
	t.Logf("\n%s", table)
	if path := os.Getenv("OPSROOM_CHAOS_REPORT"); path != "" {
		if err := os.WriteFile(path, []byte(table), 0o644); err != nil {
			t.Error(err)
		}
	}
	for _, p := range rep.problems {
		t.Error(p)
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

	mu       sync.Mutex
	faults   []fault
	commands []sentCommand
	hsDown   bool
}

type chaosService struct {
	name, host, container string
	env                   map[string]string
	args                  []string
}

// fault is one fault the soak injected: what, on what, and (for a host) when
// it was broken and back, the ground truth of host alerts.
type fault struct {
	kind, target string
	from, to     time.Time
	takeover     time.Duration // for a fault of the active instance: until another held the lease
}

type sentCommand struct {
	text string
	id   id.EventID
	at   time.Time
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
	layout := map[string][]string{"a": {"echo", "web1", "web2"}, "b": {"web3", "web4", "loop"}, "c": {"web5", "web6"}}
	services := map[string]service{}
	for hostName, names := range layout {
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

// run injects a fault every gapMin-gapMax (start to start) until d has passed.
func (c *chaos) run(d, gapMin, gapMax time.Duration) {
	end := time.Now().Add(d)
	kinds := []string{"kill", "stop", "rm", "crash-loop", "sshd-stop", "host-cut", "host-stall",
		"homeserver-stall", "homeserver-stop", "kill-9-active", "sigstop-active"}
	for time.Now().Before(end) {
		start := time.Now()
		kind := kinds[c.rng.IntN(len(kinds))]
		c.inject(kind)
		c.command()
		gap := gapMin + time.Duration(c.rng.Int64N(int64(gapMax-gapMin)+1))
		time.Sleep(time.Until(start.Add(gap)))
	}
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
	c.t.Logf("fault %d: %s %s (%s)", len(c.faults), f.kind, f.target, f.to.Sub(f.from).Round(100*time.Millisecond))
}

func (c *chaos) inject(kind string) {
	t := c.t
	f := fault{kind: kind, from: time.Now()}
	switch kind {
	case "kill", "stop", "rm":
		s := c.services[c.pick(c.webs()...)]
		f.target = s.name
		switch kind {
		case "kill":
			testworld.Docker(t, "kill", s.container)
		case "stop":
			testworld.Docker(t, "stop", "-t", "1", s.container)
		case "rm":
			testworld.Docker(t, "rm", "-f", s.container)
		}
		time.Sleep(c.hold(5*time.Second, 12*time.Second))
		c.bringBack(s)
	case "crash-loop":
		f.target = "loop"
		if err := os.WriteFile(c.crashFile, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		time.Sleep(c.hold(10*time.Second, 20*time.Second))
		if err := os.Remove(c.crashFile); err != nil {
			t.Fatal(err)
		}
		c.waitRunning(c.services["loop"])
	case "sshd-stop", "host-cut", "host-stall":
		h := c.hosts[c.rng.IntN(len(c.hosts))]
		f.target = h.name
		// Each host fault as its breaking and its mending.
		fix := map[string][2]func(){
			"sshd-stop":  {func() { h.sshd.Stop(t) }, func() { h.sshd.Start(t) }},
			"host-cut":   {func() { h.proxy.SetEnabled(t, false) }, func() { h.proxy.SetEnabled(t, true) }},
			"host-stall": {func() { h.proxy.Toxic(t, "stall", "timeout", map[string]any{"timeout": 0}) }, func() { h.proxy.RemoveToxic(t, "stall") }},
		}[kind]
		fix[0]()
		time.Sleep(c.hold(25*time.Second, 35*time.Second))
		fix[1]()
	case "homeserver-stall":
		f.target = "homeserver link"
		c.hsProxy.Toxic(t, "stall", "timeout", map[string]any{"timeout": 0})
		time.Sleep(c.hold(5*time.Second, 15*time.Second))
		c.hsProxy.RemoveToxic(t, "stall")
	case "homeserver-stop":
		f.target = "homeserver"
		c.setHSDown(true)
		c.w.hs.Stop(t)
		time.Sleep(c.hold(5*time.Second, 15*time.Second))
		c.w.hs.Start(t)
		c.setHSDown(false)
	case "kill-9-active", "sigstop-active":
		active, holder := c.active()
		f.target = holder
		// A service dies during the takeover, and a command is sent then.
		s := c.services[c.pick(c.webs()...)]
		if kind == "kill-9-active" {
			if err := active.cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			<-active.exited
		} else if err := active.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		testworld.Docker(t, "kill", s.container)
		c.command()
		f.takeover = c.waitTakeover(holder)
		time.Sleep(c.hold(3*time.Second, 8*time.Second))
		c.bringBack(s)
		if kind == "kill-9-active" {
			// The service manager starts it again: the new standby.
			c.instances = slices.DeleteFunc(c.instances, func(o *opsroom) bool { return o == active })
			c.instances = append(c.instances, c.w.standingBy(t))
		} else if err := active.cmd.Process.Signal(syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
		f.target += ", and " + s.name + " killed during the takeover"
	}
	f.to = time.Now()
	c.record(f)
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
func (c *chaos) command() {
	c.mu.Lock()
	down := c.hsDown
	c.mu.Unlock()
	if down {
		return
	}
	text := c.pick("!status", "!status web1", "!restart echo")
	resp, err := c.w.alice.SendText(c.t.Context(), c.w.room, text)
	if err != nil {
		c.t.Logf("not sent (%v): %s", err, text)
		return
	}
	c.mu.Lock()
	c.commands = append(c.commands, sentCommand{text: text, id: resp.EventID, at: time.Now()})
	c.mu.Unlock()
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

// episode is a time a subject was broken, from the ground truth.
type episode struct {
	subject  string
	from, to time.Time
}

// Two downs of a service closer than this are one episode: the watcher
// takes a service back as recovered only once it stayed up (a crash loop's
// short runs between its restarts are no recovery).
const episodeJoin = 5 * time.Second

// serviceEpisodes reads a container's episodes from its Docker events: down
// at a die or a destroy, up at a start.
func serviceEpisodes(subject string, events []dockerEvent) []episode {
	var out []episode
	var down time.Time
	for _, e := range events {
		switch e.Action {
		case "die", "destroy":
			if down.IsZero() {
				down = e.time()
			}
		case "start":
			if down.IsZero() {
				continue
			}
			if n := len(out); n > 0 && down.Sub(out[n-1].to) < episodeJoin {
				out[n-1].to = e.time()
			} else {
				out = append(out, episode{subject: subject, from: down, to: e.time()})
			}
			down = time.Time{}
		}
	}
	return out
}

type chaosReport struct {
	faults                          map[string]int
	expected, once, missed, doubled int
	sent, answered, unanswered      int
	answeredTwice, ranTwice         int
	takeovers                       []time.Duration
	problems                        []string
}

var (
	serviceSubject = regexp.MustCompile(`\*\*(\w+)\*\* on `)
	hostSubject    = regexp.MustCompile("host `(\\w+)`|on `(\\w+)` does not answer")
)

// roomAlert is one alert in the room: about what, a problem or a recovery.
type roomAlert struct {
	subject, kind, body string
	at                  time.Time
	recovery            bool
}

func classify(body string, at time.Time) (roomAlert, bool) {
	a := roomAlert{body: body, at: at, recovery: strings.HasPrefix(body, "✅")}
	first, _, _ := strings.Cut(body, "\n")
	if m := hostSubject.FindStringSubmatch(first); m != nil && !serviceSubject.MatchString(first) {
		a.subject = "host " + m[1] + m[2]
	} else if m := serviceSubject.FindStringSubmatch(first); m != nil {
		a.subject = m[1]
	}
	for _, k := range []string{"exited with code", "not deployed", "crash loop", "unhealthy", "unreachable", "does not answer", "flapping"} {
		if strings.Contains(first, k) {
			a.kind = k
		}
	}
	return a, a.subject != ""
}

func (c *chaos) check() *chaosReport {
	t := c.t
	rep := &chaosReport{faults: map[string]int{}}
	// The ground truth: every service's episodes from Docker, every host's from the soak's own record.
	var episodes []episode
	for name, s := range c.services {
		if name == "echo" {
			continue // only commands touch it, and what a command does is its reply, not an alert
		}
		episodes = append(episodes, serviceEpisodes(name, c.docker.of(s.container))...)
	}
	for _, f := range c.faults {
		rep.faults[f.kind]++
		if f.takeover > 0 {
			rep.takeovers = append(rep.takeovers, f.takeover)
		}
		if strings.HasPrefix(f.kind, "sshd") || strings.HasPrefix(f.kind, "host") {
			episodes = append(episodes, episode{subject: "host " + f.target, from: f.from, to: f.to})
		}
	}

	// The room's alerts, by subject.
	alerts := map[string][]roomAlert{}
	for _, evt := range c.w.alertEvents(t) {
		body := evt.Content.AsMessage().Body
		a, ok := classify(body, time.UnixMilli(evt.Timestamp))
		if !ok {
			continue // reminders, maintenance, digests: none in the soak
		}
		alerts[a.subject] = append(alerts[a.subject], a)
	}
	bySubject := map[string][]episode{}
	for _, e := range episodes {
		bySubject[e.subject] = append(bySubject[e.subject], e)
	}
	for subject, list := range bySubject {
		sort.Slice(list, func(i, j int) bool { return list[i].from.Before(list[j].from) })
		bySubject[subject] = list
	}
	for subject, list := range alerts {
		if len(bySubject[subject]) == 0 {
			for _, a := range list {
				rep.doubled++
				rep.problems = append(rep.problems, fmt.Sprintf("%s: an alert with no change behind it: %q", subject, a.body))
			}
		}
	}
	for subject, list := range bySubject {
		// The room's alerts of a subject, in order, are its episodes one
		// after another: problem alerts (one of each kind at most), then one
		// recovery. Matched by order, not by time: a homeserver away holds
		// deliveries back past the next episode's start.
		var segments [][]roomAlert
		var current []roomAlert
		for _, a := range alerts[subject] {
			current = append(current, a)
			if a.recovery {
				segments = append(segments, current)
				current = nil
			}
		}
		if current != nil {
			segments = append(segments, current)
		}
		for i, e := range list {
			rep.expected++
			span := fmt.Sprintf("%s down %s-%s", subject, e.from.Format("15:04:05.0"), e.to.Format("15:04:05.0"))
			if i >= len(segments) {
				rep.missed++
				rep.problems = append(rep.problems, fmt.Sprintf("missed: %s: no alert", span))
				continue
			}
			var problems, recoveries int
			kinds := map[string]int{}
			repeated := false
			var bodies []string
			for _, a := range segments[i] {
				bodies = append(bodies, a.body)
				if a.recovery {
					recoveries++
					continue
				}
				problems++
				kinds[a.kind]++
				repeated = repeated || kinds[a.kind] > 1
			}
			switch {
			case problems == 0:
				// A recovery with no problem before it: a change reported twice.
				rep.doubled++
				rep.problems = append(rep.problems, fmt.Sprintf("doubled: %s: a recovery alone: %q", span, bodies))
			case recoveries == 0:
				rep.missed++
				rep.problems = append(rep.problems, fmt.Sprintf("missed: %s: no recovery after %q", span, bodies))
			case repeated:
				rep.doubled++
				rep.problems = append(rep.problems, fmt.Sprintf("doubled: %s: %q", span, bodies))
			default:
				rep.once++
			}
		}
		for _, extra := range segments[min(len(list), len(segments)):] {
			rep.doubled++
			var bodies []string
			for _, a := range extra {
				bodies = append(bodies, a.body)
			}
			rep.problems = append(rep.problems, fmt.Sprintf("doubled: %s: alerts beyond its %d changes: %q", subject, len(list), bodies))
		}
	}

	// Commands: each answered once; echo started at most once per restart sent.
	restarts := 0
	for _, cmd := range c.commands {
		rep.sent++
		if cmd.text == "!restart echo" {
			restarts++
		}
		replies := c.w.replies(t, cmd.id)
		switch {
		case len(replies) == 0:
			rep.unanswered++
			rep.problems = append(rep.problems, fmt.Sprintf("unanswered: %q sent at %s", cmd.text, cmd.at.Format("15:04:05.0")))
		case len(replies) > 1:
			rep.answeredTwice++
			var bodies []string
			for _, r := range replies {
				bodies = append(bodies, r.Content.AsMessage().Body)
			}
			rep.problems = append(rep.problems, fmt.Sprintf("answered %d times: %q sent at %s: %q", len(replies), cmd.text, cmd.at.Format("15:04:05.0"), bodies))
		default:
			rep.answered++
		}
	}
	starts := 0
	for _, e := range c.docker.of(c.services["echo"].container) {
		if e.Action == "start" {
			starts++
		}
	}
	if starts > restarts {
		rep.ranTwice = starts - restarts
		rep.problems = append(rep.problems, fmt.Sprintf("echo started %d times for %d !restart echo sent", starts, restarts))
	}
	return rep
}

func (r *chaosReport) table(d time.Duration, seed uint64) string {
	var b strings.Builder
	fmt.Fprintf(&b, "chaos soak of %s, seed %d, %s\n\n", d, seed, time.Now().UTC().Format("2006-01-02 15:04 MST"))
	kinds := make([]string, 0, len(r.faults))
	total := 0
	for k, n := range r.faults {
		kinds = append(kinds, fmt.Sprintf("%s %d", k, n))
		total += n
	}
	sort.Strings(kinds)
	fmt.Fprintf(&b, "| faults injected | %d (%s) |\n|---|---|\n", total, strings.Join(kinds, ", "))
	fmt.Fprintf(&b, "| transitions expected | %d |\n| alerted once (and recovered once) | %d |\n| missed | %d |\n| doubled | %d |\n",
		r.expected, r.once, r.missed, r.doubled)
	fmt.Fprintf(&b, "| commands sent | %d |\n| answered once | %d |\n| unanswered | %d |\n| answered twice | %d |\n| run twice | %d |\n",
		r.sent, r.answered, r.unanswered, r.answeredTwice, r.ranTwice)
	var times []string
	for _, d := range r.takeovers {
		times = append(times, d.Round(100*time.Millisecond).String())
	}
	fmt.Fprintf(&b, "| failovers (takeover times) | %d (%s) |\n", len(r.takeovers), strings.Join(times, ", "))
	return b.String()
}
