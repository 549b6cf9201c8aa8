package ops

import "fmt"

// signalMeanings are the exit codes 128+N of a process ended by signal N, as
// docker reports them (and systemd's, which opsroom reads the same way).
var signalMeanings = map[int]string{
	129: "hung up (SIGHUP)",
	130: "interrupted (SIGINT)",
	131: "quit (SIGQUIT)",
	132: "illegal instruction (SIGILL)",
	134: "aborted (SIGABRT)",
	135: "bus error (SIGBUS)",
	136: "arithmetic error (SIGFPE)",
	137: "killed (SIGKILL)",
	139: "segfault (SIGSEGV)",
	141: "broken pipe (SIGPIPE)",
	143: "terminated (SIGTERM)",
}

// ExitMeaning says what an exit code means, for an exit alert: "out of
// memory" when the OOM killer ended the process, else the signal behind a
// code above 128 or what a shell's codes say. An OOM kill that the engine did
// not notice (Docker on cgroup v1 misses it on some kernels: OOMKilled stays
// false) is a SIGKILL of a container with a memory limit, said as likely.
func ExitMeaning(st Status) string {
	if st.OOMKilled {
		return "out of memory (killed by the kernel's OOM killer)"
	}
	if st.ExitCode == 137 && st.MemoryLimit > 0 {
		return fmt.Sprintf("killed (SIGKILL); with its memory limit of %s, likely out of memory", bytesText(st.MemoryLimit))
	}
	if m, ok := signalMeanings[st.ExitCode]; ok {
		return m
	}
	switch c := st.ExitCode; {
	case c == 0:
		return "it ended on its own, without an error"
	case c == 1:
		return "error"
	case c == 2:
		return "error (often a bad argument or config)"
	case c == 125:
		return "the container could not be run"
	case c == 126:
		return "its command could not be executed"
	case c == 127:
		return "its command was not found"
	case c > 128 && c < 160:
		return fmt.Sprintf("ended by signal %d", c-128)
	}
	return "error"
}

// bytesText is a size in bytes as people write it: 512 MiB, 2 GiB.
func bytesText(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
