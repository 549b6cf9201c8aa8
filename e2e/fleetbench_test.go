package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"gopkg.in/yaml.v3"

	"maunium.net/go/mautrix/event"

	"github.com/opsroom/opsroom/internal/testworld"
	"github.com/opsroom/opsroom/ops"
)

// fleetShape is a benchmark's fleet: hosts, each with perHost services.
type fleetShape struct{ hosts, perHost int }

// fleetShapes reads OPSROOM_FLEET (test/bench.sh): sizes of the fleet
// benchmark, "200" (20 hosts × 10) and "1000" (50 hosts × 20) by default, or
// any HOSTSxSERVICES such as "3x2" for a quick try.
func fleetShapes(b *testing.B) []fleetShape {
	spec := os.Getenv("OPSROOM_FLEET")
	if spec == "" {
		spec = "200 1000"
	}
	var out []fleetShape
	for _, f := range strings.Fields(spec) {
		switch f {
		case "200":
			out = append(out, fleetShape{20, 10})
			continue
		case "1000":
			out = append(out, fleetShape{50, 20})
			continue
		}
		h, p, ok := strings.Cut(f, "x")
		hosts, err1 := strconv.Atoi(h)
		perHost, err2 := strconv.Atoi(p)
		if !ok || err1 != nil || err2 != nil || hosts < 1 || perHost < 1 {
			b.Fatalf("OPSROOM_FLEET=%q: want sizes such as \"200 1000\" or HOSTSxSERVICES such as \"3x2\"", spec)
		}
		out = append(out, fleetShape{hosts, perHost})
	}
	return out
}

// fleetLatency is each way's delay between opsroom and every host.
const fleetLatency = 25 * time.Millisecond

// fleetRounds is how many times each timed command is asked; the median is reported.
const fleetRounds = 7

// BenchmarkFleet measures opsroom over a fleet: hosts behind Toxiproxy
// (fleetLatency each way) in front of the world's one sshd, the same real
// containers on each (perHost of them, FROM scratch), one config of every
// service, watched at the default interval with the event streams on. Run it
// with -benchtime 1x (test/bench.sh); each size is one whole run, and reports
// side by side:
//
//   - status-all-ms: `!status all`, from the command to the reply (the
//     homeserver's timestamps), the median of fleetRounds; floor-ms: the
//     transport floor measured in between, each host's batched inspect run at
//     once on every host over ops' own open connections (the same command
//     line opsroom sends, run_as included); ratio: the one over the other;
//     reply-bytes: the reply's content as the homeserver sent it (the
//     homeserver refuses an event over 64 KiB);
//   - one-service-ms: `!status SERVICE` likewise; one-exec-ms: that one
//     service's inspect over an open connection;
//   - kill-alert-median-ms and kill-alert-max-ms: `docker kill` of a container
//     only one host's service runs in, to its alert read by a long-polling
//     /sync, over 10 kills;
//   - execs-per-host-cycle: the sessions sshd started (its LogLevel VERBOSE
//     lines) over the watcher's probes of a host (its metrics), while idle for
//     two intervals; 1 is the design;
//   - rss-MB (the most over those two intervals), cpu-percent-idle (of one
//     core, over them), goroutines (at their end): opsroom's, idle-watching;
//   - first-probe-ms: from starting opsroom to every host probed once (the
//     connections dialled, beside the start-up preflight), ready-ms to it
//     listening for commands; floor-cold-ms: the floor's first round, which
//     dials every host.
//
// OPSROOM_FLEET_LOG names a directory for opsroom's log, and with
// OPSROOM_TEST_PPROF=1 (a pprof build of opsroom) its CPU profile over the
// timed commands and its heap profile at the end.
func BenchmarkFleet(b *testing.B) {
	for _, shape := range fleetShapes(b) {
		b.Run(strconv.Itoa(shape.hosts*shape.perHost), func(b *testing.B) {
			if b.N > 1 {
				b.Skip("one run is the measurement: use -benchtime 1x")
			}
			benchFleet(b, shape)
		})
	}
}

// hostsPerSSHD is how many of the fleet's hosts one test sshd stands for.
const hostsPerSSHD = 5

func benchFleet(b *testing.B, shape fleetShape) {
	load := loadAverage()
	w := newWorld(b)
	// The "hosts" are sshds with OpenSSH's default limits, as users' hosts
	// are: each stands for a few hosts, whose dials at start stay under its
	// default MaxStartups (10 still authenticating).
	sshds := []*testworld.SSHD{w.sshd}
	for len(sshds)*hostsPerSSHD < shape.hosts {
		sshds = append(sshds, testworld.StartSSHD(b))
	}
	// flap_changes: each kill and start is its own alert, never held back as flapping.
	w.watch = map[string]any{"flap_changes": 1000}
	listen := w.withHTTP(b)
	tp := testworld.StartToxiproxy(b)
	var containers []*testworld.Container
	for i := 1; i <= shape.perHost; i++ {
		// No health check: many at once on a busy machine miss its 1 s timeout.
		containers = append(containers, testworld.RunContainer(b, testworld.UniqueName(b, fmt.Sprintf("svc%d", i)), nil, "--no-healthcheck"))
	}
	// The victim of the kills runs only under h1's last service: one alert per kill.
	victim := testworld.RunContainer(b, testworld.UniqueName(b, "victim"), nil, "--no-healthcheck")
	hosts, services := map[string]host{}, map[string]service{}
	byHost := map[string][]string{} // containers, in order
	var hostNames []string
	for h := 1; h <= shape.hosts; h++ {
		name := fmt.Sprintf("h%d", h)
		hostNames = append(hostNames, name)
		sshd := sshds[(h-1)/hostsPerSSHD]
		p := tp.Proxy(b, name, sshd.Addr)
		p.Latency(b, fleetLatency)
		hosts[name] = hostFor(sshd, sshd.KnownHostsFor(b, p.Addr))
		hosts[name]["address"] = p.Addr
		for i, c := range containers {
			if h == 1 && i == len(containers)-1 {
				c = victim
			}
			services[fmt.Sprintf("%s-app%d", name, i+1)] = service{"host": name, "kind": "container", "container": c.Name}
			byHost[name] = append(byHost[name], c.Name)
		}
	}
	victimService := fmt.Sprintf("h1-app%d", shape.perHost)

	logDir := os.Getenv("OPSROOM_FLEET_LOG")
	var pprofAddr string
	if os.Getenv("OPSROOM_TEST_PPROF") != "" {
		if logDir == "" {
			b.Fatal("OPSROOM_TEST_PPROF: set OPSROOM_FLEET_LOG to the directory the profiles go to")
		}
		pprofAddr = fmt.Sprintf("127.0.0.1:%d", testworld.FreePort(b))
		b.Setenv("OPSROOM_PPROF", pprofAddr)
	}
	size := shape.hosts * shape.perHost
	w.writeConfig(b, hosts, services)
	testworld.GoBinary(b, "./cmd/opsroom") // built before the clock starts
	start := time.Now()
	o := w.launch(b)
	pid := o.cmd.Process.Pid
	firstProbe := waitMetrics(b, listen, 50*time.Millisecond, "every host probed once", func(m metricFamilies) bool {
		for _, h := range hostNames {
			if metricValue(m, "opsroom_probe_duration_seconds", map[string]string{"host": h}) < 1 {
				return false
			}
		}
		return true
	})
	firstProbeTook := firstProbe.Sub(start)
	select {
	case <-o.ready:
	case <-o.exited:
		b.Fatalf("opsroom exited before it was ready: %v", o.cmd.ProcessState)
	case <-time.After(replyTimeout):
		b.Fatalf("opsroom not ready after %s", replyTimeout)
	}
	readyTook := o.readyAt.Sub(start)
	waitMetrics(b, listen, 200*time.Millisecond, "every event stream connected", func(m metricFamilies) bool {
		for _, h := range hostNames {
			if metricValue(m, "opsroom_event_stream_connected", map[string]string{"host": h, "engine": "Docker"}) != 1 {
				return false
			}
		}
		return true
	})
	if errs := sumMetric(scrapeMetrics(b, listen), "opsroom_remote_exec_errors_total"); errs > 0 {
		b.Logf("note: %v remote execs failed before the measurements (see opsroom's log)", errs)
	}

	floor := newFloorFleet(b, hosts, services)
	room := &roomReader{cli: w.alice, w: w}
	room.since = room.next(b, "", time.Second, nil)
	// The floor's connections open, as opsroom's are: its first round dials every host.
	floorCold := floor.all(b, byHost)

	cpuProfile := make(chan error, 1)
	if pprofAddr != "" { // over the timed commands
		go func() {
			cpuProfile <- fetchProfile(pprofAddr, "profile?seconds=15", filepath.Join(logDir, fmt.Sprintf("cpu-%d.pprof", size)))
		}()
	}
	var statusAll, floorAll, oneService, oneExec []time.Duration
	var replyBytes int
	for range fleetRounds {
		took, reply := room.ask(b, "!status all")
		statusAll = append(statusAll, took)
		replyBytes = len(reply.Content.VeryRaw)
		if body := reply.Content.AsMessage().Body; !strings.Contains(body, fmt.Sprintf("%d running", size)) {
			b.Fatalf("!status all does not say all %d are running:\n%s", size, body)
		}
		floorAll = append(floorAll, floor.all(b, byHost))
	}
	one := hostNames[len(hostNames)-1]
	oneName := fmt.Sprintf("%s-app1", one)
	for range fleetRounds {
		took, reply := room.ask(b, "!status "+oneName)
		mustContain(b, "!status of one service", reply.Content.AsMessage().Body, "**running**")
		oneService = append(oneService, took)
		oneExec = append(oneExec, floor.one(b, one, byHost[one][0]))
	}
	floor.close()
	if pprofAddr != "" {
		if err := <-cpuProfile; err != nil {
			b.Fatal(err)
		}
	}

	const kills = 10
	var killed []time.Duration
	var killedAt []string // for reading opsroom's log (OPSROOM_FLEET_LOG)
	for range kills {
		t0 := time.Now()
		killedAt = append(killedAt, t0.Format("15:04:05.000"))
		testworld.Docker(b, "kill", victim.Name)
		room.waitFor(b, "exited with code")
		killed = append(killed, time.Since(t0))
		testworld.Docker(b, "start", victim.Name)
		room.waitFor(b, "recovered")
	}
	killTimes := slices.Clone(killed)

	// Idle: two intervals from just after a whole cycle of probes.
	interval := 30 * time.Second
	probes := func() float64 { return sumMetric(scrapeMetrics(b, listen), "opsroom_probe_duration_seconds") }
	before := probes()
	deadline := time.Now().Add(interval + replyTimeout)
	for probes() < before+float64(len(hostNames)) {
		if time.Now().After(deadline) {
			b.Fatalf("no whole cycle of probes within %s", interval+replyTimeout)
		}
		time.Sleep(500 * time.Millisecond)
	}
	time.Sleep(2 * time.Second) // the cycle's last probes end
	idleLoad := loadAverage()
	sessions := func() (n int) {
		for _, s := range sshds {
			n += s.Sessions()
		}
		return n
	}
	sessions0, probes0, cpu0, t0 := sessions(), probes(), procCPU(b, pid), time.Now()
	var rss []float64
	for time.Since(t0) < 2*interval {
		rss = append(rss, procRSSMB(b, pid))
		time.Sleep(5 * time.Second)
	}
	m := scrapeMetrics(b, listen)
	sessions1, probes1, cpu1, idle := sessions(), sumMetric(m, "opsroom_probe_duration_seconds"), procCPU(b, pid), time.Since(t0)
	rss = append(rss, procRSSMB(b, pid))
	anon, file := procStatusMB(b, pid, "RssAnon"), procStatusMB(b, pid, "RssFile")
	if probes1 == probes0 {
		b.Fatalf("no probe in %s of idle watching", idle)
	}

	median := func(ds []time.Duration) float64 {
		s := slices.Clone(ds)
		slices.Sort(s)
		return float64(s[len(s)/2].Microseconds()) / 1000
	}
	slices.Sort(killed)
	b.ReportMetric(median(statusAll), "status-all-ms")
	b.ReportMetric(median(floorAll), "floor-ms")
	b.ReportMetric(median(statusAll)/median(floorAll), "ratio")
	b.ReportMetric(float64(replyBytes), "reply-bytes")
	b.ReportMetric(median(oneService), "one-service-ms")
	b.ReportMetric(median(oneExec), "one-exec-ms")
	b.ReportMetric(median(killed), "kill-alert-median-ms")
	b.ReportMetric(float64(killed[len(killed)-1].Microseconds())/1000, "kill-alert-max-ms")
	b.ReportMetric(float64(sessions1-sessions0)/(probes1-probes0), "execs-per-host-cycle")
	b.ReportMetric(slices.Max(rss), "rss-MB")
	b.ReportMetric(anon, "rss-anon-MB")
	b.ReportMetric(file, "rss-file-MB")
	b.ReportMetric(metricValue(m, "go_memstats_heap_inuse_bytes", map[string]string{})/(1<<20), "heap-inuse-MB")
	b.ReportMetric(100*(cpu1-cpu0).Seconds()/idle.Seconds(), "cpu-percent-idle")
	b.ReportMetric(metricValue(m, "go_goroutines", map[string]string{}), "goroutines")
	b.ReportMetric(float64(firstProbeTook.Microseconds())/1000, "first-probe-ms")
	b.ReportMetric(float64(readyTook.Microseconds())/1000, "ready-ms")
	b.ReportMetric(float64(floorCold.Microseconds())/1000, "floor-cold-ms")
	b.ReportMetric(0, "ns/op") // the wall time of the whole run says nothing
	b.Logf("%d services on %d hosts (%s each way), victim %s; load average at start %s, while idle %s, at end %s",
		size, shape.hosts, fleetLatency, victimService, load, idleLoad, loadAverage())
	b.Logf("!status all ms: %s; floor ms: %s", millis(statusAll), millis(floorAll))
	b.Logf("!status %s ms: %s; one exec ms: %s", oneName, millis(oneService), millis(oneExec))
	b.Logf("kill → alert ms: %s (killed at %s)", millis(killTimes), strings.Join(killedAt, " "))
	b.Logf("idle %s: %d sessions for %v probes; rss MB %v", idle.Round(time.Second), sessions1-sessions0, probes1-probes0, rss)
	if pprofAddr != "" {
		for name, which := range map[string]string{"heap": "heap?gc=1", "goroutines": "goroutine?debug=1"} {
			if err := fetchProfile(pprofAddr, which, filepath.Join(logDir, fmt.Sprintf("%s-%d.pprof", name, size))); err != nil {
				b.Fatal(err)
			}
		}
	}
	if logDir != "" {
		path := filepath.Join(logDir, fmt.Sprintf("opsroom-%d.log", size))
		if err := os.WriteFile(path, []byte(o.log()), 0o644); err != nil {
			b.Fatal(err)
		}
		b.Logf("opsroom's log (and profiles, with OPSROOM_TEST_PPROF) in %s", logDir)
	}
}

// fetchProfile saves one of opsroom's Go profiles (a pprof build) into path.
func fetchProfile(addr, which, path string) error {
	resp, err := http.Get("http://" + addr + "/debug/pprof/" + which)
	if err != nil {
		return fmt.Errorf("opsroom's %s profile: %w", which, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("%s: %s", resp.Status, data)
	}
	if err != nil {
		return fmt.Errorf("opsroom's %s profile: %w", which, err)
	}
	return os.WriteFile(path, data, 0o644)
}

// ask sends a command and waits for its reply on the /sync it follows,
// returning the time between the two by the homeserver's timestamps.
func (r *roomReader) ask(t testing.TB, text string) (time.Duration, *event.Event) {
	t.Helper()
	sent := r.w.say(t, r.w.alice, text)
	var sentAt int64
	var reply *event.Event
	deadline := time.Now().Add(replyTimeout)
	for reply == nil {
		if time.Now().After(deadline) {
			t.Fatalf("no reply to %q within %s", text, replyTimeout)
		}
		r.since = r.next(t, r.since, 10*time.Second, func(evt *event.Event) {
			msg := evt.Content.AsMessage()
			switch {
			case evt.ID == sent:
				sentAt = evt.Timestamp
			case evt.Sender == r.w.botID && msg.RelatesTo.GetReplyTo() == sent && msg.RelatesTo.GetReplaceID() == "":
				reply = evt
			}
		})
	}
	if sentAt == 0 {
		evt, err := r.cli.GetEvent(context.Background(), r.w.room, sent)
		if err != nil {
			t.Fatalf("reading %q back: %v", text, err)
		}
		sentAt = evt.Timestamp
	}
	return time.Duration(reply.Timestamp-sentAt) * time.Millisecond, reply
}

// floorFleet is the transport floor: ops' own pooled connections to the
// same hosts, from the benchmark's process.
type floorFleet struct{ f *ops.Fleet }

func newFloorFleet(t testing.TB, hosts map[string]host, services map[string]service) *floorFleet {
	t.Helper()
	data, err := yaml.Marshal(map[string]any{"hosts": hosts, "services": services})
	if err != nil {
		t.Fatal(err)
	}
	var cfg ops.Config
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		t.Fatal(err)
	}
	if errs, _ := cfg.Validate(); len(errs) > 0 {
		t.Fatalf("the floor's fleet: %v", errs)
	}
	f, err := ops.NewFleet(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &floorFleet{f}
}

func (ff *floorFleet) close() { _ = ff.f.Close() }

// inspectCommand is the probe opsroom sends a host of containers (ops'
// inspectCommand with its inspectFormat).
func inspectCommand(containers []string) string {
	const format = `{{.Name}}|{{.State.Status}}|{{.State.StartedAt}}|{{.State.FinishedAt}}|{{.RestartCount}}|{{if .State.Health}}{{.State.Health.Status}}{{end}}|{{.State.ExitCode}}|{{.Config.Image}}`
	cmd := "docker inspect --type container -f " + ops.Quote(format)
	for _, c := range containers {
		cmd += " " + ops.Quote(c)
	}
	return cmd
}

// all runs each host's batched inspect on every host at once and returns how long the slowest took.
func (ff *floorFleet) all(t testing.TB, byHost map[string][]string) time.Duration {
	t.Helper()
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, len(byHost))
	for host, containers := range byHost {
		wg.Go(func() {
			if err := ff.run(host, containers); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	took := time.Since(start)
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return took
}

// one runs one container's inspect on one host.
func (ff *floorFleet) one(t testing.TB, host, container string) time.Duration {
	t.Helper()
	start := time.Now()
	if err := ff.run(host, []string{container}); err != nil {
		t.Fatal(err)
	}
	return time.Since(start)
}

func (ff *floorFleet) run(host string, containers []string) error {
	res, err := ff.f.Run(context.Background(), host, inspectCommand(containers))
	switch {
	case err != nil:
		return fmt.Errorf("the floor's probe of %s: %w", host, err)
	case res.ExitCode != 0 || strings.Count(res.Stdout, "|running|") != len(containers):
		return fmt.Errorf("the floor's probe of %s: exit %d, want %d running: %s%s", host, res.ExitCode, len(containers), res.Stdout, res.Stderr)
	}
	return nil
}

type metricFamilies = map[string]*dto.MetricFamily

// waitMetrics scrapes opsroom's /metrics every so often until cond holds, and returns when it first did.
func waitMetrics(t testing.TB, listen string, every time.Duration, what string, cond func(metricFamilies) bool) time.Time {
	t.Helper()
	deadline := time.Now().Add(2 * replyTimeout)
	for {
		m, err := tryScrape(listen)
		now := time.Now()
		if err == nil && cond(m) {
			return now
		}
		if now.After(deadline) {
			t.Fatalf("%s: not within %s (last scrape: %v)", what, 2*replyTimeout, err)
		}
		time.Sleep(every)
	}
}

// sumMetric adds up a metric over all its labels (a histogram's counts).
func sumMetric(m metricFamilies, name string) float64 {
	var sum float64
	for _, x := range m[name].GetMetric() {
		switch {
		case x.Counter != nil:
			sum += x.GetCounter().GetValue()
		case x.Gauge != nil:
			sum += x.GetGauge().GetValue()
		case x.Histogram != nil:
			sum += float64(x.GetHistogram().GetSampleCount())
		}
	}
	return sum
}

// procCPU is the CPU time the process has used, user and system.
func procCPU(t testing.TB, pid int) time.Duration {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatalf("reading opsroom's CPU time: %v", err)
	}
	// After the command name (which may hold spaces): state is field 3, utime 14, stime 15.
	fields := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+1:]))
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	const ticks = 100 // USER_HZ
	return time.Duration(utime+stime) * time.Second / ticks
}

// loadAverage is the machine's load over 1, 5 and 15 minutes, as uptime shows it.
func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	return strings.Join(strings.Fields(string(data))[:3], " ")
}

func millis(ds []time.Duration) string {
	var s []string
	for _, d := range ds {
		s = append(s, strconv.FormatInt(d.Milliseconds(), 10))
	}
	return strings.Join(s, " ")
}
