package ops

import (
	"fmt"
	"strings"
)

// Quote makes s one shell word: single quotes, each ' inside written as '\”.
// Every value interpolated into a remote command passes through here.
func Quote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// checkArg refuses what cannot be passed through a shell at all.
func checkArg(s string) error {
	if strings.ContainsRune(s, 0) {
		return fmt.Errorf("value %q contains a NUL byte", s)
	}
	return nil
}
