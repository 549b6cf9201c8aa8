# Sourced by run.sh and bench.sh: installs what the end-to-end world needs (sshd,
# git, Docker) on a fresh Debian machine or a used one, and builds the test
# homeserver once.

say() { printf '\n== %s\n' "$*"; }

need=()
command -v go >/dev/null || { echo "Go is required (https://go.dev/dl/); this script installs the rest" >&2; exit 1; }
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v ssh-keygen >/dev/null || need+=(openssh-client)
command -v git >/dev/null || need+=(git)
# The hosts of the test world: a login user that becomes the service owner through sudo.
command -v sudo >/dev/null || need+=(sudo)
# A host whose setsid is BusyBox's (no --wait), for the preflight's test.
[ -x /bin/busybox ] || need+=(busybox)
if ! docker info >/dev/null 2>&1; then
	command -v dockerd >/dev/null || need+=(docker.io)
fi
command -v docker-compose >/dev/null || need+=(docker-compose)
# The systemd host's root filesystem (test/systemd-image.sh).
command -v debootstrap >/dev/null || need+=(debootstrap)
# PostgreSQL's server programs, for the throw-away clusters of the store's tests
# (run as the package's postgres account; no system service is used).
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || need+=(postgresql)
if [ ${#need[@]} -gt 0 ]; then
	say "installing ${need[*]}"
	export DEBIAN_FRONTEND=noninteractive
	sudo_() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
	sudo_ apt-get update -qq
	sudo_ apt-get install -y -qq --no-install-recommends "${need[@]}" ca-certificates >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
	say "starting dockerd"
	(dockerd >/tmp/opsroom-dockerd.log 2>&1 &)
	for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
	docker info >/dev/null 2>&1 || { echo "dockerd did not start; see /tmp/opsroom-dockerd.log" >&2; tail -20 /tmp/opsroom-dockerd.log >&2; exit 1; }
fi

# The containers stand for hosts of their own (the systemd and podman host
# above all), but on cgroup v1 Docker's whole group weighs as much as one busy
# process of the machine's: with the suite's processes running, the podman
# host's probes starved past a minute. Weigh it as eight.
# (Docker makes the group at its first container; making it first is the same.)
if [ -d /sys/fs/cgroup/cpu ] && [ ! -e /sys/fs/cgroup/cgroup.controllers ] && [ "$(id -u)" -eq 0 ]; then
	mkdir -p /sys/fs/cgroup/cpu/docker 2>/dev/null && echo 8192 >/sys/fs/cgroup/cpu/docker/cpu.shares 2>/dev/null || true
fi

# Built tools are cached by content: the hash of the throw-away module's
# go.mod and go.sum and of the Go version (internal/testworld/tools.go computes
# the same key), so a changed pin or toolchain builds anew and a warm cache
# builds nothing.
cache="${XDG_CACHE_HOME:-$HOME/.cache}/opsroom-test"
tool_key() { cat "test/$1/go.mod" "test/$1/go.sum" <(go version) | sha256sum | cut -c1-12; }
tools_key=$(tool_key tools) compose_key=$(tool_key compose)

dendrite_version=v0.15.2
export OPSROOM_TEST_BIN="$cache/bin/dendrite-$dendrite_version-$tools_key"
if [ ! -x "$OPSROOM_TEST_BIN/generate-keys" ]; then
	say "building Dendrite $dendrite_version (the test homeserver) into $OPSROOM_TEST_BIN"
	(cd test/tools && CGO_ENABLED=0 go build -o "$OPSROOM_TEST_BIN/" \
		github.com/element-hq/dendrite/cmd/dendrite \
		github.com/element-hq/dendrite/cmd/generate-config \
		github.com/element-hq/dendrite/cmd/generate-keys)
fi

toxiproxy_version=v2.12.0
export OPSROOM_TOXIPROXY_BIN="$cache/bin/toxiproxy-$toxiproxy_version-$tools_key"
if [ ! -x "$OPSROOM_TOXIPROXY_BIN/toxiproxy-server" ]; then
	say "building Toxiproxy $toxiproxy_version (slow, hung and cut connections for the fault tests) into $OPSROOM_TOXIPROXY_BIN"
	(cd test/tools && CGO_ENABLED=0 go build -o "$OPSROOM_TOXIPROXY_BIN/toxiproxy-server" \
		github.com/Shopify/toxiproxy/v2/cmd/server)
fi

compose_version=v2.32.4
export OPSROOM_COMPOSE_BIN="$cache/bin/compose-$compose_version-$compose_key"
if [ ! -x "$OPSROOM_COMPOSE_BIN/docker-compose" ]; then
	say "building Docker Compose $compose_version (the docker compose v2 CLI plugin; Debian packages only v1) into $OPSROOM_COMPOSE_BIN"
	(cd test/compose && CGO_ENABLED=0 go build -o "$OPSROOM_COMPOSE_BIN/docker-compose" \
		-ldflags "-X github.com/docker/compose/v2/internal.Version=$compose_version" \
		github.com/docker/compose/v2/cmd)
fi

# The systemd (and podman) host, tagged with the hash of the script that
# builds it, and kept in the cache as a `docker save` archive: a machine whose
# engine lost the image loads it in seconds instead of building for minutes.
systemd_key=$(sha256sum test/systemd-image.sh | cut -c1-12)
export OPSROOM_SYSTEMD_IMAGE="opsroom-test-systemd:bookworm-$systemd_key"
systemd_archive="$cache/images/systemd-bookworm-$systemd_key.tar"
if ! docker image inspect "$OPSROOM_SYSTEMD_IMAGE" >/dev/null 2>&1; then
	if [ -f "$systemd_archive" ]; then
		say "loading $OPSROOM_SYSTEMD_IMAGE from $systemd_archive"
		docker load -q -i "$systemd_archive"
	else
		say "building $OPSROOM_SYSTEMD_IMAGE (the systemd host: a Debian root filesystem from debootstrap; it takes minutes)"
		bash test/systemd-image.sh "$OPSROOM_SYSTEMD_IMAGE"
		mkdir -p "$(dirname "$systemd_archive")"
		docker save -o "$systemd_archive.new" "$OPSROOM_SYSTEMD_IMAGE" && mv "$systemd_archive.new" "$systemd_archive"
	fi
fi

# Where initdb and postgres are (/usr/lib/postgresql/15/bin on bookworm): the newest version installed.
OPSROOM_POSTGRES_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
export OPSROOM_POSTGRES_BIN

export CGO_ENABLED=0
