package lab

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
)

// Snapshots are named copies of an instance directory, kept beside it as
// <instance dir>.snap-<name>, so that an expensive state (a domain seeded with
// 270,000 users) is set up once and restored in seconds, like Reset restores
// the pristine copy.

var snapshotName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// SnapshotDir is where the snapshot called name of the selected instance lives.
func (o Options) SnapshotDir(name string) string {
	return o.InstanceDir() + ".snap-" + name
}

// HasSnapshot reports whether the instance has a snapshot called name.
func HasSnapshot(o Options, name string) bool {
	fi, err := os.Stat(o.SnapshotDir(name))
	return err == nil && fi.IsDir()
}

// SaveSnapshot stops the instance's Samba, copies the instance directory to
// its snapshot called name (replacing an older one only once the copy is
// complete) and starts Samba again. With o.Executable the Graph emulator is
// stopped first (so its saved state is in the copy) and started again after;
// without, a running emulator is left alone and the snapshot holds its state
// as last saved.
func SaveSnapshot(ctx context.Context, o Options, name string) error {
	o = o.withDefaults()
	if !snapshotName.MatchString(name) {
		return fmt.Errorf("save lab snapshot %q: use letters, digits, '.', '_' and '-'", name)
	}
	if _, err := os.Stat(filepath.Join(o.InstanceDir(), "private", "sam.ldb")); err != nil {
		return fmt.Errorf("save lab snapshot %s: no provisioned lab in %s (start it with 'writeback-lab up')", name, o.InstanceDir())
	}
	if o.Executable != "" {
		if err := StopEmulator(ctx, o); err != nil {
			return err
		}
	}
	unlock, err := lock(ctx, o)
	if err != nil {
		return err
	}
	err = run(ctx, o, "snapshot", name)
	unlock()
	if err != nil {
		return err
	}
	if o.Executable == "" {
		return nil
	}
	l, err := Running(o)
	if err != nil {
		return err
	}
	return ensureEmulator(ctx, o, l)
}

// RestoreSnapshot is Reset from the snapshot called name instead of the
// pristine copy: it stops the instance (and its Graph emulator), replaces its
// directory by a copy of the snapshot and starts it; with o.Executable the
// emulator comes back with the state the snapshot holds.
func RestoreSnapshot(ctx context.Context, o Options, name string) (*Lab, error) {
	o = o.withDefaults()
	if !snapshotName.MatchString(name) {
		return nil, fmt.Errorf("restore lab snapshot %q: use letters, digits, '.', '_' and '-'", name)
	}
	if !HasSnapshot(o, name) {
		return nil, fmt.Errorf("restore lab snapshot %s: %s does not exist (save it first with lab.SaveSnapshot)", name, o.SnapshotDir(name))
	}
	return replace(ctx, o, "restore", name)
}
