package ops

import (
	"fmt"
	"slices"
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

// closest returns up to three known names within a small edit distance of name, nearest first.
func closest(name string, known []string) []string {
	type cand struct {
		name string
		dist int
	}
	var cands []cand
	limit := max(2, len(name)/3)
	for _, k := range known {
		d := editDistance(strings.ToLower(name), k)
		if d <= limit || (len(name) >= 3 && strings.HasPrefix(k, strings.ToLower(name))) {
			cands = append(cands, cand{k, d})
		}
	}
	slices.SortStableFunc(cands, func(a, b cand) int { return a.dist - b.dist })
	var out []string
	for i := 0; i < len(cands) && i < 3; i++ {
		out = append(out, cands[i].name)
	}
	return out
}

// editDistance is the Damerau–Levenshtein (optimal string alignment) distance,
// so that a swapped pair of letters ("brigde") counts as one typo.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}
