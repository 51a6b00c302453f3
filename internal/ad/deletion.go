package ad

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/go-ldap/ldap/v3"
)

// Access mask bits and the SID "Protect object from accidental deletion"
// uses: Active Directory Users and Computers (and Set-ADObject
// -ProtectedFromAccidentalDeletion) adds an ACCESS_DENIED ACE for Everyone
// with Delete and Delete subtree on the object, and one with Delete child
// on its parent ([MS-ADTS] 5.1.3.2; SDDL (D;;SDDT;;;WD) and (D;;DC;;;WD)).
const (
	rightDelete      = 0x00010000 // DELETE (SDDL SD)
	rightDeleteTree  = 0x00000040 // ADS_RIGHT_DS_DELETE_TREE (DT)
	rightDeleteChild = 0x00000002 // ADS_RIGHT_DS_DELETE_CHILD (DC)
	aceAccessDenied  = 0x01
	everyoneSID      = "S-1-1-0"
	sdFlagsDACL      = 4 // DACL_SECURITY_INFORMATION: READ_CONTROL is enough to read it
)

// ErrProtectedFromDeletion marks a delete or move that Active Directory
// refused because the object is protected from accidental deletion.
var ErrProtectedFromDeletion = errors.New("protected from accidental deletion")

// deletionProtectedError is a refused delete or move of an object protected
// from accidental deletion: the DC's error, with what the protection is and
// how to lift it.
type deletionProtectedError struct {
	op, dn string
	err    error
}

func (e *deletionProtectedError) Error() string {
	what := "delete"
	if e.op == "move" {
		what = "move (a move deletes it from its OU)"
	}
	return e.err.Error() + ": the group is protected from accidental deletion (its permissions deny Everyone Delete and Delete subtree), so AD refuses to " + what +
		" it; writeback leaves it in place. To let writeback remove it, clear \"Protect object from accidental deletion\" on the group's Object tab in Active Directory Users and Computers, or run Set-ADObject '" + e.dn +
		"' -ProtectedFromAccidentalDeletion $false (on a Samba DC: remove the (D;;SDDT;;;WD) ACE with samba-tool dsacl); to keep it, set safety.onDelete/onOutOfScope to leave or convert"
}

func (e *deletionProtectedError) Unwrap() []error { return []error{e.err, ErrProtectedFromDeletion} }

// explainDenied turns a delete or move refused with insufficientAccessRights
// (LDAP 50) into an error that says why when dn is protected from accidental
// deletion; other errors, and a refusal for another reason, are returned as
// they are.
func (c *Conn) explainDenied(ctx context.Context, op, dn string, err error) error {
	if !IsInsufficientAccess(err) {
		return err
	}
	if p, perr := c.ProtectedFromDeletion(context.WithoutCancel(ctx), dn); perr == nil && p {
		return &deletionProtectedError{op: op, dn: dn, err: err}
	}
	return err
}

// ProtectedFromDeletion reports whether dn's DACL denies Everyone Delete or
// Delete subtree: "Protect object from accidental deletion" is set.
func (c *Conn) ProtectedFromDeletion(ctx context.Context, dn string) (bool, error) {
	e, err := c.searchOne(ctx, dn, []string{"nTSecurityDescriptor"}, []ldap.Control{&ldap.ControlMicrosoftSDFlags{ControlValue: sdFlagsDACL}})
	if err != nil || e == nil {
		return false, err
	}
	aces, err := deniedACEs(e.GetEqualFoldRawAttributeValue("nTSecurityDescriptor"))
	if err != nil {
		return false, fmt.Errorf("read the security descriptor of %s: %w", dn, err)
	}
	for _, a := range aces {
		if a.sid == everyoneSID && a.mask&(rightDelete|rightDeleteTree) != 0 {
			return true, nil
		}
	}
	return false, nil
}

type deniedACE struct {
	mask uint32
	sid  string
}

// deniedACEs returns the ACCESS_DENIED ACEs (not object ACEs) of the DACL
// of a self-relative security descriptor ([MS-DTYP] 2.4.6).
func deniedACEs(sd []byte) ([]deniedACE, error) {
	if len(sd) < 20 {
		return nil, fmt.Errorf("security descriptor of %d bytes", len(sd))
	}
	off := int(binary.LittleEndian.Uint32(sd[16:20]))
	if off == 0 {
		return nil, nil // no DACL
	}
	if off+8 > len(sd) {
		return nil, errors.New("DACL offset out of range")
	}
	count := int(binary.LittleEndian.Uint16(sd[off+4 : off+6]))
	p := off + 8
	var out []deniedACE
	for range count {
		if p+4 > len(sd) {
			return nil, errors.New("ACE out of range")
		}
		typ, size := sd[p], int(binary.LittleEndian.Uint16(sd[p+2:p+4]))
		if size < 4 || p+size > len(sd) {
			return nil, errors.New("ACE size out of range")
		}
		if typ == aceAccessDenied && size >= 16 {
			b := sd[p+8 : p+size]
			sid, err := SIDFromAD(b[:min(len(b), 8+4*int(b[1]))])
			if err == nil {
				out = append(out, deniedACE{mask: binary.LittleEndian.Uint32(sd[p+4 : p+8]), sid: sid})
			}
		}
		p += size
	}
	return out, nil
}
