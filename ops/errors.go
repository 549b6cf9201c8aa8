package ops

import (
	"fmt"
	"strings"
)

// CommandError is a remote command that ran and failed.
type CommandError struct {
	Host, Service, Step, Command string
	ExitCode                     int
	Stdout, Stderr               string
}

func (e *CommandError) Error() string {
	msg := fmt.Sprintf("host %q: %s of %s failed: `%s` exited %d", e.Host, e.Step, e.Service, e.Command, e.ExitCode)
	if tail := lastLine(e.Stderr); tail != "" {
		msg += ": " + tail
	} else if tail := lastLine(e.Stdout); tail != "" {
		msg += ": " + tail
	}
	return msg
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// UnreachableError is a host that could not be reached, authenticated or trusted.
type UnreachableError struct {
	Host, Address string
	Err           error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("host %q (%s): %v", e.Host, e.Address, e.Err)
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// EngineError is a host that answers while its container engine does not:
// the daemon is down, its socket is elsewhere (DOCKER_HOST), the user may not
// use it, or the CLI is missing. Every service on the host is then unknown,
// and the host is one alert.
type EngineError struct {
	Host   string
	Engine string // the backend's name: Docker, systemd
	Output string // what the CLI said
}

func (e *EngineError) Error() string {
	return fmt.Sprintf("%s on %s does not answer: %s", e.Engine, e.Host, lastLine(e.Output))
}

// UnknownServiceError is a service name that is not in the config.
type UnknownServiceError struct {
	Name    string
	Closest []string
	Known   []string
}

// Error repeats at most the first 64 characters of the name: a service name is
// short, and a reply that repeated a huge one would be too big to send.
func (e *UnknownServiceError) Error() string {
	if len(e.Closest) > 0 {
		quoted := make([]string, len(e.Closest))
		for i, c := range e.Closest {
			quoted[i] = fmt.Sprintf("%q", c)
		}
		return fmt.Sprintf("unknown service %.64q; did you mean %s?", e.Name, strings.Join(quoted, " or "))
	}
	if len(e.Known) == 0 {
		return fmt.Sprintf("unknown service %.64q; no services are registered", e.Name)
	}
	return fmt.Sprintf("unknown service %.64q; the services are: %s", e.Name, strings.Join(e.Known, ", "))
}
