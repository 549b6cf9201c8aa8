package testworld

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
)

// PodmanComposeProject is ComposeProject on a systemd host: a compose project
// in a git clone the owner owns, whose bare "origin" lives on the host too,
// deployed in the owner's rootless podman with podman-compose. Its service
// runs on the project's own network (podman-compose 1.0 joins every container
// to one: network_mode: host fails), which needs slirp4netns and /dev/net/tun.
type PodmanComposeProject struct {
	Host                            *SystemdHost
	Dir, Origin, Service, Container string
	Image                           string // localhost/NAME:latest, built from the checkout
	dev                             string // the developer's clone PushVersion commits in
	home                            string // the owner's
}

// NewPodmanComposeProject creates the repository as the owner, in its home,
// and deploys it with `podman-compose up -d`, as the owner would.
func (h *SystemdHost) NewPodmanComposeProject(t testing.TB, name string) *PodmanComposeProject {
	t.Helper()
	home := h.Exec(t, "sh", "-c", `getent passwd "$1" | cut -d: -f6`, "sh", h.Owner)
	p := &PodmanComposeProject{
		Host:      h,
		Dir:       home + "/" + name,
		Origin:    home + "/" + name + "-origin.git",
		Service:   "app",
		Container: name,
		Image:     "localhost/" + name + ":latest",
		dev:       home + "/" + name + "-dev",
		home:      home,
	}
	h.putFile(t, h.Owner, p.dev+"/docker-compose.yml", fmt.Sprintf(`version: "2.4"
services:
  %s:
    build: .
    image: %s
    container_name: %s
    restart: unless-stopped
`, p.Service, p.Image, p.Container))
	h.putFile(t, h.Owner, p.dev+"/Dockerfile", podmanDockerfile("v1"))
	h.putFile(t, h.Owner, p.dev+"/.gitignore", "/testsvc\n")
	out := p.AsOwner(t, `set -e
git init -q --bare "$ORIGIN"
cd "$DEV"
git init -q -b master
git add -A
git commit -q -m v1
git remote add origin "$ORIGIN"
git push -q origin master
git clone -q "$ORIGIN" "$DIR"
# The binary is a build input the repository ignores, like a deploy box's .env.
cp /usr/local/bin/testsvc "$DIR/testsvc"
cd "$DIR"
podman-compose up -d 2>&1`)
	t.Cleanup(func() { _, _ = h.podman("rm", "-f", "-t", "0", p.Container) })
	// podman-compose 1.0 exits 0 whatever podman did: ask podman.
	if state, err := h.podman("inspect", "--type", "container", "-f", "{{.State.Status}}", p.Container); strings.TrimSpace(state) != "running" {
		logs, _ := h.podman("logs", "--tail", "20", p.Container)
		t.Fatalf("systemd host %s: %s's container %s is %q after podman-compose up -d (%v); podman-compose said:\n%s\nits logs:\n%s",
			h.Name, name, p.Container, strings.TrimSpace(state), err, out, logs)
	}
	return p
}

// podmanDockerfile is the test service's image at version: no HEALTHCHECK,
// which podman's OCI images do not keep.
func podmanDockerfile(version string) string {
	return "FROM scratch\nCOPY testsvc /testsvc\nENV VERSION=" + version + "\nENTRYPOINT [\"/testsvc\"]\n"
}

// PushVersion commits a new version of the service to origin, as a developer would.
func (p *PodmanComposeProject) PushVersion(t testing.TB, version string) {
	t.Helper()
	p.PushDockerfile(t, podmanDockerfile(version), version)
}

// PushDockerfile commits a Dockerfile (a broken one, say) to origin.
func (p *PodmanComposeProject) PushDockerfile(t testing.TB, dockerfile, message string) {
	t.Helper()
	p.Host.putFile(t, p.Host.Owner, p.dev+"/Dockerfile", dockerfile)
	p.AsOwner(t, `set -e; cd "$DEV"; git commit -q -am "$1"; git push -q origin master`, message)
}

// Head is the commit checked out in the project's directory.
func (p *PodmanComposeProject) Head(t testing.TB) string {
	t.Helper()
	return p.AsOwner(t, `git -C "$DIR" rev-parse HEAD`)
}

// Version is the VERSION the project's container runs, "" if it has none.
func (p *PodmanComposeProject) Version(t testing.TB) string {
	t.Helper()
	env := p.Host.Podman(t, "inspect", "--type", "container", "-f", "{{range .Config.Env}}{{println .}}{{end}}", p.Container)
	for _, e := range strings.Split(env, "\n") {
		if v, ok := strings.CutPrefix(e, "VERSION="); ok {
			return v
		}
	}
	return ""
}

// AsOwner runs a bash script as the owner in the host, with the project's
// paths in $DIR, $ORIGIN and $DEV and args in $1…, and returns its trimmed
// stdout; a failure fails the test.
func (p *PodmanComposeProject) AsOwner(t testing.TB, script string, args ...string) string {
	t.Helper()
	h := p.Host
	cmd := exec.Command("docker", append([]string{"exec", "-u", h.Owner, "-w", "/",
		"-e", fmt.Sprintf("XDG_RUNTIME_DIR=/run/user/%d", h.OwnerUID),
		"-e", "HOME=" + p.home,
		"-e", "DIR=" + p.Dir, "-e", "ORIGIN=" + p.Origin, "-e", "DEV=" + p.dev,
		"-e", "GIT_AUTHOR_NAME=opsroom test", "-e", "GIT_AUTHOR_EMAIL=test@opsroom.invalid",
		"-e", "GIT_COMMITTER_NAME=opsroom test", "-e", "GIT_COMMITTER_EMAIL=test@opsroom.invalid",
		h.Name, "bash", "-c", script, "bash"}, args...)...)
	out, err := cmd.Output()
	if err != nil {
		stderr := ""
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("systemd host %s: as %s: %v\n%s%s", h.Name, h.Owner, err, out, stderr)
	}
	return strings.TrimSpace(string(out))
}
