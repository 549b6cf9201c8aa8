package config

import (
	"os"
	"path/filepath"
	"strings"
)

// ExpandHome replaces a leading ~/ in a path from the config with the home directory.
func ExpandHome(path string) string {
	if rest, ok := strings.CutPrefix(path, "~/"); ok {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, rest)
		}
	}
	return path
}
