package commands

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/opsroom/opsroom/ops"
)

const (
	// progressTailLines is how much of the running stage's output the progress message shows.
	progressTailLines = 8
	// maxFullOutput caps the output kept for the thread under the progress message.
	maxFullOutput = 256 * 1024
)

// progress is the state of one update as its progress message shows it. It
// hears the update through ops.UpdateObserver; render draws it.
type progress struct {
	mu      sync.Mutex
	verb    string // "Updating", "Rolling back"
	service string
	host    string
	who     id.UserID
	started time.Time
	timeout time.Duration // the service's update_timeout
	recipe  *ops.Recipe   // what runs; nil stands for the git and compose recipe

	stages []stageLine
	// phase is "" for the run's own stages, or the title of the rollback
	// that follows a failed verification ("Rolling back to `3f2a1c0`"),
	// under which that rollback's stages are listed.
	phase   string
	current ops.UpdateStage
	tail    []string // last lines of the running stage's output
	partial string   // an unfinished last line
	full    strings.Builder
	cut     int // bytes of full output dropped at the front
	old     string
	target  string
	dirty   bool
}

type stageLine struct {
	phase   string
	stage   ops.UpdateStage
	mark    string // ⬜ (not started) ⏳ ✅ ❌
	summary string
}

// planned is the mark of a stage that has not started.
const planned = "⬜"

// plan lists the recipe's stages, none started yet, so that the message
// shows from the start what will run.
func (p *progress) plan(r *ops.Recipe) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.recipe = r
	for _, st := range r.Stages() {
		p.stages = append(p.stages, stageLine{phase: p.phase, stage: st.Name, mark: planned, summary: st.Command})
	}
}

// line is the stage's line in the current phase, or nil; stage names are
// unique within a recipe.
func (p *progress) line(stage ops.UpdateStage) *stageLine {
	for i := range p.stages {
		if p.stages[i].stage == stage && p.stages[i].phase == p.phase {
			return &p.stages[i]
		}
	}
	return nil
}

// label names a stage in messages: "stage fetch", "step `migrate`".
func (p *progress) label(stage ops.UpdateStage) string {
	return p.recipe.Label(stage)
}

var _ ops.UpdateObserver = (*progress)(nil)

func (p *progress) StageStarted(stage ops.UpdateStage, command string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.current = stage
	p.tail, p.partial = nil, ""
	if l := p.line(stage); l != nil {
		l.mark, l.summary = "⏳", command
	} else {
		p.stages = append(p.stages, stageLine{phase: p.phase, stage: stage, mark: "⏳", summary: command})
	}
	fmt.Fprintf(&p.full, "$ %s\n", command)
	p.dirty = true
}

func (p *progress) StageDone(stage ops.UpdateStage, summary string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if l := p.line(stage); l != nil {
		l.mark, l.summary = "✅", summary
	}
	p.tail, p.partial = nil, ""
	p.dirty = true
}

func (p *progress) Output(_ ops.UpdateStage, chunk []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.full.Write(chunk)
	if over := p.full.Len() - maxFullOutput; over > 0 {
		rest := p.full.String()[over:]
		p.full.Reset()
		p.full.WriteString(rest)
		p.cut += over
	}
	// Build tools redraw lines with \r; a line is what is left after the last one.
	text := p.partial + strings.ReplaceAll(string(chunk), "\r\n", "\n")
	lines := strings.Split(text, "\n")
	p.partial = lines[len(lines)-1]
	for _, l := range lines[:len(lines)-1] {
		if i := strings.LastIndexByte(l, '\r'); i >= 0 {
			l = l[i+1:]
		}
		p.tail = append(p.tail, l)
	}
	if len(p.tail) > progressTailLines {
		p.tail = p.tail[len(p.tail)-progressTailLines:]
	}
	p.dirty = true
}

func (p *progress) Commits(old, target string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.old, p.target = old, target
}

// failStage marks the running stage failed.
func (p *progress) failStage() ops.UpdateStage {
	p.mu.Lock()
	defer p.mu.Unlock()
	if l := p.line(p.current); l != nil && l.mark == "⏳" {
		l.mark = "❌"
	}
	return p.current
}

// takeDirty says whether anything changed since the last call.
func (p *progress) takeDirty() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	d := p.dirty
	p.dirty = false
	return d
}

func (p *progress) commits() (string, string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.old, p.target
}

// fullOutput is everything the run printed (its tail, when it was long).
func (p *progress) fullOutput() (string, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.full.String(), p.cut
}

// dropOutput forgets the output posted so far, so that the thread under the
// message gets only what a rollback that follows prints.
func (p *progress) dropOutput() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.full.Reset()
	p.cut = 0
}

// render draws the running update: header, a line per stage (those to come
// too), the output tail.
func (p *progress) render(now time.Time) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "⏳ %s **%s** on %s (started by %s, %s elapsed)\n\n", p.verb, escape(p.service), code(p.host), p.who, clock(now.Sub(p.started)))
	p.writeStages(&b)
	if len(p.tail) > 0 {
		b.WriteString("\n" + codeBlock(strings.Join(p.tail, "\n"), 0))
	}
	return b.String()
}

func (p *progress) writeStages(b *strings.Builder) {
	p.writePhase(b, "")
	if p.phase != "" {
		fmt.Fprintf(b, "\n%s:\n\n", p.phase)
		p.writePhase(b, p.phase)
	}
}

// writePhase lists the stages of one phase ("" for the run's own).
func (p *progress) writePhase(b *strings.Builder, phase string) {
	for _, s := range p.stages {
		if s.phase == phase {
			fmt.Fprintf(b, "- %s %s — %s\n", s.mark, s.stage, escape(s.summary))
		}
	}
}

// clock renders a duration as m:ss.
func clock(d time.Duration) string {
	d = d.Round(time.Second)
	return fmt.Sprintf("%d:%02d", int(d.Minutes()), int(d.Seconds())%60)
}
