package commands

import (
	"fmt"
	"strings"
	"time"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/format"
)

const (
	// errorTailLines is how much of a failed command's output a reply shows.
	errorTailLines = 20
	// maxBlockWeight is the most one code block may add to a sent event (see
	// textWeight), so that a message with one block and a few lines around it
	// fits even as an edit, which carries it twice.
	maxBlockWeight = 20 * 1024
	// maxInlineCode is the most of a value a reply shows as inline code.
	maxInlineCode = 256
)

// Render turns a reply's Markdown into notice content, shortened until the
// sent event fits (see fitMessage). A table's text form, as mautrix derives
// it from the HTML, runs the cells together; clients that show only the plain
// body get the Markdown table instead, which reads well.
func Render(md string) event.MessageEventContent {
	return render(fitMessage(md))
}

// render is Render without the fitting.
func render(md string) event.MessageEventContent {
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
// maxLines lines (0: all), and of those as many as weigh at most
// maxBlockWeight, and says what it cut.
func codeBlock(text string, maxLines int) string {
	return fencedTail(text, maxLines, maxBlockWeight)
}

// fencedTail is codeBlock with a weight of one's own: a reply whose only
// block is its point gives it all the room a message has, and the fitting
// of the message cuts it to the byte.
func fencedTail(text string, maxLines, maxWeight int) string {
	text = strings.TrimRight(strings.ToValidUTF8(text, "\uFFFD"), "\n")
	lines := strings.Split(text, "\n")
	blk := mdPart{block: true, lines: lines}
	if maxLines > 0 && len(lines) > maxLines {
		blk = blk.keepTail(maxLines)
	}
	n := len(blk.lines)
	keep, weight := 0, 0
	for keep < n {
		w := textWeight(blk.lines[n-1-keep]) + textWeight("\n")
		if weight+w > maxWeight {
			break
		}
		weight += w
		keep++
	}
	if keep > 0 {
		blk = blk.keepTail(keep)
	} else {
		// A single line heavier than the limit: keep its tail.
		last := blk.lines[n-1]
		b := largest(len(last), func(b int) bool { return textWeight(last[len(last)-b:]) <= maxWeight })
		blk = blk.keepLastBytes(max(b, 1))
	}
	blk.fence = fenceFor(blk.lines)
	return joinParts([]mdPart{blk})
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

// nameList names the first most of names, and how many more there are: "a, b and 3 more".
func nameList(names []string, most int) string {
	list := strings.Join(names[:min(len(names), most)], ", ")
	if more := len(names) - most; more > 0 {
		list += fmt.Sprintf(" and %d more", more)
	}
	return list
}
