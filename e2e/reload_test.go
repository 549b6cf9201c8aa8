package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"maunium.net/go/mautrix/id"

	"github.com/opsroom/opsroom/internal/testworld"
)

// TestReloadAddsAndRemovesServicesWhileWatching changes the config under a
// running opsroom: SIGHUP adds a service and removes one, with no alert for
// either and none for the one that stays; !reload of a broken file answers
// its errors and keeps the running config.
func TestReloadAddsAndRemovesServicesWhileWatching(t *testing.T) {
	w := watchWorld(t)
	w.access = map[string]any{"viewers": []id.UserID{w.eve.UserID}}
	web := testworld.RunContainer(t, testworld.UniqueName(t, "web"), nil)
	old := testworld.RunContainer(t, testworld.UniqueName(t, "old"), nil)
	added := testworld.RunContainer(t, testworld.UniqueName(t, "new"), nil)
	hosts := map[string]host{"local": w.localHost()}
	o := w.startOpsroom(t, hosts, map[string]service{"web": containerService(web), "old": containerService(old)})
	w.waitWatching(t, true)

	w.writeConfig(t, hosts, map[string]service{"web": containerService(web), "fresh": containerService(added)})
	if err := o.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the added service answering", func() bool {
		got := w.ask(t, w.alice, "!status fresh")
		return !strings.Contains(got, "unknown service")
	})
	mustContain(t, "!status fresh", w.ask(t, w.alice, "!status fresh"), "**running**", added.Name)
	mustContain(t, "!status old", w.ask(t, w.alice, "!status old"), "unknown service")
	// The removed container stops: nobody is told, for nobody watches it now.
	testworld.Docker(t, "stop", old.Name)
	w.settle(t)
	if alerts := w.alerts(t); len(alerts) != 0 {
		t.Errorf("the reload raised alerts: %q", alerts)
	}

	if err := os.WriteFile(filepath.Join(w.dir, "config.yaml"), []byte("hosts: {local: {address: nowhere\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	mustContain(t, "!reload of a broken config", w.ask(t, w.alice, "!reload"), "not reloaded", "running one stays")
	mustContain(t, "status after the refused reload", w.ask(t, w.alice, "!status fresh"), "**running**")

	w.writeConfig(t, hosts, map[string]service{"web": containerService(web)})
	mustContain(t, "!reload", w.ask(t, w.alice, "!reload"), "Reloaded", "services removed: fresh")
	mustContain(t, "viewer's !reload", w.ask(t, w.eve, "!reload"), "needs the operator role")
}
