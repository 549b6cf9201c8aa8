package ops

import (
	"strconv"
	"strings"
)

// The command lines behind each action. Every value comes from the config or is
// a validated integer, and is quoted all the same.

func commitCommand(s *ServiceConfig) string {
	return "git -C " + Quote(s.Directory) + " rev-parse HEAD"
}

// actionCommand builds the command of a service action: logs, restart, stop,
// start. A per-service override replaces the backend's recipe.
func actionCommand(h *HostConfig, s *ServiceConfig, action string, lines int) string {
	if override, ok := s.Actions[action]; ok {
		cmd := strings.ReplaceAll(override, "{lines}", strconv.Itoa(lines))
		if s.Directory != "" {
			cmd = "cd " + Quote(s.Directory) + " && " + cmd
		}
		return cmd
	}
	return backendFor(h, s).actionCommand(s, action, lines)
}
