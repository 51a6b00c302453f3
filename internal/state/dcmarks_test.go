package state

import (
	"errors"
	"testing"
	"time"
)

// The DC marks an earlier version wrote (raw meta keys, as the engine
// spelt them) are read by the typed accessors, and what they write is what
// that version would read: an upgrade (or a downgrade) loses no mark, on
// either backend.
func TestDCMarksReadWhatEarlierVersionsWrote(t *testing.T) {
	const (
		ntds = "CN=NTDS Settings,CN=DC1,CN=Servers,CN=Default-First-Site-Name,CN=Sites,CN=Configuration,DC=contoso,DC=test"
		inv  = "5e1f0a3c-7b2d-4c8e-9f10-1a2b3c4d5e6f"
	)
	// Exactly as engine/tamper.go and engine/dcpin.go stored them.
	old := map[string]string{
		"adChangeMark": `{"invocationId":"` + inv + `","dc":"` + ntds + `","usn":123456}`,
		"dc":           ntds + "|" + inv,
		"dcMovedAt":    ntds + "|" + inv + " 2026-12-05T03:04:05Z",
	}
	for _, bc := range backends() {
		t.Run(bc.name, func(t *testing.T) {
			db := bc.open(t)
			for k, v := range old {
				if err := db.setMeta(k, v); err != nil {
					t.Fatal(err)
				}
			}
			ref := DCRef{DSServiceName: ntds, InvocationID: inv}

			m, err := db.ADMark()
			if err != nil || m == nil || *m != (ADMark{InvocationID: inv, DC: ntds, USN: 123456}) {
				t.Fatalf("ADMark() = %+v, %v; want the mark the old key holds", m, err)
			}
			dc, err := db.PinnedDC()
			if err != nil || dc != ref {
				t.Fatalf("PinnedDC() = %+v, %v; want %+v", dc, err, ref)
			}
			mv, err := db.DCMove()
			if want := time.Date(2026, 12, 5, 3, 4, 5, 0, time.UTC); err != nil || mv.To != ref || !mv.At.Equal(want) {
				t.Fatalf("DCMove() = %+v, %v; want to %+v at %s", mv, err, ref, want)
			}

			// Written again through the accessors: the same keys and bytes.
			if err := db.SetADMark(*m); err != nil {
				t.Fatal(err)
			}
			if err := db.SetPinnedDC(dc); err != nil {
				t.Fatal(err)
			}
			if err := db.SetDCMove(mv); err != nil {
				t.Fatal(err)
			}
			for k, want := range old {
				if got, err := db.meta(k); err != nil || got != want {
					t.Errorf("meta %q = %q, %v; want %q (the encoding earlier versions read)", k, got, err, want)
				}
			}
		})
	}
}

// A new state has no marks; a mark that does not decode is reported as
// unreadable, naming what is stored, so the engine can say why it compares
// every group.
func TestDCMarksAbsentAndUnreadable(t *testing.T) {
	db := backends()[0].open(t)
	if m, err := db.ADMark(); m != nil || err != nil {
		t.Fatalf("ADMark() of a new state = %+v, %v; want none", m, err)
	}
	if dc, err := db.PinnedDC(); !dc.IsZero() || err != nil {
		t.Fatalf("PinnedDC() of a new state = %+v, %v; want none", dc, err)
	}
	if mv, err := db.DCMove(); mv != (DCMove{}) || err != nil {
		t.Fatalf("DCMove() of a new state = %+v, %v; want none", mv, err)
	}
	for _, v := range []string{"not json", `{"dc":"CN=x","usn":5}`} {
		if err := db.setMeta("adChangeMark", v); err != nil {
			t.Fatal(err)
		}
		if m, err := db.ADMark(); m != nil || !errors.Is(err, ErrUnreadable) {
			t.Errorf("ADMark() of %q = %+v, %v; want ErrUnreadable", v, m, err)
		}
	}
	// A move whose time does not parse still names the DC (status shows it).
	if err := db.setMeta("dcMovedAt", "CN=NTDS Settings,CN=DC2,DC=test|g yesterday"); err != nil {
		t.Fatal(err)
	}
	if mv, err := db.DCMove(); err != nil || mv.To.DSServiceName != "CN=NTDS Settings,CN=DC2,DC=test" || !mv.At.IsZero() {
		t.Fatalf("DCMove() = %+v, %v; want DC2 at an unknown time", mv, err)
	}
}

// DCRef compares as AD does (case-insensitively) and survives a '|' in
// the DN.
func TestDCRefSameAndRoundTrip(t *testing.T) {
	a := DCRef{DSServiceName: "CN=NTDS Settings,CN=DC1,DC=test", InvocationID: "ABC"}
	if !a.Same(DCRef{DSServiceName: "cn=ntds settings,cn=dc1,dc=test", InvocationID: "abc"}) {
		t.Error("the same DC spelt in another case is not Same")
	}
	if a.Same(DCRef{DSServiceName: a.DSServiceName, InvocationID: "abd"}) {
		t.Error("another database of the DC is Same")
	}
	db := backends()[0].open(t)
	odd := DCRef{DSServiceName: "CN=NTDS Settings,CN=a|b,DC=test", InvocationID: "g"}
	if err := db.SetPinnedDC(odd); err != nil {
		t.Fatal(err)
	}
	if got, err := db.PinnedDC(); err != nil || got != odd {
		t.Fatalf("PinnedDC() = %+v, %v; want %+v", got, err, odd)
	}
}
