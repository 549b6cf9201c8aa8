#!/usr/bin/env bash
# Builds IMAGE, the systemd host of the test world: a Debian bookworm root
# filesystem made by debootstrap (minbase, from the mirror apt uses), imported
# into Docker, booted with /lib/systemd/systemd as its command (see
# internal/testworld/systemdhost.go for how it runs). It carries podman too,
# for the podman hosts, with vfs storage (fuse-overlayfs cannot mount here),
# podman-compose (1.0.3; bookworm's podman 4.3 has no `podman compose`) and
# slirp4netns, which the rootless bridge network of a compose project needs
# (with /dev/net/tun), and git for the compose checkouts.
# Needs root (debootstrap chroots); takes minutes, so test/setup.sh runs it only
# when no image is tagged with this file's hash, and keeps the result in its cache.
set -euo pipefail

image=${1:?usage: test/systemd-image.sh IMAGE}
[ "$(id -u)" -eq 0 ] || { echo "test/systemd-image.sh needs root (debootstrap chroots): run it as root, as CI does" >&2; exit 1; }
suite=bookworm
packages=systemd,systemd-sysv,openssh-server,dbus,dbus-user-session,sudo,podman,crun,uidmap,fuse-overlayfs,containernetworking-plugins,iptables,ca-certificates,podman-compose,slirp4netns,git

# The Debian archive apt is configured with: the first URI of a stanza (or a
# one-line `deb` entry) for a release suite, not its -security or -updates.
mirror_of_apt() {
	local f
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		awk '
			/^URIs:/ { uri = $2 }
			/^Suites:/ { for (i = 2; i <= NF; i++) if ($i !~ /-/) release = 1 }
			/^[[:space:]]*$/ { if (uri && release) { print uri; exit } uri = ""; release = 0 }
			END { if (uri && release) print uri }
		' "$f"
	done
	{ cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true; } |
		awk '$1 == "deb" { sub(/^deb (\[[^]]*\] )?/, ""); if ($2 !~ /-/) print $1 }'
}
mirror=$(mirror_of_apt | head -1 || true)
mirror=${mirror:-http://deb.debian.org/debian}

work=$(mktemp -d /var/tmp/opsroom-systemd-image.XXXXXX)
root=$work/root
cleanup() {
	# debootstrap unmounts what it mounted in the chroot, but not always when it
	# fails: unmount first, and never let rm cross into another file system.
	findmnt -rno TARGET | grep "^$root/" | sort -r | xargs -r umount -l 2>/dev/null || true
	rm -rf --one-file-system "$work"
}
trap cleanup EXIT

echo "debootstrap $suite from $mirror (log: $work/debootstrap.log while it runs)"
if ! debootstrap --variant=minbase --include="$packages" "$suite" "$root" "$mirror" >"$work/debootstrap.log" 2>&1; then
	echo "debootstrap of $suite from $mirror failed; the end of its output:" >&2
	tail -20 "$work/debootstrap.log" >&2
	[ -f "$root/debootstrap/debootstrap.log" ] && { echo "and of $root/debootstrap/debootstrap.log:" >&2; tail -30 "$root/debootstrap/debootstrap.log" >&2; }
	exit 1
fi

# Each container gets its own host key, which the test pins: none in the image.
rm -f "$root"/etc/ssh/ssh_host_*
printf 'HostKey /etc/ssh/ssh_host_ed25519_key\n' >"$root/etc/ssh/sshd_config.d/opsroom-test.conf"
# An empty machine-id: systemd makes a new one at each boot, so containers differ.
: >"$root/etc/machine-id"
rm -f "$root/var/lib/dbus/machine-id"
mkdir -p "$root/etc/containers"
cat >"$root/etc/containers/storage.conf" <<'EOF'
# vfs: fuse-overlayfs cannot mount inside the test world's container.
[storage]
driver = "vfs"
runroot = "/run/containers/storage"
graphroot = "/var/lib/containers/storage"
EOF
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*

tar -C "$root" -c . | docker import - "$image" >/dev/null
echo "built $image"
