package e2e

import (
	"fmt"
	"strings"
	"testing"

	"github.com/opsroom/opsroom/internal/testworld"
)

// Four containers of one host killed within a second are one alert listing
// the four, edited as each recovers, and no other alert message.
func TestKillOfFourIsOneGroupedAlertEditedAsTheyRecover(t *testing.T) {
	w := watchWorld(t)
	names := []string{"a", "b", "c", "d"}
	containers, services := runContainers(t, names)
	w.startOpsroom(t, map[string]host{"local": w.localHost()}, services)
	w.waitWatching(t, true) // the baseline: probed, and the event stream connected

	for _, c := range containers {
		testworld.Docker(t, "kill", c.Name)
	}
	eventually(t, "one alert that lists the four", func() bool {
		events := w.alertEvents(t)
		if len(events) == 0 {
			return false
		}
		edits := w.edits(t, events[0].ID)
		return len(edits) > 0 && strings.Contains(edits[len(edits)-1], "4 services on `local` went down together")
	})
	group := w.alertEvents(t)[0]
	last := func() string { edits := w.edits(t, group.ID); return edits[len(edits)-1] }
	for _, name := range names {
		mustContain(t, "the grouped alert", last(), fmt.Sprintf("**%s** exited with code 137: killed (SIGKILL)", name))
	}

	testworld.Docker(t, "start", containers[0].Name)
	eventually(t, "a's recovery folded into the group's message", func() bool {
		return strings.Contains(last(), "3 still down") && strings.Contains(last(), "recovered after")
	})
	for _, c := range containers[1:] {
		testworld.Docker(t, "start", c.Name)
	}
	eventually(t, "the group's message saying all recovered", func() bool {
		return strings.Contains(last(), "went down together, and all recovered") && strings.Count(last(), "✅ recovered after") == 4
	})
	w.settle(t)
	if got := w.alerts(t); len(got) != 1 {
		t.Errorf("%d alert messages, want the one grouped alert: %q", len(got), got)
	}
}

// runContainers runs a container of the test service for each name, and
// returns them with their services, by name.
func runContainers(t *testing.T, names []string) ([]*testworld.Container, map[string]service) {
	t.Helper()
	services := map[string]service{}
	var containers []*testworld.Container
	for _, name := range names {
		c := testworld.RunContainer(t, testworld.UniqueName(t, name), nil)
		containers = append(containers, c)
		services[name] = containerService(c)
	}
	return containers, services
}
