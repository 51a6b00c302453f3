#!/bin/sh
# writeback package: after install or upgrade.
set -e
if ! getent group writeback >/dev/null; then
	groupadd --system writeback
fi
if ! getent passwd writeback >/dev/null; then
	useradd --system --gid writeback --home-dir /var/lib/writeback --no-create-home \
		--shell /usr/sbin/nologin --comment "writeback daemon" writeback
fi
install -d -o writeback -g writeback -m 0700 /var/lib/writeback
# The configuration names no secret (they are credentials), but it says
# where the DC and the tenant are: readable by root and the daemon only.
chown root:writeback /etc/writeback/writeback.yaml
chmod 0640 /etc/writeback/writeback.yaml
chmod 0750 /etc/writeback
chgrp writeback /etc/writeback
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload || true
	# An upgrade restarts a running daemon on the new binary; a first
	# install does not start it: it needs its configuration and secrets.
	if systemctl is-active --quiet writeback; then
		systemctl restart writeback || true
	fi
fi
exit 0
