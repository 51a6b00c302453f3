package migrate

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// The journal is a JSON-lines file. prepare writes an "intent" record and
// fsyncs it before the change it describes is sent to AD, then a "done" (or
// "failed") record after; rollback replays the intents. A record is one line,
// so an interrupted write leaves at most one torn last line, which is cut off
// when the journal is reopened.
//
// Lines:
//
//	{"type":"run","time":...,"command":"prepare","base":"OU=...","host":"dc1:636","version":1}
//	{"type":"intent","seq":7,"time":...,"dn":"CN=...","guid":"...","attr":"msDS-ExternalDirectoryObjectId","before":null,"after":"Group_..."}
//	{"type":"done","seq":7,"guid":"..."}
//	{"type":"failed","seq":7,"guid":"...","error":"..."}
//
// before is null when the attribute was absent. rollback writes its own
// intents (command "rollback") to the same kind of file.

// JournalVersion is the format version written in each run record.
const JournalVersion = 1

// Record is one journal line.
type Record struct {
	Type    string    `json:"type"` // run, intent, done, failed
	Time    time.Time `json:"time,omitzero"`
	Seq     int64     `json:"seq,omitempty"`
	Command string    `json:"command,omitempty"` // run: prepare or rollback
	Base    string    `json:"base,omitempty"`    // run
	Server  string    `json:"server,omitempty"`  // run
	Version int       `json:"version,omitempty"` // run
	DN      string    `json:"dn,omitempty"`
	GUID    string    `json:"guid,omitempty"`
	Attr    string    `json:"attr,omitempty"`
	Before  *string   `json:"before"`
	After   *string   `json:"after"`
	Error   string    `json:"error,omitempty"`
}

// MarshalJSON leaves before/after out of records that are not intents.
func (r Record) MarshalJSON() ([]byte, error) {
	type plain Record
	if r.Type == "intent" {
		return json.Marshal(plain(r))
	}
	type short struct {
		plain
		Before *string `json:"before,omitempty"`
		After  *string `json:"after,omitempty"`
	}
	return json.Marshal(short{plain: plain(r)})
}

// Journal appends records to a file.
type Journal struct {
	f    *os.File
	w    *bufio.Writer
	seq  int64
	path string
}

// OpenJournal opens (or creates) the journal at path for appending, after
// reading what it already holds. A torn last line (the process was killed in
// the middle of a write) is cut off; any other unreadable line is an error,
// because replaying a journal we do not understand could undo the wrong thing.
func OpenJournal(path string) (*Journal, []Record, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("open journal %s: %w", path, err)
	}
	recs, good, err := readRecords(f, path)
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if err := f.Truncate(good); err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("repair journal %s: %w", path, err)
	}
	if _, err := f.Seek(good, io.SeekStart); err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("seek journal %s: %w", path, err)
	}
	j := &Journal{f: f, w: bufio.NewWriterSize(f, 64<<10), path: path}
	for _, r := range recs {
		j.seq = max(j.seq, r.Seq)
	}
	return j, recs, nil
}

// ReadJournal reads every complete record of the journal at path.
func ReadJournal(path string) ([]Record, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open journal %s: %w", path, err)
	}
	defer f.Close()
	recs, _, err := readRecords(f, path)
	return recs, err
}

// readRecords returns the records and the offset just past the last complete line.
func readRecords(r io.Reader, path string) ([]Record, int64, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, 0, fmt.Errorf("read journal %s: %w", path, err)
	}
	var recs []Record
	var off int64
	line := 0
	for len(data) > 0 {
		line++
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			// Torn final write: no newline yet, so the change it described was
			// never sent (intents are synced before the change).
			break
		}
		var rec Record
		if err := json.Unmarshal(data[:i], &rec); err != nil || rec.Type == "" {
			if err == nil {
				err = errors.New("no type")
			}
			return nil, 0, fmt.Errorf("journal %s line %d: %v (not a writeback journal, or edited by hand)", path, line, err)
		}
		recs = append(recs, rec)
		off += int64(i + 1)
		data = data[i+1:]
	}
	return recs, off, nil
}

// Append buffers r, giving intents a sequence number. Call Sync before
// acting on an intent.
func (j *Journal) Append(r *Record) error {
	if r.Type == "intent" || r.Type == "run" {
		j.seq++
		r.Seq = j.seq
	}
	if r.Time.IsZero() && (r.Type == "run" || r.Type == "intent") {
		r.Time = time.Now().UTC()
	}
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode journal record: %w", err)
	}
	b = append(b, '\n')
	if _, err := j.w.Write(b); err != nil {
		return fmt.Errorf("write journal %s: %w", j.path, err)
	}
	return nil
}

// Sync writes buffered records and fsyncs the file.
func (j *Journal) Sync() error {
	if err := j.w.Flush(); err != nil {
		return fmt.Errorf("write journal %s: %w", j.path, err)
	}
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("sync journal %s: %w", j.path, err)
	}
	return nil
}

// Close syncs and closes the journal.
func (j *Journal) Close() error {
	err := j.Sync()
	if cerr := j.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close journal %s: %w", j.path, cerr)
	}
	return err
}

// Change is one attribute change a journal recorded, with how it ended.
type Change struct {
	Seq           int64
	DN, GUID      string
	Attr          string
	Before, After *string
	Outcome       string // done, failed, unknown (interrupted between intent and result)
	Error         string
	Command       string // the run that recorded it: prepare or rollback
}

// Changes folds a journal's records into its changes, in order.
func Changes(recs []Record) []Change {
	var out []Change
	idx := map[int64]int{}
	cmd := ""
	for _, r := range recs {
		switch r.Type {
		case "run":
			cmd = r.Command
		case "intent":
			idx[r.Seq] = len(out)
			out = append(out, Change{Seq: r.Seq, DN: r.DN, GUID: r.GUID, Attr: r.Attr, Before: r.Before, After: r.After, Outcome: "unknown", Command: cmd})
		case "done", "failed":
			if i, ok := idx[r.Seq]; ok {
				out[i].Outcome = r.Type
				out[i].Error = r.Error
			}
		}
	}
	return out
}

func strp(s string) *string { return &s }

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func show(p *string) string {
	if p == nil {
		return "(absent)"
	}
	return fmt.Sprintf("%q", *p)
}
