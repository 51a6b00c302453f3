package migrate

import "encoding/json"

// Durations in writeback's JSON output are fractional seconds, in fields
// named ...Seconds (elapsedNs before).

// MarshalJSON writes Elapsed as elapsedSeconds.
func (r PrepareResult) MarshalJSON() ([]byte, error) {
	type fields PrepareResult
	return json.Marshal(struct {
		fields
		ElapsedSeconds float64 `json:"elapsedSeconds"`
	}{fields(r), r.Elapsed.Seconds()})
}

// MarshalJSON writes Elapsed as elapsedSeconds.
func (r RollbackResult) MarshalJSON() ([]byte, error) {
	type fields RollbackResult
	return json.Marshal(struct {
		fields
		ElapsedSeconds float64 `json:"elapsedSeconds"`
	}{fields(r), r.Elapsed.Seconds()})
}
