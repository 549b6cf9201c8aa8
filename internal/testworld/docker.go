package testworld

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// ImageName is the image of the test service, built FROM scratch.
const ImageName = "opsroom-testsvc:dev"

// RequireDocker fails the test when the Docker engine does not answer.
func RequireDocker(t testing.TB) {
	t.Helper()
	if out, err := exec.Command("docker", "info", "--format", "{{.ServerVersion}}").CombinedOutput(); err != nil {
		t.Fatalf("the Docker engine does not answer (test/run.sh installs and starts it): %v\n%s", err, out)
	}
}

// Docker runs the docker CLI and returns its trimmed stdout; a failure fails the test.
func Docker(t testing.TB, args ...string) string {
	t.Helper()
	out, err := run("", "docker", args...)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(out)
}

// Inspect returns docker inspect -f FORMAT NAME.
func Inspect(t testing.TB, name, format string) string {
	t.Helper()
	return Docker(t, "inspect", "-f", format, name)
}

var nonName = regexp.MustCompile(`[^a-z0-9]+`)

// UniqueName returns a container-safe name unique to this run: prefix-test-random.
func UniqueName(t testing.TB, prefix string) string {
	buf := make([]byte, 3)
	_, _ = rand.Read(buf)
	test := strings.Trim(nonName.ReplaceAllString(strings.ToLower(t.Name()), "-"), "-")
	if len(test) > 24 {
		test = test[len(test)-24:]
	}
	return fmt.Sprintf("opsroom-%s-%s-%s", prefix, strings.Trim(test, "-"), hex.EncodeToString(buf))
}

var (
	imageOnce sync.Once
	imageErr  error
	imageTag  string
)

// testsvcBinary builds the static test service once per process.
func testsvcBinary(t testing.TB) string {
	return GoBinary(t, "./internal/testworld/testsvc")
}

// ServiceImage builds the test service's image (once per process, and under a
// lock across the test processes) and returns its name: ImageName tagged
// with a hash of the binary, so that test runs of checkouts whose test
// services differ, side by side on one engine, each run their own.
func ServiceImage(t testing.TB) string {
	t.Helper()
	imageOnce.Do(func() {
		bin := testsvcBinary(t)
		data, err := os.ReadFile(bin)
		if err != nil {
			imageErr = err
			return
		}
		// The tag names the binary and the Dockerfile both, so a changed
		// health check never runs an image built before it.
		sum := sha256.Sum256(append(data, scratchDockerfile("dev")...))
		imageTag = ImageName + "-" + hex.EncodeToString(sum[:6])
		imageErr = withLock(filepath.Join(cacheDir(), "image.lock"), func() error {
			ctxDir := filepath.Dir(bin)
			if err := os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte(scratchDockerfile("dev")), 0o644); err != nil {
				return err
			}
			_, err := run(ctxDir, "docker", "build", "-q", "-t", imageTag, ".")
			return err
		})
	})
	if imageErr != nil {
		t.Fatal(imageErr)
	}
	return imageTag
}

func scratchDockerfile(version string) string {
	return "FROM scratch\nCOPY testsvc /testsvc\nENV VERSION=" + version + "\n" +
		// Checked every second (a compose service's update_verify window of
		// a few seconds must see it healthy), but a check may take 10 s and
		// must fail twice in a row: on a loaded machine starting one alone can
		// take seconds, and a healthy service must not flap. RunContainer
		// checks its containers less often.
		"HEALTHCHECK --interval=1s --timeout=10s --retries=2 CMD [\"/testsvc\", \"health\"]\n" +
		"ENTRYPOINT [\"/testsvc\"]\n"
}

// HealthEverySecond is RunContainer's extra argument for a container whose
// health check runs every second, as the image says, for tests of a health
// check that fails and recovers. Otherwise RunContainer's containers are
// checked every 10 s: each check is a process started in the container,
// about 70 ms of CPU, and a check a second of every container the suite's
// processes run took a third of the machine.
const HealthEverySecond = "--health-interval=1s"

// Container is a container of the test service that the test's cleanup removes.
type Container struct{ Name string }

// RunContainer starts the test service as a container named name.
func RunContainer(t testing.TB, name string, env map[string]string, extraDockerArgs ...string) *Container {
	t.Helper()
	args := []string{"run", "-d", "--name", name, "--label", "opsroom-test=1"}
	if !slices.Contains(extraDockerArgs, "--no-healthcheck") {
		args = append(args, "--health-interval=10s") // see HealthEverySecond
	}
	for k, v := range env {
		args = append(args, "-e", k+"="+v)
	}
	args = append(args, extraDockerArgs...)
	args = append(args, ServiceImage(t))
	t.Cleanup(func() { _, _ = run("", "docker", "rm", "-f", name) })
	Docker(t, args...)
	return &Container{Name: name}
}

// ComposeProject is a compose project in a git clone whose bare "origin" lives
// on disk, as on a deploy box: all of it belongs to Owner.
type ComposeProject struct {
	Dir, Origin, Service, Container string
	Owner                           Account
	dev                             string // the developer's clone PushVersion commits in
}

// gitIdentity is the test's git setup; the test works as root in checkouts
// the service owner owns, which git would refuse as of dubious ownership.
var gitIdentity = []string{"-c", "user.name=opsroom test", "-c", "user.email=test@opsroom.invalid", "-c", "init.defaultBranch=master", "-c", "safe.directory=*"}

// Git runs git as the test (root) in dir and returns its trimmed stdout.
func Git(t testing.TB, dir string, args ...string) string {
	t.Helper()
	return git(t, dir, args...)
}

func git(t testing.TB, dir string, args ...string) string {
	t.Helper()
	out, err := run(dir, "git", append(gitIdentity, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(out)
}

// NewComposeProject creates the repository, owned by the service owner,
// deploys it as the owner with `docker compose up -d --build` (Compose v2),
// and removes it all in the test's cleanup.
func NewComposeProject(t testing.TB, name string) *ComposeProject {
	t.Helper()
	return NewComposeProjectOf(t, name, OwnerUser(t))
}

// NewComposeProjectOf is NewComposeProject owned by owner.
func NewComposeProjectOf(t testing.TB, name string, owner Account) *ComposeProject {
	t.Helper()
	bin := testsvcBinary(t)
	root := owner.Dir(t)
	p := &ComposeProject{
		Owner:     owner,
		Dir:       filepath.Join(root, name),
		Origin:    filepath.Join(root, "origin.git"),
		Service:   "app",
		Container: name,
		dev:       filepath.Join(root, "dev"),
	}
	git(t, root, "init", "-q", "--bare", p.Origin)
	git(t, root, "clone", "-q", p.Origin, p.dev)
	writeFile(t, filepath.Join(p.dev, "docker-compose.yml"), fmt.Sprintf(`version: "2.4"
services:
  %s:
    build: .
    image: %s:latest
    container_name: %s
    restart: unless-stopped
    stop_grace_period: 5s
`, p.Service, name, p.Container), 0o644)
	writeFile(t, filepath.Join(p.dev, "Dockerfile"), scratchDockerfile("v1"), 0o644)
	writeFile(t, filepath.Join(p.dev, ".gitignore"), "/testsvc\n", 0o644)
	git(t, p.dev, "add", "-A")
	git(t, p.dev, "commit", "-q", "-m", "v1")
	git(t, p.dev, "push", "-q", "origin", "master")
	git(t, root, "clone", "-q", p.Origin, p.Dir)
	// The binary is a build input the repository ignores, like a deploy box's .env.
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(p.Dir, "testsvc"), string(data), 0o755)
	owner.Chown(t, root)

	t.Cleanup(func() {
		_, _ = run(p.Dir, "runuser", "-u", owner.Name, "--", "docker", "compose", "down", "-v", "--rmi", "local", "-t", "1")
	})
	owner.Run(t, p.Dir, "docker", "compose", "up", "-d", "--build")
	return p
}

// PushVersion commits a new version of the service to origin, as a developer would.
func (p *ComposeProject) PushVersion(t testing.TB, version string) {
	t.Helper()
	p.PushDockerfile(t, scratchDockerfile(version), version)
}

// PushDockerfile commits a Dockerfile (a broken one, say) to origin.
func (p *ComposeProject) PushDockerfile(t testing.TB, dockerfile, message string) {
	t.Helper()
	writeFile(t, filepath.Join(p.dev, "Dockerfile"), dockerfile, 0o644)
	p.Owner.Chown(t, p.dev)
	// As the owner: git's receive-pack refuses a root push into the owner's origin.
	p.Owner.Run(t, p.dev, "git", append(gitIdentity, "commit", "-q", "-am", message)...)
	p.Owner.Run(t, p.dev, "git", append(gitIdentity, "push", "-q", "origin", "master")...)
}

// SlowFetch makes every fetch of the deploy checkout wait first (git runs the
// configured upload-pack through a shell, local remotes included): a slow
// remote, for tests that act while an update runs.
func (p *ComposeProject) SlowFetch(t testing.TB, wait time.Duration) {
	t.Helper()
	git(t, p.Dir, "config", "remote.origin.uploadpack", fmt.Sprintf("sleep %d; git-upload-pack", int(wait.Seconds())))
	p.Owner.Chown(t, p.Dir)
}
