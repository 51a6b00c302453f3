package emulator

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"
)

// LoadTenantFile reads a tenant file: JSON, or YAML when the name ends in
// .yaml or .yml (same field names). Unknown fields are errors.
func LoadTenantFile(path string) (TenantFile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return TenantFile{}, fmt.Errorf("read tenant file: %w", err)
	}
	if ext := strings.ToLower(filepath.Ext(path)); ext == ".yaml" || ext == ".yml" {
		var v any
		if err := yaml.Unmarshal(b, &v); err != nil {
			return TenantFile{}, fmt.Errorf("tenant file %s: %w", path, err)
		}
		if b, err = json.Marshal(v); err != nil {
			return TenantFile{}, fmt.Errorf("tenant file %s: %w", path, err)
		}
	}
	var f TenantFile
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return TenantFile{}, fmt.Errorf("tenant file %s: %w", path, err)
	}
	return f, nil
}

// NewTenantFromFile loads a tenant file. Its change history is named after the
// file's content, so delta tokens issued for it stay valid when the emulator
// restarts with the same unchanged file.
func NewTenantFromFile(path string) (*Tenant, error) {
	f, err := LoadTenantFile(path)
	if err != nil {
		return nil, err
	}
	t, err := NewTenant(f)
	if err != nil {
		return nil, fmt.Errorf("tenant file %s: %w", path, err)
	}
	b, _ := os.ReadFile(path)
	sum := sha256.Sum256(b)
	t.epoch = hex.EncodeToString(sum[:4])
	return t, nil
}

// stateFile is the emulator's saved state: the tenant with its change
// history, so delta tokens survive an emulator restart with --dir.
type stateFile struct {
	Version  int          `json:"version"`
	TenantID string       `json:"tenantId"`
	Epoch    string       `json:"epoch"`
	Seq      uint64       `json:"seq"`
	MinSeq   uint64       `json:"minSeq"`
	Entries  []stateEntry `json:"entries"`
}

type stateEntry struct {
	Kind          kind           `json:"k"`
	User          *User          `json:"user,omitempty"`
	Group         *Group         `json:"group,omitempty"`
	Object        *Object        `json:"object,omitempty"`
	State         state          `json:"st,omitempty"`
	Created       uint64         `json:"c"`
	Changed       uint64         `json:"u"`
	Removed       uint64         `json:"r,omitempty"`
	MemberChanged uint64         `json:"mc,omitempty"`
	Members       []int32        `json:"m,omitempty"`
	Log           []memberChange `json:"log,omitempty"`
	MemberOf      []int32        `json:"of,omitempty"`
}

// SaveState writes the tenant and its change history to path atomically.
func (t *Tenant) SaveState(path string) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("save emulator state: %w", err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	// Entries are encoded one at a time, so a large tenant's state is never
	// held in memory as one JSON document; the read lock keeps it consistent.
	t.mu.RLock()
	head, _ := json.Marshal(stateFile{Version: 1, TenantID: t.tenantID, Epoch: t.epoch, Seq: t.seq, MinSeq: t.minSeq})
	// head ends with "entries":null}; reopen the array.
	w.Write(bytes.TrimSuffix(head, []byte("null}")))
	w.WriteString("[\n")
	enc := json.NewEncoder(w)
	for i, e := range t.entries {
		se := stateEntry{Kind: e.kind, User: e.user, Group: e.group, Object: e.obj, State: e.state, Created: e.created,
			Changed: e.changed, Removed: e.removed, MemberChanged: e.memberChanged, Log: e.log, MemberOf: e.memberOf}
		if e.kind == kindGroup {
			se.Members = e.sortedMembers()
		}
		if i > 0 {
			w.WriteString(",")
		}
		if err = enc.Encode(&se); err != nil {
			break
		}
	}
	t.mu.RUnlock()
	w.WriteString("]}\n")
	if err == nil {
		err = w.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		return fmt.Errorf("save emulator state %s: %w", path, err)
	}
	return nil
}

// LoadState reads a state file written by SaveState.
func LoadState(path string) (*Tenant, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load emulator state: %w", err)
	}
	defer f.Close()
	var s stateFile
	if err := json.NewDecoder(bufio.NewReaderSize(f, 1<<20)).Decode(&s); err != nil {
		return nil, fmt.Errorf("load emulator state %s: %w (delete it to start from the tenant file)", path, err)
	}
	if s.Version != 1 {
		return nil, fmt.Errorf("load emulator state %s: version %d not supported", path, s.Version)
	}
	t := &Tenant{tenantID: s.TenantID, epoch: s.Epoch, seq: s.Seq, minSeq: s.MinSeq, byID: make(map[string]int32, len(s.Entries))}
	t.entries = make([]*entry, len(s.Entries))
	for i, se := range s.Entries {
		e := &entry{idx: int32(i), kind: se.Kind, user: se.User, group: se.Group, obj: se.Object, state: se.State,
			created: se.Created, changed: se.Changed, removed: se.Removed, memberChanged: se.MemberChanged, log: se.Log, memberOf: se.MemberOf}
		switch e.kind {
		case kindUser:
			t.users = append(t.users, e.idx)
		case kindGroup:
			t.groups = append(t.groups, e.idx)
			e.members = make(map[int32]struct{}, len(se.Members))
			for _, m := range se.Members {
				if m < 0 || int(m) >= len(s.Entries) {
					return nil, fmt.Errorf("load emulator state %s: group %d has bad member index %d", path, i, m)
				}
				e.members[m] = struct{}{}
			}
			e.sorted = se.Members
		}
		if e.user == nil && e.group == nil && e.obj == nil {
			return nil, fmt.Errorf("load emulator state %s: entry %d is empty", path, i)
		}
		t.entries[i] = e
		t.byID[strings.ToLower(e.id())] = e.idx
	}
	return t, nil
}

// OnChange registers fn to run after every change (under the tenant's lock:
// fn must not call back into the tenant; signal a saver goroutine instead).
func (t *Tenant) OnChange(fn func()) {
	t.mu.Lock()
	t.onChange = fn
	t.mu.Unlock()
}
