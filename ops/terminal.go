package ops

import (
	"regexp"
	"strings"
)

// escapeSequence matches the terminal escapes programs print for colour,
// cursor moves and titles: CSI (ESC [ … final byte), OSC (ESC ] … BEL or
// ESC \), and the other ESC sequences, intermediate bytes and a final one
// (ESC ( B, which tput sgr0 prints, ESC 7, ESC =).
var escapeSequence = regexp.MustCompile(`\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[ -/]*[0-~])`)

// AsShown is remote output as a terminal would have shown it: colour and
// other escape sequences removed, a line redrawn with bare carriage returns
// (a progress bar) reduced to what it showed last, and other control
// characters dropped. Newlines and tabs stay.
func AsShown(s string) string {
	if !strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 && r != '\n' && r != '\t' || r == 0x7f }) {
		return s
	}
	s = escapeSequence.ReplaceAllString(s, "")
	lines := strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n")
	for i, line := range lines {
		if j := strings.LastIndexByte(strings.TrimRight(line, "\r"), '\r'); j >= 0 {
			line = line[j+1:]
		}
		lines[i] = strings.Map(func(r rune) rune {
			if r < 0x20 && r != '\t' || r == 0x7f {
				return -1
			}
			return r
		}, line)
	}
	return strings.Join(lines, "\n")
}
