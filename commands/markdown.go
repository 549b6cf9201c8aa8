package commands

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/format"
)

const (
	// errorTailLines is how much of a failed command's output a reply shows.
	errorTailLines = 20
	// maxBlockBytes keeps one code block well inside Matrix's 64 KiB event limit,
	// leaving room for the HTML rendering, which roughly doubles it.
	maxBlockBytes = 16 * 1024
	// maxInlineCode is the most of a value a reply shows as inline code.
	maxInlineCode = 256
)

// Render turns a reply's Markdown into notice content. A table's text form,
// as mautrix derives it from the HTML, runs the cells together; clients that
// show only the plain body get the Markdown table instead, which reads well.
func Render(md string) event.MessageEventContent {
	content := format.RenderMarkdown(md, true, false)
	if strings.Contains(content.FormattedBody, "<table>") {
		content.Body = md
	}
	content.MsgType = event.MsgNotice
	return content
}

// code renders s as inline code, safe whatever backticks it holds. A value
// longer than maxInlineCode (a huge word a user typed) is cut, so that the
// reply repeating it stays small enough for Matrix to carry.
func code(s string) string {
	if len(s) > maxInlineCode {
		s = strings.ToValidUTF8(s[:maxInlineCode], "") + "…"
	}
	return format.SafeMarkdownCode(s)
}

// escape keeps text from the outside (error messages, names) from being read as Markdown.
func escape(s string) string {
	return format.EscapeMarkdown(s)
}

// codeBlock fences remote output so that nothing in it can break the message:
// the fence is longer than any run of backticks inside. It keeps the last
// maxLines lines (0: all) and at most maxBlockBytes, and says what it cut.
func codeBlock(text string, maxLines int) string {
	text = strings.TrimRight(strings.ToValidUTF8(text, "\uFFFD"), "\n")
	lines := strings.Split(text, "\n")
	cut := 0
	if maxLines > 0 && len(lines) > maxLines {
		cut = len(lines) - maxLines
		lines = lines[cut:]
	}
	size := 0
	keep := len(lines)
	for keep > 0 && size+len(lines[keep-1])+1 <= maxBlockBytes {
		size += len(lines[keep-1]) + 1
		keep--
	}
	if keep > 0 && keep == len(lines) {
		// A single line longer than the limit: keep its tail.
		last := lines[len(lines)-1]
		start := len(last) - maxBlockBytes
		for start < len(last) && !utf8.RuneStart(last[start]) {
			start++
		}
		lines[len(lines)-1] = last[start:]
		keep = len(lines) - 1
	}
	cut += keep
	lines = lines[keep:]

	body := strings.Join(lines, "\n")
	fence := strings.Repeat("`", max(3, longestRun(body, '`')+1))
	var b strings.Builder
	if cut > 0 {
		fmt.Fprintf(&b, "_(%d earlier %s cut)_\n", cut, plural(cut, "line", "lines"))
	}
	b.WriteString(fence + "\n" + body + "\n" + fence)
	return b.String()
}

func longestRun(s string, c byte) int {
	longest, run := 0, 0
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	return longest
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// ago renders a duration the way people say it in chat: "3 s", "5 min", "2 h 10 min", "3 d 4 h".
func ago(d time.Duration) string {
	switch {
	case d < 0:
		d = 0
		fallthrough
	case d < time.Minute:
		return fmt.Sprintf("%d s", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%d min", int(d.Minutes()))
	case d < 24*time.Hour:
		h, m := int(d.Hours()), int(d.Minutes())%60
		if m == 0 {
			return fmt.Sprintf("%d h", h)
		}
		return fmt.Sprintf("%d h %d min", h, m)
	default:
		days, h := int(d.Hours())/24, int(d.Hours())%24
		if h == 0 {
			return fmt.Sprintf("%d d", days)
		}
		return fmt.Sprintf("%d d %d h", days, h)
	}
}
