package ops

import (
	"strconv"
	"strings"
)

// The command lines behind each action. Every value comes from the config or is
// a validated integer, and is quoted all the same.

// inspectCommand asks for containers only: a compose project's image is often
// named like its container, and a plain inspect would describe the image
// once the container is gone.
func inspectCommand(containers []string) string {
	args := make([]string, len(containers))
	for i, c := range containers {
		args[i] = Quote(c)
	}
	return "docker inspect --type container -f " + Quote(inspectFormat) + " " + strings.Join(args, " ")
}

func commitCommand(s *ServiceConfig) string {
	return "git -C " + Quote(s.Directory) + " rev-parse HEAD"
}

// actionCommand builds the command of a service action: logs, restart, stop, start.
// A per-service override replaces the recipe.
func actionCommand(h *HostConfig, s *ServiceConfig, action string, lines int) string {
	if override, ok := s.Actions[action]; ok {
		cmd := strings.ReplaceAll(override, "{lines}", strconv.Itoa(lines))
		if s.Directory != "" {
			cmd = "cd " + Quote(s.Directory) + " && " + cmd
		}
		return cmd
	}
	name := Quote(s.Container)
	switch action {
	case "logs":
		return "docker logs --tail " + strconv.Itoa(lines) + " " + name + " 2>&1"
	case "restart":
		return "docker restart " + name
	case "stop":
		return "docker stop " + name
	case "start":
		if s.Kind == KindCompose {
			return "cd " + Quote(s.Directory) + " && " + h.ComposeCommand + " up -d " + Quote(s.ComposeService)
		}
		return "docker start " + name
	}
	panic("ops: no recipe for action " + action)
}

// healthLogCommand prints the outputs of the container's last health checks (docker keeps five).
func healthLogCommand(container string) string {
	return "docker inspect --type container -f " + Quote("{{with .State.Health}}{{range .Log}}{{.ExitCode}}: {{.Output}}\n{{end}}{{end}}") + " " + Quote(container)
}
