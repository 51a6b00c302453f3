package engine

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"

	"github.com/writeback/writeback/internal/plan"
)

// WritePlannedJSON writes p as indented JSON, as json.Encoder with
// SetIndent("", "  ") would, without holding the whole document in memory:
// the plan's changes are marshalled one at a time. At L (20,000 groups,
// 450,000 member values) the document is a quarter GiB; encoding it whole
// doubled `writeback plan --json`'s peak memory.
func WritePlannedJSON(w io.Writer, p *Planned) error {
	return writeWithChanges(w, p, p.Plan, func(c *plan.Plan) any {
		cp := *p
		cp.Plan = c
		return &cp
	})
}

func writePlanFileJSON(w io.Writer, f *PlanFile) error {
	return writeWithChanges(w, f, f.Planned.Plan, func(c *plan.Plan) any {
		cp, pp := *f, *f.Planned
		pp.Plan = c
		cp.Planned = &pp
		return &cp
	})
}

// changesMarker is how json.MarshalIndent writes a nil plan.Changes. Object
// keys and string values are written with their quotes escaped, so this
// sequence can only be the key itself.
var changesMarker = []byte(`"changes": null`)

// writeWithChanges marshals v with the plan's changes left out (without, a
// copy built by without) and writes the changes into their place one by one.
func writeWithChanges(w io.Writer, v any, p *plan.Plan, without func(*plan.Plan) any) error {
	if p == nil || p.Changes == nil {
		return writeIndented(w, v)
	}
	cp := *p
	cp.Changes = nil
	doc, err := json.MarshalIndent(without(&cp), "", "  ")
	if err != nil {
		return err
	}
	at := bytes.Index(doc, changesMarker)
	if at < 0 {
		return fmt.Errorf("encode plan: no changes key in %T", v)
	}
	indent := doc[bytes.LastIndexByte(doc[:at], '\n')+1 : at]
	elem := string(indent) + "  "
	bw := bufio.NewWriterSize(w, 64<<10)
	bw.Write(doc[:at])
	bw.WriteString(`"changes": [`)
	for i := range p.Changes {
		b, err := json.MarshalIndent(&p.Changes[i], elem, "  ")
		if err != nil {
			return fmt.Errorf("encode plan change for group %s: %w", p.Changes[i].GroupID, err)
		}
		if i > 0 {
			bw.WriteByte(',')
		}
		bw.WriteByte('\n')
		bw.WriteString(elem)
		bw.Write(b)
	}
	if len(p.Changes) > 0 {
		bw.WriteByte('\n')
		bw.Write(indent)
	}
	bw.WriteByte(']')
	bw.Write(doc[at+len(changesMarker):])
	bw.WriteByte('\n')
	return bw.Flush()
}

func writeIndented(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
