package commands

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/opsroom/opsroom/ops"
)

// The homeserver refuses an event whose JSON is over 64 KiB, and it measures
// the event as it stores it: the Markdown rendered to HTML, the text carried
// twice (body and formatted_body), Go's JSON escaping of < > & (six bytes
// each), and in an encrypted room the Megolm ciphertext in base64, a third
// more than the plaintext event. Every message opsroom sends is measured that
// way, as if the room were encrypted (the worst case), and shortened until it
// fits with a margin.
const (
	// maxEventBytes is the homeserver's limit on one event's JSON.
	maxEventBytes = 64 * 1024
	// sizeMargin is kept free under the limit, for what the estimate below
	// does not see exactly.
	sizeMargin = 4 * 1024
	// maxSentSize is the most an estimated event may weigh.
	maxSentSize = maxEventBytes - sizeMargin

	// eventEnvelope is what the homeserver wraps around the content: room,
	// sender, type, timestamps, depth, auth and previous events, hashes, signatures.
	eventEnvelope = 2 * 1024
	// encryptedFields is what an encrypted event's content holds besides the
	// ciphertext: algorithm, device, sender key, session, and the relation,
	// which stays readable outside the ciphertext.
	encryptedFields = 1024
	// megolmWrapper is what the encrypted plaintext holds besides the
	// content: {"room_id":…,"type":"m.room.message","content":…}.
	megolmWrapper = 256
	// megolmFraming is a Megolm message's bytes besides its AES blocks:
	// version, message index, length, MAC and signature.
	megolmFraming = 96
	// relationAllowance leaves room in the plaintext for what is added to a
	// message after it is fitted: a reply or thread relation, mentions.
	relationAllowance = 512
	// aesBlock is the AES block size the plaintext is padded to.
	aesBlock = 16

	// maxThreadMessages is the most messages remote output takes in a thread.
	maxThreadMessages = 10
)

// sentSize is how big the event carrying content is when the homeserver gets
// it, counted as if the room were encrypted.
func sentSize(content any) int {
	data, err := json.Marshal(content)
	if err != nil {
		return math.MaxInt
	}
	plain := len(data) + megolmWrapper + relationAllowance
	cipher := (plain/aesBlock+1)*aesBlock + megolmFraming
	return base64.RawStdEncoding.EncodedLen(cipher) + encryptedFields + eventEnvelope
}

// messageSize is sentSize of md sent as a message.
func messageSize(md string) int {
	content := render(md)
	return sentSize(&content)
}

// editSize is sentSize of md sent as the edit of an earlier message, which
// carries it twice (the new content, and a fallback for old clients, unless
// mautrix drops the fallback of a long one).
func editSize(md string) int {
	content := render(md)
	content.SetEdit(id.EventID("$" + strings.Repeat("x", 43)))
	return sentSize(&content)
}

// fitMessage shortens md until it fits in one message.
func fitMessage(md string) string {
	return fitTo(md, messageSize, maxSentSize)
}

// fitEdit shortens md until it fits as the edit of a message, keeping reserve
// bytes free for what the sender adds (a line, mentions).
func fitEdit(md string, reserve int) string {
	return fitTo(md, editSize, maxSentSize-reserve)
}

// RenderEdit is the content of an edit that replaces message original with md,
// shortened until the edit fits.
func RenderEdit(md string, original id.EventID) event.MessageEventContent {
	content := render(fitEdit(md, 0))
	content.SetEdit(original)
	return content
}

// fitTo shortens md until size(md) is at most limit. Remote output is cut
// first, each fenced block keeping its tail and saying how many lines it lost
// (the largest block first); if that is not enough, the message loses its last
// lines and says how many.
func fitTo(md string, size func(string) int, limit int) string {
	if size(md) <= limit {
		return md
	}
	parts := parseParts(md)
	fits := func() bool { return size(joinParts(parts)) <= limit }
	var blocks []int
	for i, p := range parts {
		if p.block {
			blocks = append(blocks, i)
		}
	}
	slices.SortStableFunc(blocks, func(a, b int) int { return parts[b].weight() - parts[a].weight() })
	for _, i := range blocks {
		if fitBlock(parts, i, fits) {
			return joinParts(parts)
		}
	}
	return cutTail(joinParts(parts), func(s string) bool { return size(s) <= limit })
}

// fitBlock keeps as much of the tail of block i as lets the message fit and
// says whether it does; if even none of it does, the block is emptied and
// the note says how many lines it had.
func fitBlock(parts []mdPart, i int, fits func() bool) bool {
	orig := parts[i]
	n := len(orig.lines)
	try := func(p mdPart) bool {
		parts[i] = p
		return fits()
	}
	// A kept byte weighs at least 8/3 bytes in the event (body and HTML, then
	// base64): more lines than that bound allows cannot fit.
	hi, weight := 0, 0
	for hi < n && weight+(len(orig.lines[n-1-hi])+1)*8/3 <= maxSentSize {
		weight += (len(orig.lines[n-1-hi]) + 1) * 8 / 3
		hi++
	}
	keep := largest(hi, func(k int) bool { return try(orig.keepTail(k)) })
	if keep > 0 {
		parts[i] = orig.keepTail(keep)
		return true
	}
	if n > 0 {
		last := orig.lines[n-1]
		b := largest(min(len(last), maxSentSize), func(b int) bool { return try(orig.keepLastBytes(b)) })
		if b > 0 {
			parts[i] = orig.keepLastBytes(b)
			return true
		}
	}
	parts[i] = orig.keepTail(0)
	return fits()
}

// largest is the largest k in [1, hi] for which ok holds, assuming that ok
// holds up to some k and not beyond, or 0 if it holds for none.
func largest(hi int, ok func(int) bool) int {
	lo := 0
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if ok(mid) {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return lo
}

// cutTail keeps the first lines of md that fit and says how many it cut; a
// first line too long on its own keeps its start.
func cutTail(md string, fits func(string) bool) string {
	lines := strings.Split(md, "\n")
	build := func(k int) string {
		var b strings.Builder
		b.WriteString(strings.Join(lines[:k], "\n"))
		if fence := openFence(lines[:k]); fence != "" {
			b.WriteString("\n" + fence)
		}
		cut := len(lines) - k
		fmt.Fprintf(&b, "\n\n_… %d more %s cut_", cut, ops.Plural(cut, "line", "lines"))
		return b.String()
	}
	if k := largest(len(lines)-1, func(k int) bool { return fits(build(k)) }); k > 0 {
		return build(k)
	}
	first := lines[0]
	start := func(b int) string {
		for b > 0 && !utf8.RuneStart(first[b]) {
			b--
		}
		return first[:b]
	}
	build = func(b int) string {
		kept := start(b)
		return fmt.Sprintf("%s…\n\n_… %d more bytes cut_", kept, len(md)-len(kept))
	}
	b := largest(min(len(first)-1, maxSentSize), func(b int) bool { return fits(build(b)) })
	return build(b)
}

// openFence is the fence a code block opened in lines and not yet closed, or "".
func openFence(lines []string) string {
	fence := ""
	for _, l := range lines {
		switch {
		case fence == "" && isFence(l):
			fence = l
		case fence != "" && l == fence:
			fence = ""
		}
	}
	return fence
}

func isFence(line string) bool {
	return len(line) >= 3 && strings.Trim(line, "`") == ""
}

// mdPart is a piece of a message: Markdown lines, or a fenced block of remote
// output with the note of what was cut from its start.
type mdPart struct {
	text    []string
	block   bool
	fence   string
	lines   []string
	cut     int  // lines cut before the first one kept
	partial bool // the first line kept lost its start
}

// weight is the part's size, to cut the largest block first.
func (p mdPart) weight() int {
	w := 0
	for _, l := range p.lines {
		w += len(l) + 1
	}
	return w
}

// keepTail keeps the last k lines.
func (p mdPart) keepTail(k int) mdPart {
	n := len(p.lines)
	q := p
	q.lines = p.lines[n-k:]
	q.cut = p.cut + n - k
	q.partial = p.partial && k == n
	return q
}

// keepLastBytes keeps the last b bytes of the last line, and no other line.
func (p mdPart) keepLastBytes(b int) mdPart {
	n := len(p.lines)
	last := p.lines[n-1]
	start := len(last) - b
	for start < len(last) && !utf8.RuneStart(last[start]) {
		start++
	}
	q := p
	q.lines = []string{last[start:]}
	q.cut = p.cut + n - 1
	q.partial = p.partial || start > 0
	return q
}

// cutNote says what was cut from the start of a block: "_… 412 earlier lines cut_".
func cutNote(lines int, partial bool) string {
	switch {
	case lines > 0 && partial:
		return fmt.Sprintf("_… %d earlier %s cut, and the start of the next_", lines, ops.Plural(lines, "line", "lines"))
	case lines > 0:
		return fmt.Sprintf("_… %d earlier %s cut_", lines, ops.Plural(lines, "line", "lines"))
	case partial:
		return "_… the start of the line below cut_"
	}
	return ""
}

var cutNoteRE = regexp.MustCompile(`^_… (?:(\d+) earlier lines? cut(, and the start of the next)?|(the start of the line below) cut)_$`)

// parseParts splits md into its fenced blocks and the text around them; a
// cut note right before a block is read into the block.
func parseParts(md string) []mdPart {
	lines := strings.Split(md, "\n")
	var parts []mdPart
	var text []string
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		end := -1
		if isFence(l) {
			for j := i + 1; j < len(lines); j++ {
				if lines[j] == l {
					end = j
					break
				}
			}
		}
		if end < 0 {
			text = append(text, l)
			continue
		}
		blk := mdPart{block: true, fence: l, lines: lines[i+1 : end]}
		if n := len(text); n > 0 {
			if m := cutNoteRE.FindStringSubmatch(text[n-1]); m != nil {
				blk.cut, _ = strconv.Atoi(m[1])
				blk.partial = m[2] != "" || m[3] != ""
				text = text[:n-1]
			}
		}
		if len(text) > 0 {
			parts = append(parts, mdPart{text: text})
		}
		text = nil
		parts = append(parts, blk)
		i = end
	}
	if len(text) > 0 || len(parts) == 0 {
		parts = append(parts, mdPart{text: text})
	}
	return parts
}

// joinParts is the Markdown of parts.
func joinParts(parts []mdPart) string {
	var out []string
	for _, p := range parts {
		if !p.block {
			out = append(out, p.text...)
			continue
		}
		if note := cutNote(p.cut, p.partial); note != "" {
			out = append(out, note)
		}
		if len(p.lines) > 0 {
			out = append(out, p.fence)
			out = append(out, p.lines...)
			out = append(out, p.fence)
		}
	}
	return strings.Join(out, "\n")
}

// textWeight is about how many bytes text adds to a sent event as the content
// of a code block: once in the body, once HTML-escaped in the formatted body,
// both JSON-escaped as Go does it, then base64 of the ciphertext.
func textWeight(text string) int {
	w := 0
	for _, r := range text {
		switch {
		case r == '<' || r == '>':
			w += 6 + 9 // \u003c, and \u0026lt;
		case r == '&':
			w += 6 + 10 // \u0026, and \u0026amp;
		case r == '"':
			w += 2 + 11 // \", and \u0026quot;
		case r == '\\' || r == '\n' || r == '\t' || r == '\r':
			w += 2 + 2
		case r < 0x20 || r == 0x2028 || r == 0x2029 || r == utf8.RuneError:
			w += 6 + 6
		default:
			w += 2 * utf8.RuneLen(r)
		}
	}
	return w * 4 / 3
}

// threadOutput splits remote output over as many messages as it takes, each
// one fenced and fitting, at most maxMessages of them: output that needs more
// keeps its tail, and the first message says how many lines were cut. The
// first message starts with title; each says which part it is.
func threadOutput(title, out string, maxMessages int) []string {
	text := strings.TrimRight(strings.ToValidUTF8(out, "\uFFFD"), "\n")
	lines := strings.Split(text, "\n")
	header := func(part, parts int) string {
		if parts == 1 {
			return title + "\n\n"
		}
		h := fmt.Sprintf("(part %d of %d)\n\n", part, parts)
		if part == 1 {
			h = title + " " + h
		}
		return h
	}
	// Each message is built from the end: the last lines that fit in it.
	var chunks []mdPart
	worst := header(1, 999) // the longest header a message can get
	for len(lines) > 0 && len(chunks) < maxMessages {
		blk := mdPart{block: true, lines: lines}
		fits := func(p mdPart) bool {
			p.fence = fenceFor(p.lines)
			p.cut, p.partial = len(lines), true // room for a note
			return messageSize(worst+joinParts([]mdPart{p})) <= maxSentSize
		}
		hi, weight := 0, 0
		for hi < len(lines) && weight+(len(lines[len(lines)-1-hi])+1)*8/3 <= maxSentSize {
			weight += (len(lines[len(lines)-1-hi]) + 1) * 8 / 3
			hi++
		}
		k := largest(hi, func(k int) bool { return fits(blk.keepTail(k)) })
		if k > 0 {
			chunks = append(chunks, mdPart{block: true, lines: lines[len(lines)-k:]})
			lines = lines[:len(lines)-k]
			continue
		}
		// One line too long for a message: its tail goes in this one, the rest in the next.
		last := lines[len(lines)-1]
		b := largest(len(last)-1, func(b int) bool { return fits(blk.keepLastBytes(b)) })
		tail := ""
		if b > 0 {
			tail = blk.keepLastBytes(b).lines[0]
		}
		if tail == "" {
			break // not even a character fits: the title is too long
		}
		chunks = append(chunks, mdPart{block: true, lines: []string{tail}})
		lines = append(lines[:len(lines)-1:len(lines)-1], last[:len(last)-len(tail)])
	}
	slices.Reverse(chunks)
	if len(chunks) > 0 {
		chunks[0].cut = len(lines)
	}
	msgs := make([]string, len(chunks))
	for i, c := range chunks {
		c.fence = fenceFor(c.lines)
		msgs[i] = header(i+1, len(chunks)) + joinParts([]mdPart{c})
	}
	return msgs
}

// fenceFor is a fence longer than any run of backticks in lines.
func fenceFor(lines []string) string {
	longest := 0
	for _, l := range lines {
		longest = max(longest, longestRun(l, '`'))
	}
	return strings.Repeat("`", max(3, longest+1))
}
