package testworld

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// PodmanImage is the test service's image in the owner's rootless podman on a
// systemd host: nothing can be pulled, so it is imported from a tar of the
// testsvc binary, named localhost/… (the host has no unqualified-search
// registries).
const PodmanImage = "localhost/opsroom-testsvc:dev"

// ImportPodmanImage imports PodmanImage into the owner's podman, unless it
// is there already.
func (h *SystemdHost) ImportPodmanImage(t testing.TB) {
	t.Helper()
	if _, err := h.podman("image", "exists", PodmanImage); err == nil {
		return
	}
	bin := testsvcBinary(t)
	tarball := filepath.Join(t.TempDir(), "testsvc.tar")
	if out, err := exec.Command("tar", "-C", filepath.Dir(bin), "-cf", tarball, filepath.Base(bin)).CombinedOutput(); err != nil {
		t.Fatalf("tar of testsvc: %v: %s", err, out)
	}
	// /tmp is the host's own tmpfs, which docker cp does not see.
	Docker(t, "cp", tarball, h.Name+":/var/tmp/testsvc.tar")
	h.Exec(t, "chmod", "644", "/var/tmp/testsvc.tar")
	h.Podman(t, "import", "--change", `ENTRYPOINT ["/testsvc"]`, "--change", "ENV VERSION=dev", "/var/tmp/testsvc.tar", PodmanImage)
}

// RunPodman starts a container of PodmanImage in the owner's rootless podman,
// on the host's network, with env and extra `podman run` arguments; the
// test's cleanup removes it.
func (h *SystemdHost) RunPodman(t testing.TB, name string, env map[string]string, extra ...string) {
	t.Helper()
	h.ImportPodmanImage(t)
	args := []string{"run", "-d", "--name", name, "--network", "host"}
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		args = append(args, "-e", k+"="+env[k])
	}
	args = append(append(args, extra...), PodmanImage)
	h.Podman(t, args...)
	t.Cleanup(func() { _, _ = h.podman("rm", "-f", "-t", "0", name) })
}

// Podman runs podman as the owner (its rootless podman, as opsroom's run_as
// reaches it) and returns its trimmed stdout; a failure fails the test.
func (h *SystemdHost) Podman(t testing.TB, args ...string) string {
	t.Helper()
	out, err := h.podman(args...)
	if err != nil {
		t.Fatalf("systemd host %s: podman %s as %s: %v", h.Name, strings.Join(args, " "), h.Owner, err)
	}
	return strings.TrimSpace(out)
}

func (h *SystemdHost) podman(args ...string) (string, error) {
	return run("", "docker", append([]string{"exec", "-u", h.Owner,
		"-e", fmt.Sprintf("XDG_RUNTIME_DIR=/run/user/%d", h.OwnerUID), "-w", "/",
		h.Name, "podman"}, args...)...)
}
