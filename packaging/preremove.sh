#!/bin/sh
# writeback package: before removal (not before an upgrade: postinstall restarts).
set -e
if [ "$1" = "remove" ] && [ -d /run/systemd/system ]; then
	systemctl disable --now writeback >/dev/null 2>&1 || true
fi
exit 0
