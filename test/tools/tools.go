//go:build tools

// Package tools pins the programs the end-to-end tests run: a real Matrix
// homeserver (Dendrite) and Toxiproxy. They are built from this throw-away
// module so their dependencies never enter opsroom's own go.mod.
package tools

import (
	_ "github.com/Shopify/toxiproxy/v2/cmd/server"
	_ "github.com/element-hq/dendrite/cmd/create-account"
	_ "github.com/element-hq/dendrite/cmd/dendrite"
	_ "github.com/element-hq/dendrite/cmd/generate-config"
	_ "github.com/element-hq/dendrite/cmd/generate-keys"
)
