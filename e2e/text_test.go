package e2e

import (
	"strings"
	"testing"

	"github.com/opsroom/opsroom/internal/testworld"
)

// TestColoursAndProgressBarsShowClean: a service that prints colours and
// redraws a progress bar with carriage returns shows clean lines in !logs
// and in its exit alert.
func TestColoursAndProgressBarsShowClean(t *testing.T) {
	w := watchWorld(t)
	c := testworld.RunContainer(t, testworld.UniqueName(t, "web"), map[string]string{
		"SAY":  `\x1b[31mERROR\x1b[0m disk full\ndownloading  10%\rdownloading  55%\rdownloading 100%\n`,
		"TICK": "1h",
	})
	w.startOpsroom(t, map[string]host{"local": w.localHost()}, map[string]service{"web": containerService(c)})
	w.waitWatching(t, true)

	clean := func(what, text string) {
		t.Helper()
		mustContain(t, what, text, "ERROR disk full", "downloading 100%")
		for _, bad := range []string{"\x1b", "[31m", "downloading  10%", "\r"} {
			if strings.Contains(text, bad) {
				t.Errorf("%s shows %q:\n%q", what, bad, text)
			}
		}
	}
	clean("!logs", w.ask(t, w.alice, "!logs web 5"))
	testworld.Docker(t, "kill", c.Name)
	eventually(t, "the exit alert", func() bool { return len(w.alertsMatching(t, "**web**", "exited with code 137")) > 0 })
	clean("the exit alert", w.alertsMatching(t, "**web**", "exited with code 137")[0])
}
