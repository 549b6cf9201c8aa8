package e2e

import (
	"fmt"
	"net"
	"testing"

	"github.com/opsroom/opsroom/internal/testworld"
)

// loopbackService runs the test service on the host's network, serving HTTP
// on a loopback port only, as services behind a reverse proxy do; env adds to
// its environment. It returns once the port answers.
func loopbackService(t *testing.T, name string, env map[string]string) (c *testworld.Container, addr string) {
	t.Helper()
	addr = fmt.Sprintf("127.0.0.1:%d", testworld.FreePort(t))
	env["LISTEN"], env["ANSWER_FILE"] = addr, "/answer"
	c = testworld.RunContainer(t, testworld.UniqueName(t, name), env, "--network", "host")
	eventually(t, "the service listening on "+addr, func() bool {
		nc, err := net.Dial("tcp", addr)
		if err == nil {
			_ = nc.Close()
		}
		return err == nil
	})
	return c, addr
}

// TestHTTPProbeOf401IsHealthyAnd500IsOneUnhealthyAlert: a service that
// answers 401 when it is up (maubot's API) stays running when 401 is what its
// probe accepts; answering 500 is one unhealthy alert naming the status
// code, and answering 401 again one recovery.
func TestHTTPProbeOf401IsHealthyAnd500IsOneUnhealthyAlert(t *testing.T) {
	w := watchWorld(t)
	c, addr := loopbackService(t, "api", map[string]string{"HEALTH_STATUS": "401"})
	api := containerService(c)
	api["health"] = map[string]any{"http": map[string]any{"url": "http://" + addr + "/health", "status": []int{401}, "timeout": "2s"}}
	w.startOpsroom(t, map[string]host{"local": w.localHost()}, map[string]service{"api": api})
	w.waitWatching(t, true) // the baseline: probed, and the event stream connected

	mustContain(t, "!status api", w.ask(t, w.alice, "!status api"), "**running**", "health probe", "HTTP 401")
	w.settle(t)
	if got := w.alerts(t); len(got) != 0 {
		t.Fatalf("a service answering the 401 its probe accepts caused alerts: %q", got)
	}

	testworld.Docker(t, "exec", c.Name, "/testsvc", "answer", "500")
	eventually(t, "an unhealthy alert", func() bool { return len(w.alertsMatching(t, "api", "unhealthy")) > 0 })
	mustContain(t, "unhealthy alert", w.alertsMatching(t, "api", "unhealthy")[0],
		"health probe fails", "http://"+addr+"/health: HTTP 500 (want 401) after ")
	mustContain(t, "!status while unhealthy", w.ask(t, w.alice, "!status"), "| 🟠 api | local | unhealthy |", "HTTP 500")

	testworld.Docker(t, "exec", c.Name, "/testsvc", "answer")
	eventually(t, "the recovery", func() bool { return len(w.alertsMatching(t, "api", "recovered")) > 0 })
	w.settle(t)
	if got := w.alertsMatching(t, "api", "unhealthy"); len(got) != 2 { // the alert, and the recovery's "was unhealthy"
		t.Errorf("%d alerts saying unhealthy, want the alert and the recovery: %q", len(got), got)
	}
	if got := w.alerts(t); len(got) != 2 {
		t.Errorf("%d alerts, want the unhealthy alert and one recovery: %q", len(got), got)
	}
}

// TestHangingEndpointIsUnhealthyWithTheTimeout: a probe that gets no answer
// says how long it waited; a TCP probe of a listening port passes, and of a
// closed one fails saying so (from the first probe on, so with no alert: a
// service's first state is the baseline).
func TestHangingEndpointIsUnhealthyWithTheTimeout(t *testing.T) {
	w := watchWorld(t)
	c, addr := loopbackService(t, "web", map[string]string{})
	web := containerService(c)
	web["health"] = map[string]any{"http": map[string]any{"url": "http://" + addr + "/health", "timeout": "1s"}}
	port := containerService(testworld.RunContainer(t, testworld.UniqueName(t, "port"), nil))
	port["health"] = map[string]any{"tcp": map[string]any{"address": addr}}
	closed := containerService(testworld.RunContainer(t, testworld.UniqueName(t, "closed"), nil))
	closed["health"] = map[string]any{"tcp": map[string]any{"address": fmt.Sprintf("127.0.0.1:%d", testworld.FreePort(t))}}
	w.startOpsroom(t, map[string]host{"local": w.localHost()}, map[string]service{"web": web, "port": port, "closed": closed})
	w.waitWatching(t, true)

	// Unhealthy from the first probe on: the baseline, shown, not alerted.
	mustContain(t, "!status", w.ask(t, w.alice, "!status"), "| 🟠 closed | local | unhealthy |", "the host could not connect: Connection refused",
		"| 🟢 port | local | running |", "connected", "| 🟢 web | local | running |", "HTTP 200")

	testworld.Docker(t, "exec", c.Name, "/testsvc", "answer", "hang")
	eventually(t, "an unhealthy alert", func() bool { return len(w.alertsMatching(t, "web", "unhealthy")) > 0 })
	mustContain(t, "hanging endpoint's alert", w.alertsMatching(t, "web", "unhealthy")[0], "health probe fails", "no answer within 1s")
	w.settle(t)
	if got := w.alertsMatching(t, "web"); len(got) != 1 {
		t.Errorf("%d alerts about web, want the one unhealthy alert: %q", len(got), got)
	}
	if got := w.alerts(t); len(got) != 1 {
		t.Errorf("%d alerts, want only web's: %q", len(got), got)
	}
}
