package ops

import (
	"bytes"
	"io"
	"strconv"
	"strings"
	"sync"
)

// groupMarker starts the line a grouped command prints first on stderr: its
// process group ID.
const groupMarker = "opsroom-pgid="

// groupCommand runs cmd as the leader of a new session (setsid), so that it
// and everything it starts share one process group, and first tells that
// group's ID on stderr. --wait matters: setsid called by a process group
// leader (as a login shell is) forks, and without it returns 0 at once.
func groupCommand(cmd string) string {
	return "exec setsid --wait bash -c " + Quote(`echo `+groupMarker+`$$ >&2; exec bash -c "$1"`) + " opsroom " + Quote(cmd)
}

// killGroupCommand ends every process of the group.
func killGroupCommand(pgid int) string {
	return "kill -KILL -- -" + strconv.Itoa(pgid)
}

// groupTap reads the group ID off the front of stderr and passes the rest on.
type groupTap struct {
	next io.Writer

	mu   sync.Mutex
	head []byte // stderr until the first newline
	done bool
	pgid int
}

func (g *groupTap) Write(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := len(p)
	if !g.done {
		g.head = append(g.head, p...)
		i := bytes.IndexByte(g.head, '\n')
		if i < 0 && len(g.head) < 64 {
			return n, nil
		}
		g.done = true
		first, rest := g.head, []byte(nil)
		if i >= 0 {
			first, rest = g.head[:i], g.head[i+1:]
		}
		if id, ok := strings.CutPrefix(string(first), groupMarker); ok {
			g.pgid, _ = strconv.Atoi(id)
		} else {
			rest = g.head
		}
		p = rest
	}
	if len(p) > 0 && g.next != nil {
		if _, err := g.next.Write(p); err != nil {
			return n, err
		}
	}
	return n, nil
}

func (g *groupTap) id() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.pgid
}
