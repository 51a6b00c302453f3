package main

import (
	"fmt"
	"io"
	"time"

	"github.com/writeback/writeback/internal/state"
)

// writeReleased lists the groups writeback took over when they were
// converted to the cloud and gave back to AD when the conversion was rolled
// back: they are no longer writeback's, nothing was removed from them.
func writeReleased(w io.Writer, db *state.DB, released []state.GroupStatus) {
	if len(released) == 0 {
		return
	}
	ids := make([]string, len(released))
	for i, s := range released {
		ids[i] = s.ID
	}
	names := groupNames(db, ids)
	fmt.Fprintf(w, "\nGroups given back to AD (their conversion to the cloud was rolled back; no longer managed) (%d):\n", len(released))
	for _, s := range released {
		fmt.Fprintf(w, "  %s  %s, released %s: %s\n", label(names[s.ID], s.ID), s.Released.DN, s.Released.At.Local().Format(time.DateTime), s.Released.Reason)
	}
}
