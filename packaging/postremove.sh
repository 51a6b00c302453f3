#!/bin/sh
# writeback package: after removal. The state in /var/lib/writeback and the
# writeback user are kept on remove (a reinstall resumes where it stopped)
# and on purge too: the state records which AD groups writeback owns, so it
# is deleted only by hand (docs/operations.md, Uninstall).
set -e
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload || true
fi
exit 0
