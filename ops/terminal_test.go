package ops

import "testing"

func TestAsShownIsWhatATerminalShowed(t *testing.T) {
	for in, want := range map[string]string{
		"plain line\n\tindented\n":                                     "plain line\n\tindented\n",
		"\x1b[31mERROR\x1b[0m disk full\n":                             "ERROR disk full\n",
		"\x1b[1;32m✓\x1b[39;49m done\x1b[K\n":                          "✓ done\n",
		"\x1b]0;window title\x07prompt\n":                              "prompt\n",
		"downloading  10%\rdownloading  55%\rdownloading 100%\ndone\n": "downloading 100%\ndone\n",
		"windows line\r\nnext\r\n":                                     "windows line\nnext\n",
		"bell\x07 and backspace\x08 and NUL\x00\n":                     "bell and backspace and NUL\n",
		"<b>html</b> & json {\"a\":1}\n":                               "<b>html</b> & json {\"a\":1}\n",
	} {
		if got := AsShown(in); got != want {
			t.Errorf("AsShown(%q) = %q, want %q", in, got, want)
		}
	}
}
