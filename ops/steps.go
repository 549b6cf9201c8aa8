package ops

import (
	"fmt"
	"regexp"
	"strings"
)

// Step is one step of a service's own update or rollback (its `update:` and
// `rollback:` lists): a command, run in the service's directory (if it has
// one) as the host's user (its run_as, if set), under a name that the
// progress message and the update_runs table show.
type Step struct {
	Name string `yaml:"name"`
	Run  string `yaml:"run"`
}

// stepNameRE is what a step may be called: a word, as the stages of the git
// and compose recipe are (fetch, reset, build, up).
var stepNameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,31}$`)

// validateSteps checks the service's own update: and rollback: steps, each
// error naming its key, and gives a service that has steps the default
// update_timeout (a compose service has it already).
func (s *ServiceConfig) validateSteps(key string) (errs []error) {
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{key}, args...)...))
	}
	check := func(list string, steps []Step) {
		if steps == nil {
			return
		}
		if len(steps) == 0 {
			bad(key+"."+list, "empty list: give the steps in order, each {name: NAME, run: COMMAND}, or leave %s out", list)
		}
		seen := map[string]int{}
		for i, st := range steps {
			at := fmt.Sprintf("%s.%s[%d]", key, list, i)
			switch j, dup := seen[st.Name]; {
			case strings.TrimSpace(st.Name) == "":
				bad(at+".name", "required: a short name the progress message shows, e.g. build")
			case !stepNameRE.MatchString(st.Name):
				bad(at+".name", "%.40q is not a step name: up to 32 letters, digits and - _ . (the progress message and the update_runs table show it)", st.Name)
			case dup:
				bad(at+".name", "%q is already the name of %s[%d]; each step needs a name of its own", st.Name, list, j)
			default:
				seen[st.Name] = i
			}
			if strings.TrimSpace(st.Run) == "" {
				bad(at+".run", "required: the command this step runs")
			}
		}
	}
	check("update", s.Update)
	check("rollback", s.Rollback)
	if len(s.Update)+len(s.Rollback) > 0 && s.UpdateTimeout.Duration <= 0 {
		s.UpdateTimeout.Duration = defaultUpdateTimeout
	}
	return errs
}

// stepsRecipe is a service's own steps as a recipe: each runs in the
// service's directory, with its stderr merged into its stdout, so that a
// failure's output reads in the order it was printed.
func stepsRecipe(s *ServiceConfig, steps []Step) *Recipe {
	r := &Recipe{service: s, ownSteps: true}
	for _, st := range steps {
		// On lines of their own, the braces hold any command line: one that
		// ends in a comment, a pipeline, a script of several lines.
		cmd := "{\n" + st.Run + "\n} 2>&1"
		if s.Directory != "" {
			cmd = "cd " + Quote(s.Directory) + " && " + cmd
		}
		shown := shownStep(st.Run)
		r.stages = append(r.stages, commandStage(UpdateStage(st.Name), shown, cmd, shown, nil))
	}
	return r
}

// shownStep is a step's command as one line of the progress message: its
// first line, cut short if it is long, with … where something was left out.
func shownStep(run string) string {
	run = strings.TrimSpace(run)
	first, rest, _ := strings.Cut(run, "\n")
	first = strings.TrimSpace(first)
	if len(first) > 120 {
		first, rest = strings.TrimSpace(strings.ToValidUTF8(first[:120], "")), "…"
	}
	if rest != "" {
		first += " …"
	}
	return first
}
