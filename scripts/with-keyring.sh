#!/bin/sh
# with-keyring.sh CMD...: runs CMD with a throwaway OS keyring — a private
# D-Bus session bus (dbus-run-session) with gnome-keyring-daemon serving
# the Secret Service, its login keyring made and unlocked in a temporary
# dir — so the keyring tests use a real Secret Service and never the
# developer's own keyring. The daemon runs in the foreground as this
# script's child and is stopped (by its pid) when CMD ends. Without the
# tools (Debian: dbus-daemon, dbus-bin, gnome-keyring) CMD runs as is: the
# keyring tests skip, and fail under GATEHOUSE_TEST_STRICT (CI, which
# installs them: .ci/run).
set -eu
for tool in dbus-run-session dbus-send gnome-keyring-daemon; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "with-keyring: no $tool here; the OS keyring tests will skip" >&2
		exec "$@"
	fi
done
keyrings=$(mktemp -d)
trap 'rm -rf "$keyrings"' EXIT
status=0
dbus-run-session -- sh -c '
	dir=$1; shift
	printf %s throwaway | XDG_DATA_HOME="$dir" gnome-keyring-daemon --foreground --unlock --components=secrets >/dev/null 2>&1 &
	daemon=$!
	trap "kill $daemon 2>/dev/null" EXIT
	# Ready: the daemon owns the Secret Service name (asked of the bus
	# itself, so no second daemon is activated), and its default
	# collection exists and is unlocked.
	ready() {
		dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
			org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null | grep -q "boolean true" || return 1
		login=$(dbus-send --session --print-reply --dest=org.freedesktop.secrets /org/freedesktop/secrets \
			org.freedesktop.Secret.Service.ReadAlias string:default 2>/dev/null | sed -n "s/.*object path \"\(.*\/collection\/.*\)\"/\1/p")
		[ -n "$login" ] || return 1
		dbus-send --session --print-reply --dest=org.freedesktop.secrets "$login" org.freedesktop.DBus.Properties.Get \
			string:org.freedesktop.Secret.Collection string:Locked 2>/dev/null | grep -q "boolean false"
	}
	tries=0
	until ready; do
		tries=$((tries + 1))
		if [ "$tries" -gt 100 ]; then
			echo "with-keyring: gnome-keyring-daemon did not serve an unlocked keyring in 10 s" >&2
			break
		fi
		sleep 0.1
	done
	"$@"' with-keyring "$keyrings" "$@" || status=$?
exit "$status"
