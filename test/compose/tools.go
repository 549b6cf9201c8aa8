//go:build tools

// Package compose pins the Docker Compose v2 CLI plugin (`docker compose`) the
// end-to-end tests install: users' hosts mostly have it, and it is opsroom's
// default, but Debian packages only compose v1 and this machine cannot download
// release binaries. It is built from this throw-away module so its
// dependencies never enter opsroom's own go.mod.
package compose

import (
	_ "github.com/docker/compose/v2/cmd"
)
