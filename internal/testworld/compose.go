package testworld

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// ComposeVersion is the Docker Compose v2 CLI plugin the tests install, built
// from test/compose.
const ComposeVersion = "v2.32.4"

// ComposeV2 returns the path of a docker-compose v2 binary (the `docker
// compose` CLI plugin), building it from test/compose when it is not there yet
// (OPSROOM_COMPOSE_BIN names a ready directory). Users' hosts mostly have
// `docker compose` v2, and it is what opsroom runs by default, but Debian
// packages only compose v1 and this machine cannot download release binaries.
func ComposeV2(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(toolDir("OPSROOM_COMPOSE_BIN", "compose-"+ComposeVersion, "compose"), "docker-compose")
	buildTools(t, "compose", "Docker Compose "+ComposeVersion, bin, "-o", bin,
		"-ldflags", "-X github.com/docker/compose/v2/internal.Version="+ComposeVersion,
		"github.com/docker/compose/v2/cmd")
	return bin
}

// InstallComposePlugin makes `docker compose` (v2, see ComposeV2) work for the
// user whose home is home: it copies the binary to
// home/.docker/cli-plugins/docker-compose, mode 0755, the directories and the
// file owned by uid:gid. A copy rather than a link, since the build cache may
// sit in a home that user cannot enter.
func InstallComposePlugin(t testing.TB, home string, uid, gid int) {
	t.Helper()
	src := ComposeV2(t)
	if err := installComposePlugin(src, home, uid, gid); err != nil {
		t.Fatalf("installing the compose plugin in %s: %v", home, err)
	}
}

func installComposePlugin(src, home string, uid, gid int) error {
	docker := filepath.Join(home, ".docker")
	plugins := filepath.Join(docker, "cli-plugins")
	if err := os.MkdirAll(plugins, 0o755); err != nil {
		return err
	}
	for _, dir := range []string{docker, plugins} {
		if err := os.Chown(dir, uid, gid); err != nil {
			return err
		}
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.CreateTemp(plugins, ".docker-compose-*")
	if err != nil {
		return err
	}
	defer os.Remove(out.Name()) // a no-op once renamed
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copying %s: %w", src, err)
	}
	if err := out.Chmod(0o755); err != nil {
		out.Close()
		return err
	}
	if err := out.Chown(uid, gid); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Rename(out.Name(), filepath.Join(plugins, "docker-compose"))
}
