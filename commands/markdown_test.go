package commands

import (
	"strings"
	"testing"
	"time"
)

func TestCodeBlockKeepsTheTailAndSaysWhatItCut(t *testing.T) {
	var lines []string
	for i := 1; i <= 30; i++ {
		lines = append(lines, "line "+string(rune('a'+i%26)))
	}
	got := codeBlock(strings.Join(lines, "\n")+"\n", 5)
	if !strings.HasPrefix(got, "_… 25 earlier lines cut_\n```\n") {
		t.Errorf("block does not start by saying 25 lines were cut:\n%s", got)
	}
	if !strings.HasSuffix(got, strings.Join(lines[25:], "\n")+"\n```") {
		t.Errorf("block does not end with the last 5 lines:\n%s", got)
	}
}

func TestCodeBlockFenceOutlastsBackticksInTheOutput(t *testing.T) {
	got := codeBlock("before\n```\n````\nafter", 0)
	if !strings.HasPrefix(got, "`````\n") || !strings.HasSuffix(got, "\n`````") {
		t.Errorf("fence must be longer than the 4 backticks inside:\n%s", got)
	}
}

func TestCodeBlockCapsHugeOutput(t *testing.T) {
	line := strings.Repeat("x", 1000)
	text := strings.TrimSuffix(strings.Repeat(line+"\n", 100), "\n")
	got := codeBlock(text, 0)
	if w := textWeight(got); w > maxBlockWeight+200 {
		t.Errorf("block weighs %d bytes, want at most about %d", w, maxBlockWeight)
	}
	if !strings.Contains(got, "earlier lines cut") {
		t.Errorf("a capped block must say what it cut")
	}
	one := codeBlock(strings.Repeat("é", maxBlockWeight), 0)
	if !strings.Contains(one, "é") || strings.ContainsRune(one, '\uFFFD') || !strings.Contains(one, "the start of the line below cut") {
		t.Errorf("a single huge line must be cut on a rune boundary, and say so")
	}
	heavy := codeBlock(strings.Repeat(`{"a":"<b>&amp;</b>"}`+"\n", 2000), 0)
	if w := textWeight(heavy); w > maxBlockWeight+200 {
		t.Errorf("a block of <>& weighs %d bytes, want at most about %d", w, maxBlockWeight)
	}
}

func TestArgCountsFollowTheUsage(t *testing.T) {
	logs := &command{Name: "logs", Args: "SERVICE [LINES]"}
	help := &command{Name: "help"}
	for _, tc := range []struct {
		c       *command
		args    []string
		wantErr string
	}{
		{logs, nil, "missing argument; usage: `!logs SERVICE [LINES]`"},
		{logs, []string{"bridge"}, ""},
		{logs, []string{"bridge", "5"}, ""},
		{logs, []string{"bridge", "5", "6"}, "too many arguments; usage: `!logs SERVICE [LINES]`"},
		{help, nil, ""},
		{help, []string{"x"}, "`!help` takes no arguments"},
	} {
		err := tc.c.checkArgCount(tc.args)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tc.wantErr {
			t.Errorf("%s %q: error %q, want %q", tc.c.Name, tc.args, got, tc.wantErr)
		}
	}
}

func TestAgoReadsLikeChat(t *testing.T) {
	for d, want := range map[time.Duration]string{
		3 * time.Second:                "3 s",
		5*time.Minute + 10*time.Second: "5 min",
		2 * time.Hour:                  "2 h",
		2*time.Hour + 10*time.Minute:   "2 h 10 min",
		3*24*time.Hour + 4*time.Hour:   "3 d 4 h",
		-time.Second:                   "0 s",
	} {
		if got := ago(d); got != want {
			t.Errorf("ago(%s) = %q, want %q", d, got, want)
		}
	}
}

func TestEveryCommandRegistersOnce(t *testing.T) {
	deps := &Deps{}
	proc := NewProcessor(nil, deps) // panics on a duplicate name or alias
	for _, c := range deps.registry {
		if got := proc.GetHandler(c.Name); got == nil || got.Name != c.Name {
			t.Errorf("!%s is not routed to its handler", c.Name)
		}
	}
	if got := proc.GetHandler("st"); got == nil || got.Name != "status" {
		t.Errorf("the alias !st does not reach !status")
	}
}

// BenchmarkCodeBlock is fencing the largest log reply: 500 lines.
func BenchmarkCodeBlock(b *testing.B) {
	text := strings.Repeat("2026-11-24T14:00:00Z INFO something happened in the bridge, id=12345\n", 500)
	b.ReportAllocs()
	for b.Loop() {
		codeBlock(text, 500)
	}
}
