// Command suite runs opsroom's tests as several go test processes side by
// side and reports on them: each test's result as it ends, then the
// failures' output, the slowest tests, the counts per package, and the
// end-to-end tests' wall time beside the sum of their own times.
//
// The unit packages are one go test process. The end-to-end package is built
// once and run as -shards processes, balanced by the durations measured on an
// earlier run (-durations; a test it does not name counts as -unknown), plus
// one process for the PostgreSQL subset (-postgres: a file of test names,
// each of which must exist). test/run.sh calls it; see the README's Tests.
package main

import (
	"bufio"
	"cmp"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

const e2ePkg = "github.com/opsroom/opsroom/e2e"

func main() {
	shards := flag.Int("shards", 4, "end-to-end test processes side by side")
	durations := flag.String("durations", "test/durations.txt", "measured durations of the end-to-end tests, to balance the shards")
	unknown := flag.Duration("unknown", 30*time.Second, "the duration assumed for a test -durations does not name")
	postgres := flag.String("postgres", "test/postgres-e2e.txt", "end-to-end tests to run again on PostgreSQL, one name a line")
	out := flag.String("out", "test-results", "where each process's go test -json output, and the durations measured, are written")
	unitTimeout := flag.Duration("unit-timeout", 15*time.Minute, "go test -timeout of the unit packages")
	e2eTimeout := flag.Duration("e2e-timeout", 20*time.Minute, "go test -timeout of each end-to-end process")
	flag.Parse()
	if err := run(*shards, *durations, *unknown, *postgres, *out, *unitTimeout, *e2eTimeout); err != nil {
		fmt.Fprintln(os.Stderr, "suite:", err)
		os.Exit(1)
	}
}

// event is one line of go test -json (test2json).
type event struct {
	Time    time.Time
	Action  string
	Package string
	Test    string
	Elapsed float64
	Output  string
}

// result is one test's (or, with Test empty, one package's) outcome.
type result struct {
	Process string
	Package string
	Test    string
	Action  string // pass, fail, skip
	Elapsed time.Duration
	Output  []string
}

// proc is one go test process of the suite.
type proc struct {
	name    string
	cmd     *exec.Cmd
	jsonOut string

	mu      sync.Mutex
	results []*result
	running map[string]*result // by package and test
	stray   []string           // output outside any test (build errors, panics)
	exit    error
	wall    time.Duration
}

func run(shards int, durationsFile string, unknown time.Duration, postgresFile, outDir string, unitTimeout, e2eTimeout time.Duration) error {
	start := time.Now()
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return err
	}
	outDir, _ = filepath.Abs(outDir)
	root, _ := os.Getwd()

	pkgs, err := goList(root)
	if err != nil {
		return err
	}
	var unit []string
	for _, p := range pkgs {
		if p != e2ePkg {
			unit = append(unit, p)
		}
	}

	// Build the end-to-end binary while the unit tests compile and run.
	var procs []*proc
	unitProc := &proc{name: "unit", cmd: exec.Command("go", append([]string{"test", "-json", "-tags", "goolm", "-count=1",
		"-timeout", unitTimeout.String()}, unit...)...)}
	unitProc.cmd.Dir = root
	procs = append(procs, unitProc)
	var wg sync.WaitGroup
	startProc := func(p *proc) {
		p.jsonOut = filepath.Join(outDir, p.name+".json")
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.run()
		}()
	}
	startProc(unitProc)

	bin := filepath.Join(outDir, "e2e.test")
	say("building the end-to-end tests")
	build := exec.Command("go", "test", "-c", "-tags", "goolm", "-o", bin, "./e2e")
	build.Dir, build.Stdout, build.Stderr = root, os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		wg.Wait()
		return fmt.Errorf("building the end-to-end tests: %w", err)
	}
	e2eDir := filepath.Join(root, "e2e")
	names, err := listTests(bin, e2eDir)
	if err != nil {
		return err
	}
	pgNames, err := readNames(postgresFile)
	if err != nil {
		return err
	}
	for _, n := range pgNames {
		if !slices.Contains(names, n) {
			return fmt.Errorf("%s names %s, which is no test of ./e2e (renamed? go test -list . ./e2e lists them)", postgresFile, n)
		}
	}
	known, err := readDurations(durationsFile)
	if err != nil {
		return err
	}
	plan := balance(names, known, unknown, shards)
	for i, group := range plan {
		p := &proc{name: fmt.Sprintf("e2e-%d", i+1), cmd: e2eCommand(bin, group, e2eTimeout)}
		p.cmd.Dir = e2eDir
		var sum time.Duration
		for _, n := range group {
			sum += durationOf(n, known, unknown)
		}
		fmt.Printf("e2e-%d: %d tests, about %s\n", i+1, len(group), sum.Round(time.Second))
		procs = append(procs, p)
		startProc(p)
	}
	if len(pgNames) > 0 {
		p := &proc{name: "e2e-postgres", cmd: e2eCommand(bin, pgNames, e2eTimeout)}
		p.cmd.Dir = e2eDir
		p.cmd.Env = append(os.Environ(), "OPSROOM_TEST_STORE=postgres")
		fmt.Printf("e2e-postgres: %d tests on PostgreSQL (OPSROOM_TEST_STORE=postgres)\n", len(pgNames))
		procs = append(procs, p)
		startProc(p)
	}
	e2eStart := time.Now()
	wg.Wait()
	e2eWall := time.Since(e2eStart)

	return report(procs, outDir, time.Since(start), e2eWall)
}

func say(s string) { fmt.Printf("\n== %s\n", s) }

func goList(root string) ([]string, error) {
	cmd := exec.Command("go", "list", "-tags", "goolm", "./...")
	cmd.Dir, cmd.Stderr = root, os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list: %w", err)
	}
	return strings.Fields(string(out)), nil
}

func listTests(bin, dir string) ([]string, error) {
	cmd := exec.Command(bin, "-test.list", ".")
	cmd.Dir, cmd.Stderr = dir, os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("listing the end-to-end tests: %w", err)
	}
	var names []string
	for _, n := range strings.Fields(string(out)) {
		if strings.HasPrefix(n, "Test") {
			names = append(names, n)
		}
	}
	return names, nil
}

func e2eCommand(bin string, tests []string, timeout time.Duration) *exec.Cmd {
	return exec.Command("go", "tool", "test2json", "-t", "-p", e2ePkg, bin,
		"-test.v=test2json", "-test.count=1", "-test.timeout", timeout.String(),
		"-test.run", "^("+strings.Join(tests, "|")+")$")
}

// readNames reads a file of test names, one a line; # starts a comment.
func readNames(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, line := range strings.Split(string(data), "\n") {
		line, _, _ = strings.Cut(line, "#")
		if line = strings.TrimSpace(line); line != "" {
			names = append(names, line)
		}
	}
	return names, nil
}

// readDurations reads "TestName seconds" lines; a missing file is no error
// (every test counts as unknown).
func readDurations(path string) (map[string]time.Duration, error) {
	known := map[string]time.Duration{}
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return known, nil
	} else if err != nil {
		return nil, err
	}
	for i, line := range strings.Split(string(data), "\n") {
		line, _, _ = strings.Cut(line, "#")
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		secs, err := strconv.ParseFloat(f[len(f)-1], 64)
		if len(f) != 2 || err != nil {
			return nil, fmt.Errorf("%s:%d: want \"TestName seconds\", got %q", path, i+1, line)
		}
		known[f[0]] = time.Duration(secs * float64(time.Second))
	}
	return known, nil
}

func durationOf(name string, known map[string]time.Duration, unknown time.Duration) time.Duration {
	if d, ok := known[name]; ok {
		return d
	}
	return unknown
}

// balance splits names into n groups of about the same total duration: the
// longest first, each to the group with the least so far.
func balance(names []string, known map[string]time.Duration, unknown time.Duration, n int) [][]string {
	n = max(1, min(n, len(names)))
	sorted := slices.Clone(names)
	slices.SortStableFunc(sorted, func(a, b string) int {
		return cmp.Compare(durationOf(b, known, unknown), durationOf(a, known, unknown))
	})
	groups := make([][]string, n)
	sums := make([]time.Duration, n)
	for _, name := range sorted {
		i := slices.Index(sums, slices.Min(sums))
		groups[i] = append(groups[i], name)
		sums[i] += durationOf(name, known, unknown)
	}
	return groups
}

// run runs the process, keeping its JSON and printing each test's end.
func (p *proc) run() {
	start := time.Now()
	defer func() { p.wall = time.Since(start) }()
	p.running = map[string]*result{}
	f, err := os.Create(p.jsonOut)
	if err != nil {
		p.exit = err
		return
	}
	defer f.Close()
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		p.exit = err
		return
	}
	var stderr strings.Builder
	p.cmd.Stderr = &stderr
	if err := p.cmd.Start(); err != nil {
		p.exit = err
		return
	}
	sc := bufio.NewScanner(io.TeeReader(stdout, f))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var e event
		if json.Unmarshal(sc.Bytes(), &e) != nil {
			p.stray = append(p.stray, sc.Text())
			continue
		}
		p.handle(e)
	}
	p.exit = p.cmd.Wait()
	if s := strings.TrimSpace(stderr.String()); s != "" {
		p.stray = append(p.stray, strings.Split(s, "\n")...)
	}
}

func (p *proc) handle(e event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	key := e.Package + " " + e.Test
	r := p.running[key]
	if r == nil {
		r = &result{Process: p.name, Package: e.Package, Test: e.Test}
		p.running[key] = r
	}
	switch e.Action {
	case "output":
		r.Output = append(r.Output, strings.TrimRight(e.Output, "\n"))
		if e.Test == "" && !strings.HasPrefix(e.Output, "PASS") && !strings.HasPrefix(e.Output, "ok ") {
			p.stray = append(p.stray, strings.TrimRight(e.Output, "\n"))
		}
	case "build-output":
		p.stray = append(p.stray, strings.TrimRight(e.Output, "\n"))
	case "pass", "fail", "skip":
		r.Action = e.Action
		r.Elapsed = time.Duration(e.Elapsed * float64(time.Second))
		p.results = append(p.results, r)
		delete(p.running, key)
		top := e.Test != "" && !strings.Contains(e.Test, "/")
		switch {
		case e.Test == "":
			fmt.Printf("%-4s %s (%s, %s)\n", strings.ToUpper(e.Action), shortPkg(e.Package), p.name, r.Elapsed.Round(100*time.Millisecond))
		case top && (p.name != "unit" || e.Action == "fail"):
			fmt.Printf("%-4s %s %s (%s, %s)\n", strings.ToUpper(e.Action), shortPkg(e.Package), e.Test, p.name, r.Elapsed.Round(100*time.Millisecond))
		}
	}
}

func shortPkg(p string) string { return strings.TrimPrefix(p, "github.com/opsroom/opsroom/") }

func report(procs []*proc, outDir string, total, e2eWall time.Duration) error {
	var all []*result
	failed := false
	for _, p := range procs {
		all = append(all, p.results...)
		// Tests still running when the process ended: a panic or a timeout.
		for _, r := range p.running {
			if r.Test != "" {
				r.Action = "fail"
				r.Output = append(r.Output, "(no result: the test process ended while this test ran)")
				all = append(all, r)
			}
		}
		if p.exit != nil {
			failed = true
		}
	}

	var tests []*result
	for _, r := range all {
		if r.Test != "" {
			tests = append(tests, r)
		}
	}
	say("failures")
	nFailed := 0
	for _, r := range tests {
		if r.Action != "fail" {
			continue
		}
		nFailed++
		failed = true
		out := r.Output
		const keep = 300
		if len(out) > keep {
			out = append([]string{fmt.Sprintf("… %d lines cut", len(out)-keep)}, out[len(out)-keep:]...)
		}
		fmt.Printf("\n--- FAIL %s %s (%s)\n%s\n", shortPkg(r.Package), r.Test, r.Process, strings.Join(out, "\n"))
	}
	for _, p := range procs {
		if p.exit != nil {
			fmt.Printf("\n--- %s exited: %v\n%s\n", p.name, p.exit, strings.Join(tailLines(p.stray, 100), "\n"))
		}
	}
	if !failed {
		fmt.Println("none")
	}

	say("slowest tests")
	var top []*result
	for _, r := range tests {
		if !strings.Contains(r.Test, "/") {
			top = append(top, r)
		}
	}
	slices.SortFunc(top, func(a, b *result) int { return cmp.Compare(b.Elapsed, a.Elapsed) })
	for _, r := range top[:min(20, len(top))] {
		fmt.Printf("%8s  %-4s %s %s (%s)\n", r.Elapsed.Round(100*time.Millisecond), r.Action, shortPkg(r.Package), r.Test, r.Process)
	}

	say("skipped")
	nSkipped := 0
	for _, r := range tests {
		if r.Action == "skip" {
			nSkipped++
			fmt.Printf("%s %s: %s\n", shortPkg(r.Package), r.Test, skipReason(r.Output))
		}
	}
	if nSkipped == 0 {
		fmt.Println("none")
	}

	say("counts per package")
	type counts struct{ pass, fail, skip int }
	per := map[string]*counts{}
	var order []string
	for _, r := range tests {
		name := shortPkg(r.Package)
		if r.Process == "e2e-postgres" {
			name += " (PostgreSQL)"
		}
		c := per[name]
		if c == nil {
			c = &counts{}
			per[name] = c
			order = append(order, name)
		}
		switch r.Action {
		case "pass":
			c.pass++
		case "fail":
			c.fail++
		case "skip":
			c.skip++
		}
	}
	slices.Sort(order)
	var sum counts
	for _, name := range order {
		c := per[name]
		fmt.Printf("%-32s %4d passed, %d failed, %d skipped\n", name, c.pass, c.fail, c.skip)
		sum.pass, sum.fail, sum.skip = sum.pass+c.pass, sum.fail+c.fail, sum.skip+c.skip
	}

	say("time")
	var e2eSum time.Duration
	var lines []string
	for _, r := range top {
		if r.Package == e2ePkg {
			e2eSum += r.Elapsed
			lines = append(lines, fmt.Sprintf("%s %.1f", r.Test, r.Elapsed.Seconds()))
		}
	}
	for _, p := range procs {
		fmt.Printf("%-14s %s\n", p.name, p.wall.Round(time.Second))
	}
	fmt.Printf("end-to-end: %s of wall time for %s of tests (%.1f× in parallel); the whole run %s\n",
		e2eWall.Round(time.Second), e2eSum.Round(time.Second), e2eSum.Seconds()/max(1, e2eWall.Seconds()), total.Round(time.Second))
	slices.Sort(lines)
	durations := filepath.Join(outDir, "durations.txt")
	if err := os.WriteFile(durations, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		return err
	}
	fmt.Printf("durations measured: %s (copy to test/durations.txt to rebalance)\n", durations)

	fmt.Printf("\ntests: %d passed, %d failed, %d skipped\n", sum.pass, sum.fail, sum.skip)
	if failed || nFailed > 0 {
		return fmt.Errorf("%d tests failed", nFailed)
	}
	return nil
}

func skipReason(out []string) string {
	for _, l := range out {
		if s := strings.TrimSpace(l); s != "" && !strings.HasPrefix(s, "=== ") && !strings.HasPrefix(s, "--- SKIP") {
			return s
		}
	}
	return "(no reason given)"
}

func tailLines(lines []string, n int) []string {
	if len(lines) > n {
		return lines[len(lines)-n:]
	}
	return lines
}
