package ops

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"sync"
)

// An envelope is the script every remote command runs inside. Between opsroom
// and the command sit the login user's shell, and with run_as sudo -i and the
// owner's login shell: each may parse the text once more (sudo -i hands it to
// a shell that expands $ again), and each may print (a motd, a chatty
// .bashrc, an nvm notice). So the command travels base64-encoded, which no
// shell changes, and the script marks with a nonce where the command's own
// output begins and ends, on stdout and on stderr, and what it exited with.
// Whatever the shells around it print falls outside the marks and is dropped;
// a command whose begin mark never comes did not run as written.
type envelope struct {
	begin, end string
}

func newEnvelope() envelope {
	nonce := make([]byte, 6)
	_, _ = rand.Read(nonce)
	mark := "opsroom-" + hex.EncodeToString(nonce)
	return envelope{begin: mark + "-begin", end: mark + "-end"}
}

// script runs cmd in a subshell (so that an exit or exec in it still lets the
// end mark be printed; the ":" lets it be empty) with no stdin: bash reads the whole braced block before
// running it, and nothing may read the rest of the script as its input.
func (e envelope) script(cmd string) string {
	return "{\nprintf '%s\\n' " + e.begin + "; printf '%s\\n' " + e.begin + " >&2\n(\n:\n" + cmd +
		"\n)\nr=$?\nprintf '\\n%s %s\\n' " + e.end + ` "$r"; printf '\n%s\n' ` + e.end + " >&2\nexit \"$r\"\n} </dev/null\n"
}

// commandLine is what is sent over SSH: the login user's shell, whatever it
// is, decodes the script and hands it to bash; with run_as, it first becomes
// the owner through sudo (-n: never wait for a password nobody will type)
// and the owner's login shell, so the owner's login environment applies.
func (e envelope) commandLine(h *HostConfig, cmd string) string {
	line := "echo " + base64.StdEncoding.EncodeToString([]byte(e.script(cmd))) + " | base64 -d | bash"
	if h.RunAs == "" {
		return line
	}
	return "sudo -n -iu " + Quote(h.RunAs) + " bash -lc " + Quote(line)
}

// framed cuts one output stream of an enveloped command down to what the
// command printed: what comes before the begin mark is kept aside as noise,
// the end mark and what follows are dropped, and on stdout the end mark's
// exit code is read.
type framed struct {
	begin, end []byte // the begin mark with its newline; the end mark after a newline
	next       io.Writer

	mu      sync.Mutex
	state   int    // before, inside, after
	pending []byte // before: what came so far; inside: a held-back possible start of the end mark; after: the end line
	noise   []byte // the first bytes printed before the begin mark
}

const (
	framedBefore = iota
	framedInside
	framedAfter
	maxNoise = 1 << 10
)

func (e envelope) frame(next io.Writer) *framed {
	return &framed{begin: []byte(e.begin + "\n"), end: []byte("\n" + e.end), next: next}
}

func (f *framed) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := len(p)
	if f.state == framedBefore {
		f.pending = append(f.pending, p...)
		i := bytes.Index(f.pending, f.begin)
		if i < 0 {
			// Keep what could still be the start of the mark, and the first bytes for the error.
			if keep := len(f.begin); len(f.pending) > keep {
				cut := len(f.pending) - keep
				f.addNoise(f.pending[:cut])
				f.pending = append([]byte(nil), f.pending[cut:]...)
			}
			return n, nil
		}
		f.addNoise(f.pending[:i])
		p = append([]byte(nil), f.pending[i+len(f.begin):]...)
		f.pending = nil
		f.state = framedInside
	}
	if f.state == framedAfter {
		if len(f.pending) < 64 {
			f.pending = append(f.pending, p...)
		}
		return n, nil
	}
	data := append(f.pending, p...)
	f.pending = nil
	if i := bytes.Index(data, f.end); i >= 0 {
		f.state = framedAfter
		f.pending = append([]byte(nil), data[i+len(f.end):]...)
		return n, f.write(data[:i])
	}
	hold := partialSuffix(data, f.end)
	f.pending = append([]byte(nil), data[len(data)-hold:]...)
	return n, f.write(data[:len(data)-hold])
}

// ReadFrom is how a session's output reaches f (io.Copy prefers it): in
// small reads, not io.Copy's 32 KiB buffer, which an event stream's
// session would hold for its hour on every host.
func (f *framed) ReadFrom(r io.Reader) (int64, error) { return readInChunks(f, r) }

// readChunk is the size of the reads of a session's output.
const readChunk = 2 << 10

// readInChunks copies r to w through a buffer of readChunk bytes.
func readInChunks(w io.Writer, r io.Reader) (int64, error) {
	buf := make([]byte, readChunk)
	var total int64
	for {
		n, err := r.Read(buf)
		if n > 0 {
			total += int64(n)
			if _, werr := w.Write(buf[:n]); werr != nil {
				return total, werr
			}
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

func (f *framed) write(p []byte) error {
	if len(p) == 0 || f.next == nil {
		return nil
	}
	_, err := f.next.Write(p)
	return err
}

func (f *framed) addNoise(p []byte) {
	if room := maxNoise - len(f.noise); room > 0 {
		f.noise = append(f.noise, p[:min(room, len(p))]...)
	}
}

// partialSuffix is the length of the longest end of data that is a proper
// start of mark: bytes that may yet turn out to be the mark.
func partialSuffix(data, mark []byte) int {
	for k := min(len(mark)-1, len(data)); k > 0; k-- {
		if bytes.HasSuffix(data, mark[:k]) {
			return k
		}
	}
	return 0
}

// close passes on what was held back when the stream ends without its end
// mark (the command was killed, or the connection lost).
func (f *framed) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch f.state {
	case framedInside:
		_ = f.write(f.pending)
		f.pending = nil
	case framedBefore:
		f.addNoise(f.pending)
		f.pending = nil
	}
}

// began says whether the begin mark came: the command ran as written.
func (f *framed) began() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.state != framedBefore
}

// exitCode is the code the end mark carries, if it came.
func (f *framed) exitCode() (int, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.state != framedAfter {
		return 0, false
	}
	line, _, _ := bytes.Cut(bytes.TrimLeft(f.pending, " "), []byte("\n"))
	code, err := strconv.Atoi(string(bytes.TrimSpace(line)))
	return code, err == nil
}

// printedBefore is what the shells printed before the command began.
func (f *framed) printedBefore() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return string(f.noise)
}

// ShellError is a remote command that the host's shells did not run as
// written: its begin mark never came (sudo refused, the login shell ate the
// command, a profile exited, bash or base64 missing).
type ShellError struct {
	Host   string
	Output string // the first bytes printed, stdout then stderr
	Exit   int
}

func (e *ShellError) Error() string {
	out := e.Output
	if len(out) > 300 {
		out = string(bytes.ToValidUTF8([]byte(out[:300]), nil)) + "…"
	}
	if out == "" {
		out = "nothing"
	}
	return fmt.Sprintf("host %q: the remote shell did not run the command as expected (exit %d); it printed: %q. Check the login user's shell, and with run_as the sudoers rule (see the README)",
		e.Host, e.Exit, out)
}

func firstBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return string(bytes.ToValidUTF8([]byte(s[:n]), nil)) + "…"
}
