package ops

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/opsroom/opsroom/internal/config"
)

// DriftConfig is the `drift:` section: how often opsroom fetches the tracked
// branches to say how far the checkouts are behind, and the optional digest
// of the services that are.
type DriftConfig struct {
	// Interval is the least time between two fetches of a service's tracked
	// branch (default 1h): within it, drift is counted against what the
	// last fetch brought.
	Interval config.Duration `yaml:"interval" check:"positive"`
	// Digest, "HH:MM" in the display timezone, posts once a day to the
	// alert rooms the services that are behind.
	Digest string `yaml:"digest"`
	// DigestEvery posts the digest every interval instead, the first one an
	// interval after start (for a team that wants it more often, and for tests).
	DigestEvery config.Duration `yaml:"digest_every" check:"positive"`
}

// errDeploying is why a drift was not fetched: an update or rollback of
// its checkout runs, whose own fetch moves the same ref.
var errDeploying = errors.New("an update or rollback of its checkout is running; counted against the last fetch")

const (
	defaultDriftInterval = time.Hour
	// maxDriftLog is the most commits a drift lists; the count says the rest.
	maxDriftLog = 10
	// driftFetchTimeout bounds a fetch made for a drift: a read must not
	// hang on a slow remote for the host's whole command timeout.
	driftFetchTimeout = 30 * time.Second
)

var digestTimeRE = regexp.MustCompile(`^([01]?[0-9]|2[0-3]):([0-5][0-9])$`)

func (d *DriftConfig) validate() (errs []error) {
	if d.Interval.Duration <= 0 {
		d.Interval.Duration = defaultDriftInterval
	}
	if d.Digest != "" && !digestTimeRE.MatchString(d.Digest) {
		errs = append(errs, fmt.Errorf("drift.digest: %q is not a time of day like 09:00 (24-hour, in display_timezone)", d.Digest))
	}
	if d.Digest != "" && d.DigestEvery.Duration > 0 {
		errs = append(errs, fmt.Errorf("drift.digest_every: set drift.digest (a time of day) or drift.digest_every (an interval), not both"))
	}
	return errs
}

// NextDigest is when the digest is next due after now: the next time of day
// d.Digest in now's location, or now plus d.DigestEvery; zero when there is
// no digest.
func (d DriftConfig) NextDigest(now time.Time) time.Time {
	if d.DigestEvery.Duration > 0 {
		return now.Add(d.DigestEvery.Duration)
	}
	m := digestTimeRE.FindStringSubmatch(d.Digest)
	if m == nil {
		return time.Time{}
	}
	hour, _ := strconv.Atoi(m[1])
	minute, _ := strconv.Atoi(m[2])
	next := time.Date(now.Year(), now.Month(), now.Day(), hour, minute, 0, 0, now.Location())
	for !next.After(now) {
		// Day by day in the calendar, not by 24 h: a day with a clock change is not 24 h long.
		next = time.Date(next.Year(), next.Month(), next.Day()+1, hour, minute, 0, 0, now.Location())
	}
	return next
}

// Drift is how far a service's checkout is from the tip of its tracked branch.
type Drift struct {
	Service, Host  string
	Remote, Branch string
	Head, Tip      string // the checkout's commit, and the tracked branch's as last fetched
	Behind, Ahead  int    // commits on the branch the checkout lacks; local commits the branch lacks
	// Log is the commits behind, newest first, "abc1234 subject", at most maxDriftLog.
	Log []string
	// FetchedAt is when the tracked branch was last fetched by opsroom (zero:
	// not by this process); FetchErr says why the fetch just tried failed, the
	// count then being as of an earlier fetch.
	FetchedAt time.Time
	FetchErr  error
	// Err says why the drift could not be read at all.
	Err error
}

// Ref is the tracked branch as git names it: origin/master.
func (d Drift) Ref() string { return d.Remote + "/" + d.Branch }

// Tracks says whether opsroom can tell the service's drift: it has a checkout
// and a branch to track (every compose service; another kind when it sets
// git_branch).
func Tracks(s *ServiceConfig) bool {
	return s.Directory != "" && s.GitBranch != ""
}

// driftCache remembers, per service, when its tracked branch was last fetched.
type driftCache struct {
	mu      sync.Mutex
	fetched map[string]time.Time
	// deploying holds, by checkout (host and directory), a lock a deploy
	// keeps for its whole run: the drift's fetch does not run beside the
	// deploy's own, which would fail on git's ref locks.
	deploying map[string]*sync.Mutex
	// busy holds one lock per service, so that !status, !outdated and the
	// digest asking at once make one fetch, not three racing for git's locks.
	busy map[string]*sync.Mutex
}

// checkout is the lock of the service's checkout (see deploying).
func (c *driftCache) checkout(s *ServiceConfig) *sync.Mutex {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.deploying == nil {
		c.deploying = map[string]*sync.Mutex{}
	}
	key := s.Host + "\x00" + path.Clean(s.Directory)
	if c.deploying[key] == nil {
		c.deploying[key] = &sync.Mutex{}
	}
	return c.deploying[key]
}

func (c *driftCache) lock(service string) func() {
	c.mu.Lock()
	if c.busy == nil {
		c.busy = map[string]*sync.Mutex{}
		c.fetched = map[string]time.Time{}
	}
	m := c.busy[service]
	if m == nil {
		m = &sync.Mutex{}
		c.busy[service] = m
	}
	c.mu.Unlock()
	m.Lock()
	return m.Unlock
}

func (c *driftCache) lastFetch(service string) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fetched[service]
}

func (c *driftCache) setFetched(service string, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fetched[service] = at
}

// DriftInterval is drift.interval: how stale a fetch may be.
func (f *Fleet) DriftInterval() time.Duration {
	return cmp.Or(f.now().cfg.Drift.Interval.Duration, defaultDriftInterval)
}

// Drift says how far the service's checkout is behind its tracked branch.
// The branch is fetched into its remote-tracking ref (refs/remotes/REMOTE/
// BRANCH, as an update's fetch does) when the last fetch is older than
// drift.interval; the working tree, the index and HEAD are never touched.
// The commits are then counted locally, against the fetched ref.
func (f *Fleet) Drift(ctx context.Context, service string) Drift {
	s, err := f.Lookup(service)
	if err != nil {
		return Drift{Service: service, Err: err}
	}
	d := Drift{Service: s.Name, Host: s.Host, Remote: cmp.Or(s.GitRemote, "origin"), Branch: s.GitBranch}
	if !Tracks(s) {
		d.Err = fmt.Errorf("%s has no checkout with a tracked branch (services.%s.directory and git_branch)", s.Name, s.Name)
		return d
	}
	unlock := f.drift.lock(s.Name)
	defer unlock()
	dir := Quote(s.Directory)
	ref := "refs/remotes/" + d.Remote + "/" + d.Branch
	d.FetchedAt = f.drift.lastFetch(s.Name)
	deploy := f.drift.checkout(s)
	switch {
	case time.Since(d.FetchedAt) < f.DriftInterval():
	case !deploy.TryLock():
		d.FetchErr = errDeploying
	default:
		defer deploy.Unlock()
		fetch := "git -C " + dir + " fetch --quiet --no-tags " + Quote(d.Remote) + " " + Quote("+refs/heads/"+d.Branch+":"+ref) + " 2>&1"
		// The host's own command timeout, when shorter, holds too (0 there is the default).
		res, err := f.run(ctx, s.Host, fetch, runOpts{timeout: min(driftFetchTimeout, f.hostOf(s).CommandTimeout.Duration)})
		switch {
		case err != nil:
			d.FetchErr = err
		case res.ExitCode != 0:
			d.FetchErr = fmt.Errorf("git fetch %s %s exited with code %d: %s", d.Remote, d.Branch, res.ExitCode, oneLine(res.Stdout+" "+res.Stderr, 300))
		default:
			d.FetchedAt = time.Now()
			f.drift.setFetched(s.Name, d.FetchedAt)
		}
		if errors.As(d.FetchErr, new(*UnreachableError)) {
			d.Err = d.FetchErr
			return d
		}
	}
	// One command: both commits, how far apart they are both ways, and the
	// commits behind, newest first.
	count := "git -C " + dir + " rev-parse HEAD " + Quote(ref+"^{commit}") +
		" && git -C " + dir + " rev-list --left-right --count " + Quote("HEAD..."+ref) +
		" && git -C " + dir + " log " + Quote("--format=%h %s") + " -n " + strconv.Itoa(maxDriftLog) + " " + Quote("HEAD.."+ref)
	res, err := f.Run(ctx, s.Host, count)
	if err != nil {
		d.Err = err
		return d
	}
	if res.ExitCode != 0 {
		why := oneLine(lastLine(res.Stderr+"\n"+res.Stdout), 300)
		if d.FetchErr != nil {
			why = d.FetchErr.Error()
		}
		d.Err = fmt.Errorf("reading the drift of %s from %s: %s", s.Name, s.Directory, why)
		return d
	}
	if err := parseDrift(&d, res.Stdout); err != nil {
		d.Err = fmt.Errorf("reading the drift of %s: %w", s.Name, err)
	}
	return d
}

// quotedStart is s quoted in ASCII, cut to about n characters: what a
// command printed, shown in an error, whatever bytes it was (each unprintable
// byte quoted as four characters, so the cut comes after the quoting).
func quotedStart(s string, n int) string {
	q := strconv.QuoteToASCII(s)
	if len(q) > n {
		q = q[:n] + "…"
	}
	return q
}

// parseDrift reads the count command's output: HEAD, the tip, "ahead behind",
// then the log.
func parseDrift(d *Drift, out string) error {
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) < 3 {
		return fmt.Errorf("git printed %s where two commits and a count were expected", quotedStart(out, 200))
	}
	d.Head, d.Tip = strings.TrimSpace(lines[0]), strings.TrimSpace(lines[1])
	counts := strings.Fields(lines[2])
	if !isCommitID(d.Head) || !isCommitID(d.Tip) || len(counts) != 2 {
		return fmt.Errorf("git printed %s where two commits and a count were expected", quotedStart(out, 200))
	}
	var err1, err2 error
	d.Ahead, err1 = strconv.Atoi(counts[0])
	d.Behind, err2 = strconv.Atoi(counts[1])
	if err1 != nil || err2 != nil {
		return fmt.Errorf("git printed %q where two counts were expected", lines[2])
	}
	d.Log = nil
	for _, l := range lines[3:] {
		if l = strings.TrimSpace(l); l != "" {
			d.Log = append(d.Log, l)
		}
	}
	return nil
}

// DriftAll reads the drift of every service opsroom can tell it of (see
// Tracks), all at once (each host's sessions bound how many run together),
// in name order.
func (f *Fleet) DriftAll(ctx context.Context) []Drift {
	var services []*ServiceConfig
	for _, s := range f.now().services {
		if Tracks(s) {
			services = append(services, s)
		}
	}
	out := make([]Drift, len(services))
	var wg sync.WaitGroup
	for i, s := range services {
		wg.Go(func() { out[i] = f.Drift(ctx, s.Name) })
	}
	wg.Wait()
	return out
}
