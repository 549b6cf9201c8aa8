package config

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

var syntaxLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// SyntaxError explains a YAML parse error of the file at path: the line the
// parser names and the lines around it, and, since an unclosed quote makes
// the parser stop lines away from it, the first line that opens a quote
// without closing it.
func SyntaxError(path string, data []byte, err error) error {
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if m := syntaxLineRE.FindStringSubmatch(err.Error()); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	}
	var b strings.Builder
	if line > 0 {
		fmt.Fprintf(&b, "%s:%d: YAML syntax: %s\n", path, line, msg)
		writeContext(&b, lines, line)
	} else {
		fmt.Fprintf(&b, "%s: YAML syntax: %s\n", path, msg)
	}
	// The quote's string runs on to the next quote, so the parser may name a
	// line before it as well as after.
	if q := unclosedQuote(lines); q > 0 && q != line {
		fmt.Fprintf(&b, "line %d opens a quote it does not close, which may be the real mistake:\n", q)
		writeContext(&b, lines, q)
	}
	return fmt.Errorf("%s", strings.TrimRight(b.String(), "\n"))
}

// writeContext writes lines line-2 to line+2, marking line.
func writeContext(b *strings.Builder, lines []string, line int) {
	for i := max(1, line-2); i <= min(len(lines), line+2); i++ {
		mark := "  "
		if i == line {
			mark = "> "
		}
		fmt.Fprintf(b, "  %s%4d | %s\n", mark, i, lines[i-1])
	}
}

// unclosedQuote is the number of the first line whose value starts with a
// quote that the line does not close, or 0.
func unclosedQuote(lines []string) int {
	for i, l := range lines {
		v := strings.TrimSpace(l)
		if strings.HasPrefix(v, "#") {
			continue
		}
		v = strings.TrimLeft(strings.TrimPrefix(v, "- "), " ")
		if _, after, ok := strings.Cut(v, ": "); ok && !strings.HasPrefix(v, `"`) && !strings.HasPrefix(v, "'") {
			v = strings.TrimSpace(after)
		}
		if v == "" || (v[0] != '"' && v[0] != '\'') {
			continue
		}
		if !closes(v[1:], v[0]) {
			return i + 1
		}
	}
	return 0
}

// closes says whether s (what follows an opening quote q) holds its closing quote.
func closes(s string, q byte) bool {
	for i := 0; i < len(s); i++ {
		switch {
		case q == '"' && s[i] == '\\':
			i++
		case s[i] == q && q == '\'' && i+1 < len(s) && s[i+1] == '\'':
			i++
		case s[i] == q:
			return true
		}
	}
	return false
}
