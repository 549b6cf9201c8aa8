package commands

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/commands"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/format"
	"maunium.net/go/mautrix/id"

	"github.com/opsroom/opsroom/ops"
	"github.com/opsroom/opsroom/store"
)

// The whole way from a message body to the remote shell, fuzzed: mautrix's
// processor parses the body, the registry checks the arguments, the handler
// looks the service up and the fleet builds its commands and sends them over a
// real SSH connection, to a host in this process that records them. The
// property: nothing the user typed reaches the host except the validated
// LINES as a decimal integer and the validated COMMIT of a rollback (hex
// digits), single-quoted; every other word of every remote command is one
// that the same command without any user input (just the verb and a
// configured service name) also produces. Nothing panics, every command gets
// an answer, and no answer is too big for Matrix to carry.

// maxEventContent is what a message's content may weigh for the homeserver to
// take it: Matrix limits a whole event to 64 KiB, and the envelope (IDs,
// hashes, signatures) takes some of that.
const maxEventContent = 64*1024 - 1024

// fuzzServices are configured with values that need quoting, so that a
// recipe that forgot to quote would show in the shell.
func fuzzServices() map[string]*ops.ServiceConfig {
	return map[string]*ops.ServiceConfig{
		"web": {Host: "box", Kind: ops.KindContainer, Container: "web-1"},
		"app": {Host: "box", Kind: ops.KindCompose, Container: "app-1", ComposeService: "app",
			Directory: `/srv/it's "our" app $(id)`, GitBranch: "main"},
		"db.v2": {Host: "box", Kind: ops.KindContainer, Container: "db_2",
			Actions: map[string]string{"logs": "journalctl -n {lines} -u db"}},
	}
}

// fuzzVerbs are run, each with every service, to learn the words commands
// produce without user input.
var fuzzVerbs = []string{"status", "logs", "restart", "stop", "start", "check", "update", "rollback",
	"cancel", "alerts", "mute %s 10m", "unmute"}

var fuzzSeeds = []struct{ body, html string }{
	{"!status", ""},
	{"!st all", ""},
	{"!logs web 5", ""},
	{"!logs db.v2 500", ""},
	{"!logs web 501", ""},
	{"!logs web 0", ""},
	{"!logs web -1", ""},
	{"!logs web +7", ""},
	{"!logs web 007", ""},
	{"!logs web 1e3", ""},
	{"!logs web ５", ""},
	{"!logs web ٥", ""},
	{"!logs web 5 6", ""},
	{"!logs web 9223372036854775808", ""},
	{"!restart web; id", ""},
	{"!restart 'web'", ""},
	{`!restart "web"`, ""},
	{"!restart web`id`", ""},
	{"!restart $(id)", ""},
	{"!restart web\nid", ""},
	{"!restart\tweb", ""},
	{"!restart web\x00", ""},
	{"!restart wеb", ""},
	{"!restart ｗｅｂ", ""},
	{"！restart web", ""},
	{"!RESTART web", ""},
	{"!restart web\u200b", ""},
	{"!restart -rf", ""},
	{"!restart --help", ""},
	{"!update app && id", ""},
	{"!update ../app", ""},
	{"!update app", ""},
	{"!rollback app", ""},
	{"!rollback app 0123abc", ""},
	{"!rollback app 0123abc;id", ""},
	{"!rollback app 0123ABC", ""},
	{"!rollback web 0123abc", ""},
	{"!check app", ""},
	{"!cancel app", ""},
	{"!mute web 10m", ""},
	{"!mute web 1d;id", ""},
	{"!mute web 99999999999999d", ""},
	{"!mute web -5m", ""},
	{"!unmute web", ""},
	{"!alerts web", ""},
	{"!watch", ""},
	{"!help me", ""},
	{"!services x", ""},
	{"!", ""},
	{"!!", ""},
	{"! status", ""},
	{"!__unknown-command__", ""},
	{"\xff\xfe!status", ""},
	{"!status \xff\xfe", ""},
	{"!logs web 5\n!restart web", ""},
	{"!status " + strings.Repeat("x", 60000), ""},
	{"!" + strings.Repeat("frobnicate", 6000), ""},
	{"!logs web " + strings.Repeat("9", 60000), ""},
	{"!mute web " + strings.Repeat("1", 60000), ""},
	{"!status " + strings.Repeat("a ", 30000), ""},
	{"!restart " + strings.Repeat("'", 60000), ""},
	{"!status", "<b>!restart</b> web"},
	{"!status", `!restart <a href="https://matrix.to/#/@x:y">web</a>`},
	{"!status", "<pre>!logs web 5\n; id</pre>"},
}

func FuzzCommand(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s.body, s.html)
	}
	w := newFuzzWorld(f)
	f.Fuzz(func(t *testing.T, body, html string) {
		text := body
		if html != "" {
			text = commands.IDHTMLParser.Parse(html, format.NewContext(context.Background()))
		}
		evt, sent, remote := w.send(body, html)
		for _, s := range sent {
			if s.err != "" {
				t.Errorf("the answer to %.300q was refused by the homeserver: %s", body, s.err)
			}
			if s.evtType == event.EventReaction.Type {
				t.Errorf("%.300q made the bot react %.300q: a handler panicked", body, s.reaction)
			}
		}
		parts := strings.Fields(text)
		if len(parts) == 0 || !strings.HasPrefix(parts[0], Prefix) {
			if len(sent)+len(remote) > 0 {
				t.Fatalf("%.300q is not a command, yet the bot sent %d events and ran %.300q", text, len(sent), remote)
			}
			return
		}
		if !answered(sent, evt) {
			t.Errorf("no answer to %.300q", text)
		}
		verb, args := strings.ToLower(parts[0])[len(Prefix):], parts[1:]
		words := w.wordsFor(verb, args)
		lines, commit := validLines(verb, args), validCommit(verb, args)
		for _, cmd := range remote {
			if words == nil {
				t.Fatalf("%.300q names no service, yet %.300q ran on the host", text, cmd)
			}
			toks, err := leafWords(cmd)
			if err != nil {
				t.Fatalf("%.300q: the remote command %.300q is not plain quoted words: %v", text, cmd, err)
			}
			for _, tok := range toks {
				if !words[tok.raw] && (tok.quoted || tok.raw != lines) && tok.raw != commit {
					t.Fatalf("%.300q: the remote command %.300q has the word %.300q, which the command does not have without user input",
						text, cmd, tok.raw)
				}
			}
		}
	})
}

// wordsFor is what the remote commands of verb with args may be made of: the
// words learned for the service named, or for all services; nil if the
// command names none, and so must run nothing on a host.
func (w *fuzzWorld) wordsFor(verb string, args []string) map[string]bool {
	if len(args) > 0 {
		if words, ok := w.words[args[0]]; ok {
			return words
		}
	}
	if (verb == "status" || verb == "st") && (len(args) == 0 || args[0] == "all") {
		return w.words[""]
	}
	return nil
}

// validLines is the LINES of a logs command as the bot must pass it on: a
// whole number from 1 to 500, written plainly; "" if there is none.
func validLines(verb string, args []string) string {
	if verb != "logs" || len(args) != 2 {
		return ""
	}
	n, err := strconv.Atoi(args[1])
	if err != nil || n < 1 || n > maxLogLines {
		return ""
	}
	return strconv.Itoa(n)
}

// validCommit is the word the COMMIT of a rollback must be passed on in
// (git rev-parse --verify 'COMMIT'^{commit}): 7 to 64 lowercase hex digits,
// quoted; "" if there is none.
func validCommit(verb string, args []string) string {
	if verb != "rollback" || len(args) != 2 || len(args[1]) < 7 || len(args[1]) > 64 ||
		strings.Trim(args[1], "0123456789abcdef") != "" {
		return ""
	}
	return ops.Quote(args[1]) + "^{commit}"
}

func answered(sent []sentEvent, cmd id.EventID) bool {
	for _, s := range sent {
		if s.replyTo == cmd && s.err == "" {
			return true
		}
	}
	return false
}

// fuzzWorld is the bot's command side wired to a host and a homeserver that
// live in the test process.
type fuzzWorld struct {
	host  *recordingHost
	hs    *recordingHomeserver
	proc  *commands.Processor[*Deps]
	ctx   context.Context
	count int
	// words are the words of the remote commands run for each service (and
	// for "", all of them) when no user input is involved.
	words map[string]map[string]bool
}

func newFuzzWorld(f *testing.F) *fuzzWorld {
	f.Helper()
	dir := f.TempDir()
	ctx := zerolog.New(io.Discard).WithContext(context.Background())
	host := startRecordingHost(f, dir)
	cfg := &ops.Config{
		Hosts: map[string]*ops.HostConfig{"box": {Address: host.addr, User: "deploy", IdentityFile: host.identity,
			KnownHosts: host.knownHosts, RunAs: "deploy", ComposeCommand: "docker-compose"}},
		Services: fuzzServices(),
		Watch:    ops.WatchConfig{Disabled: true},
	}
	if errs, _ := cfg.Validate(); len(errs) > 0 {
		f.Fatalf("config: %v", errs)
	}
	fleet, err := ops.NewFleet(cfg)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = fleet.Close() })
	st, err := store.Open(ctx, filepath.Join(dir, "opsroom.db"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = st.Close() })
	hs := &recordingHomeserver{}
	srv := httptest.NewServer(hs)
	f.Cleanup(srv.Close)
	cli, err := mautrix.NewClient(srv.URL, "@opsroom:fuzz.test", "token")
	if err != nil {
		f.Fatal(err)
	}
	w := &fuzzWorld{host: host, hs: hs, ctx: ctx, words: map[string]map[string]bool{},
		proc: NewProcessor(cli, &Deps{Fleet: fleet, Store: st, EditInterval: 20 * time.Millisecond,
			Access: Access{Operators: []string{fuzzSender}}})}
	w.learn(f, "", "!status", "!status all")
	for name := range cfg.Services {
		var msgs []string
		for _, v := range fuzzVerbs {
			if !strings.Contains(v, "%s") {
				v += " %s"
			}
			msgs = append(msgs, Prefix+fmt.Sprintf(v, name))
		}
		w.learn(f, name, msgs...)
	}
	if !w.words["app"]["'main'"] || !w.words["db.v2"]["journalctl"] {
		f.Fatalf("learning the words of remote commands went wrong: %v", w.words)
	}
	return w
}

// learn runs messages with no user input but a service name and records the
// words of the remote commands they cause.
func (w *fuzzWorld) learn(f *testing.F, service string, msgs ...string) {
	f.Helper()
	words := map[string]bool{}
	for _, msg := range msgs {
		evt, sent, remote := w.send(msg, "")
		if !answered(sent, evt) {
			f.Fatalf("no answer to %.300q", msg)
		}
		for _, cmd := range remote {
			toks, err := leafWords(cmd)
			if err != nil {
				f.Fatalf("%.300q ran %.300q: %v", msg, cmd, err)
			}
			for _, tok := range toks {
				words[tok.raw] = true
			}
		}
	}
	w.words[service] = words
}

// send hands one message to the processor, as the bot does, and returns what
// was sent to the room and run on the host because of it.
func (w *fuzzWorld) send(body, html string) (id.EventID, []sentEvent, []string) {
	w.count++
	content := &event.MessageEventContent{MsgType: event.MsgText, Body: body}
	if html != "" {
		content.Format, content.FormattedBody = event.FormatHTML, html
	}
	evt := &event.Event{
		Type:      event.EventMessage,
		Sender:    fuzzSender,
		RoomID:    "!ops:fuzz.test",
		ID:        id.EventID(fmt.Sprintf("$command%d", w.count)),
		Timestamp: time.Now().UnixMilli(),
		Content:   event.Content{Parsed: content},
	}
	w.proc.Process(w.ctx, evt)
	return evt.ID, w.hs.take(), w.host.take()
}

// recordingHomeserver takes every event the bot sends, refusing those that
// are too big as a homeserver would.
type recordingHomeserver struct {
	recording[sentEvent]
}

type sentEvent struct {
	evtType  string
	replyTo  id.EventID
	reaction string
	err      string // why the homeserver refused it
}

func (hs *recordingHomeserver) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	// PUT /_matrix/client/v3/rooms/{room}/send/{type}/{txn}
	parts := strings.Split(r.URL.Path, "/")
	if r.Method != http.MethodPut || len(parts) < 3 || parts[len(parts)-3] != "send" {
		_, _ = rw.Write([]byte("{}"))
		return
	}
	data, _ := io.ReadAll(r.Body)
	s := sentEvent{evtType: parts[len(parts)-2]}
	var content struct {
		RelatesTo struct {
			InReplyTo struct {
				EventID id.EventID `json:"event_id"`
			} `json:"m.in_reply_to"`
			Key string `json:"key"`
		} `json:"m.relates_to"`
	}
	if err := json.Unmarshal(data, &content); err != nil {
		s.err = "not JSON: " + err.Error()
	}
	s.replyTo, s.reaction = content.RelatesTo.InReplyTo.EventID, content.RelatesTo.Key
	if len(data) > maxEventContent {
		s.err = fmt.Sprintf("M_TOO_LARGE: %d bytes of content", len(data))
	}
	n := hs.add(s)
	if s.err != "" {
		rw.WriteHeader(http.StatusRequestEntityTooLarge)
		_, _ = fmt.Fprintf(rw, `{"errcode":"M_TOO_LARGE","error":%q}`, s.err)
		return
	}
	_, _ = fmt.Fprintf(rw, `{"event_id":"$sent%d"}`, n)
}

// recording is a list one side adds to and the test takes, emptying it.
type recording[T any] struct {
	mu    sync.Mutex
	items []T
}

func (r *recording[T]) add(v T) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.items = append(r.items, v)
	return len(r.items)
}

func (r *recording[T]) take() []T {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.items
	r.items = nil
	return out
}

// recordingHost is an SSH server that records each command it is asked to
// run and answers like a host whose git and docker work.
type recordingHost struct {
	addr, identity, knownHosts string
	recording[string]
}

const fuzzSender = "@alice:fuzz.test"

const (
	headCommit   = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	remoteCommit = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
)

func startRecordingHost(f *testing.F, dir string) *recordingHost {
	f.Helper()
	_, hostSigner := newKey(f)
	clientKey, clientSigner := newKey(f)
	cfg := &ssh.ServerConfig{PublicKeyCallback: func(_ ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
		if string(key.Marshal()) != string(clientSigner.PublicKey().Marshal()) {
			return nil, errors.New("unknown key")
		}
		return nil, nil
	}}
	cfg.AddHostKey(hostSigner)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = ln.Close() })
	h := &recordingHost{
		addr:       ln.Addr().String(),
		identity:   filepath.Join(dir, "id_ed25519"),
		knownHosts: filepath.Join(dir, "known_hosts"),
	}
	block, err := ssh.MarshalPrivateKey(clientKey, "")
	if err != nil {
		f.Fatal(err)
	}
	line := knownhosts.Line([]string{knownhosts.Normalize(h.addr)}, hostSigner.PublicKey())
	if err := os.WriteFile(h.identity, pem.EncodeToMemory(block), 0o600); err != nil {
		f.Fatal(err)
	}
	if err := os.WriteFile(h.knownHosts, []byte(line+"\n"), 0o600); err != nil {
		f.Fatal(err)
	}
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go h.serve(nc, cfg)
		}
	}()
	return h
}

func newKey(f *testing.F) (ed25519.PrivateKey, ssh.Signer) {
	f.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(key)
	if err != nil {
		f.Fatal(err)
	}
	return key, signer
}

func (h *recordingHost) serve(nc net.Conn, cfg *ssh.ServerConfig) {
	_, chans, reqs, err := ssh.NewServerConn(nc, cfg)
	if err != nil {
		return
	}
	go ssh.DiscardRequests(reqs)
	for nch := range chans {
		if nch.ChannelType() != "session" {
			_ = nch.Reject(ssh.UnknownChannelType, "sessions only")
			continue
		}
		ch, chReqs, err := nch.Accept()
		if err != nil {
			continue
		}
		go h.session(ch, chReqs)
	}
}

func (h *recordingHost) session(ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	for req := range reqs {
		if req.Type != "exec" {
			_ = req.Reply(false, nil)
			continue
		}
		var payload struct{ Command string }
		if err := ssh.Unmarshal(req.Payload, &payload); err != nil {
			_ = req.Reply(false, nil)
			return
		}
		_ = req.Reply(true, nil)
		h.add(payload.Command)
		// Answer as a host's shells do: a banner, then the command's output inside the envelope's marks.
		cmd, begin, end, err := unwrapEnvelope(payload.Command)
		if err != nil {
			_, _ = io.WriteString(ch.Stderr(), err.Error())
			_, _ = ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{2}))
			return
		}
		_, _ = io.WriteString(ch, "Welcome to the recording host\n"+begin+"\n"+answer(cmd)+"\n"+end+" 0\n")
		group := ""
		if strings.HasPrefix(cmd, "exec setsid --wait ") {
			group = "opsroom-pgid=4242\n"
		}
		_, _ = io.WriteString(ch.Stderr(), "motd\n"+begin+"\n"+group+"\n"+end+"\n")
		_, _ = ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{0}))
		return
	}
}

// answer is what a healthy host prints: enough for an update to get through
// its stages with a new commit.
func answer(cmd string) string {
	switch {
	case strings.Contains(cmd, "rev-parse HEAD"):
		return headCommit + "\n"
	case strings.Contains(cmd, "rev-parse --verify"):
		return remoteCommit + "\n"
	case strings.Contains(cmd, "rev-list --count"):
		return "1\n"
	case strings.Contains(cmd, "log --format"):
		return "bbbbbbb the new commit\n"
	}
	return ""
}

// shellWord is one word of a command line.
type shellWord struct {
	raw    string // as written
	value  string // what the shell makes of it
	quoted bool   // some of it was in single quotes
}

// shellWords splits a command line the way bash does, for the plain subset of
// shell the recipes write: words separated by spaces, made of bare text,
// single-quoted text and \' (how Quote writes a quote). Anything outside that
// subset (other whitespace or control characters, another escape, an
// unterminated quote) is an error. Bare text is not interpreted: it may hold
// operators such as && or 2>&1, so callers take a bare word only as a whole.
func shellWords(line string) ([]shellWord, error) {
	var out []shellWord
	var raw, value []byte
	inWord, inQuote, quoted := false, false, false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case inQuote:
			if c == '\'' {
				inQuote = false
			} else {
				value = append(value, c)
			}
		case c == ' ':
			if inWord {
				out = append(out, shellWord{raw: string(raw), value: string(value), quoted: quoted})
			}
			raw, value, inWord, quoted = nil, nil, false, false
			continue
		case c == '\'':
			inQuote, quoted = true, true
		case c == '\\':
			if i+1 >= len(line) || line[i+1] != '\'' {
				return nil, fmt.Errorf("a backslash not before a quote at byte %d", i)
			}
			raw = append(raw, c)
			value = append(value, '\'')
			quoted = true
			i++
			c = '\''
		case c < ' ' || c == 0x7f:
			return nil, fmt.Errorf("control character %q outside quotes at byte %d", c, i)
		default:
			value = append(value, c)
		}
		raw = append(raw, c)
		inWord = true
	}
	if inQuote {
		return nil, errors.New("unterminated quote")
	}
	if inWord {
		out = append(out, shellWord{raw: string(raw), value: string(value), quoted: quoted})
	}
	return out, nil
}

// TestShellWordsAgreeWithBash: shellWords reads quoted words as bash does,
// so the fuzz test's reading of remote commands is bash's. (Bare words may hold
// operators, such as && or 2>&1; the fuzz test takes them only as whole words
// that a command without user input has too.)
func TestShellWordsAgreeWithBash(t *testing.T) {
	for _, line := range []string{
		"docker logs --tail 50 " + ops.Quote("web-1"),
		"git -C " + ops.Quote(`/srv/it's "our" app $(id)`) + " rev-parse --verify " + ops.Quote("origin/main") + "^{commit}",
		ops.Quote("a b") + ops.Quote("'c'") + " " + ops.Quote("") + " " + ops.Quote("\n;`$ \t"),
		"sudo -n -iu 'deploy' bash -lc " + ops.Quote("docker restart "+ops.Quote("it's")),
	} {
		words, err := shellWords(line)
		if err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		var want []string
		for _, w := range words {
			want = append(want, w.value)
		}
		out, err := exec.Command("bash", "-c", "printf '%s\\0' "+line).Output()
		if err != nil {
			t.Fatalf("bash on %q: %v", line, err)
		}
		if got := strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00"); !slices.Equal(got, want) {
			t.Errorf("bash splits %q into %q, shellWords into %q", line, got, want)
		}
	}
	for _, line := range []string{"a\nb", "a\tb", "'open", `a\b`, "a\\"} {
		if _, err := shellWords(line); err == nil {
			t.Errorf("shellWords took %q, which is outside the subset it knows", line)
		}
	}
}

var (
	envelopeLine   = regexp.MustCompile(`^echo ([A-Za-z0-9+/=]+) \| base64 -d \| bash$`)
	envelopeScript = regexp.MustCompile(`(?s)^\{\nprintf '%s\\n' (opsroom-[0-9a-f]+-begin); printf '%s\\n' opsroom-[0-9a-f]+-begin >&2\n\(\n:\n(.*)\n\)\nr=\$\?\nprintf '\\n%s %s\\n' (opsroom-[0-9a-f]+-end) "\$r"; .*\} </dev/null\n$`)
)

// unwrapEnvelope reads the command opsroom sent as a host's shells do: through
// run_as's `sudo -n -iu USER bash -lc LINE`, then the envelope's base64, and
// returns the command and the marks its output must carry.
func unwrapEnvelope(line string) (cmd, begin, end string, err error) {
	words, err := shellWords(line)
	if err != nil {
		return "", "", "", err
	}
	if len(words) == 7 && rawPrefix(words, "sudo", "-n", "-iu") && rawPrefix(words[4:], "bash", "-lc") {
		line = words[6].value
	}
	m := envelopeLine.FindStringSubmatch(line)
	if m == nil {
		return "", "", "", fmt.Errorf("not an enveloped command: %.200q", line)
	}
	script, err := base64.StdEncoding.DecodeString(m[1])
	if err != nil {
		return "", "", "", err
	}
	sm := envelopeScript.FindStringSubmatch(string(script))
	if sm == nil {
		return "", "", "", fmt.Errorf("not an envelope's script: %.300q", script)
	}
	return sm[2], sm[1], sm[3], nil
}

// leafWords splits a remote command into words, and the commands nested in it
// (run_as's sudo and the envelope, a process group's `exec setsid --wait bash
// -c SCRIPT opsroom CMD`) into theirs, in place of the nested command.
func leafWords(line string) ([]shellWord, error) {
	if cmd, _, _, err := unwrapEnvelope(line); err == nil {
		line = cmd
	}
	words, err := shellWords(line)
	if err != nil {
		return nil, err
	}
	nested := -1
	switch {
	case len(words) == 8 && rawPrefix(words, "exec", "setsid", "--wait", "bash", "-c") && words[6].raw == "opsroom":
		nested = 7
	}
	if nested < 0 {
		return words, nil
	}
	inner, err := leafWords(words[nested].value)
	if err != nil {
		return nil, fmt.Errorf("in %.300q: %w", words[nested].value, err)
	}
	return append(words[:nested:nested], inner...), nil
}

func rawPrefix(words []shellWord, want ...string) bool {
	for i, w := range want {
		if words[i].raw != w {
			return false
		}
	}
	return true
}
