package e2e

import (
	"testing"

	"github.com/opsroom/opsroom/internal/testworld"
)

// A container killed by the kernel for memory says so. Docker on cgroup v1
// misses the OOM kill on some kernels (OOMKilled stays false, as on the test
// machines), so what is checked is "out of memory" either way: said for sure,
// or as likely from a SIGKILL under a memory limit.
func TestOOMKilledContainerAlertSaysOutOfMemory(t *testing.T) {
	w := watchWorld(t)
	c := testworld.RunContainer(t, testworld.UniqueName(t, "hog"), map[string]string{"ALLOCATE": "200M"},
		"--memory", "50m", "--memory-swap", "50m")
	w.startOpsroom(t, map[string]host{"local": w.localHost()}, map[string]service{"hog": containerService(c)})
	w.waitWatching(t, true) // the baseline: probed, and the event stream connected

	testworld.Docker(t, "kill", "--signal", "USR1", c.Name) // it allocates 200M under a 50M limit
	eventually(t, "an exited alert", func() bool { return len(w.alertsMatching(t, "hog", "exited with code 137")) > 0 })
	got := w.alertsMatching(t, "hog", "exited with code 137")[0]
	mustContain(t, "OOM alert", got, "out of memory", "testsvc allocating 200M")
	if testworld.Inspect(t, c.Name, "{{.State.OOMKilled}}") == "true" {
		mustContain(t, "OOM alert, docker knowing", got, "killed by the kernel's OOM killer")
	} else {
		mustContain(t, "OOM alert, docker not knowing", got, "memory limit of 50 MiB, likely out of memory")
	}
}

// An alert names the last change someone made to the service from the room.
func TestAlertNamesTheRestartBeforeTheCrash(t *testing.T) {
	w := watchWorld(t)
	c := testworld.RunContainer(t, testworld.UniqueName(t, "web"), nil)
	w.startOpsroom(t, map[string]host{"local": w.localHost()}, map[string]service{"web": containerService(c)})
	w.waitWatching(t, true) // the baseline: probed, and the event stream connected

	mustContain(t, "restart", w.ask(t, w.alice, "!restart web"), "restarted")
	w.settle(t)
	testworld.Docker(t, "kill", c.Name)
	eventually(t, "an exited alert", func() bool { return len(w.alertsMatching(t, "web", "exited with code 137")) > 0 })
	mustContain(t, "exit alert", w.alertsMatching(t, "web", "exited with code 137")[0],
		"killed (SIGKILL)", "Last change from the room: restarted by "+string(w.alice.UserID), "s ago")
}
