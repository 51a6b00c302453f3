package emulator

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// adminRoutes is the admin API, JSON under /_emulator/. It has no
// authentication: the emulator listens on loopback and is a test instrument.
func (s *Server) adminRoutes(m *http.ServeMux) {
	m.HandleFunc("GET /_emulator/{$}", func(w http.ResponseWriter, r *http.Request) {
		adminJSON(w, 200, map[string]any{"tenant": s.t.Counts(), "clientId": s.opts.ClientID, "faults": s.Faults(), "stats": s.Stats()})
	})
	m.HandleFunc("GET /_emulator/tenant", func(w http.ResponseWriter, r *http.Request) { adminJSON(w, 200, s.t.Export()) })
	m.HandleFunc("GET /_emulator/stats", func(w http.ResponseWriter, r *http.Request) { adminJSON(w, 200, s.Stats()) })
	m.HandleFunc("GET /_emulator/faults", func(w http.ResponseWriter, r *http.Request) { adminJSON(w, 200, s.Faults()) })
	m.HandleFunc("PUT /_emulator/faults", func(w http.ResponseWriter, r *http.Request) {
		var f Faults
		if !decodeBody(w, r, &f) {
			return
		}
		s.SetFaults(f)
		adminJSON(w, 200, f)
	})
	m.HandleFunc("POST /_emulator/expire-delta-tokens", func(w http.ResponseWriter, r *http.Request) {
		s.t.ExpireDeltaTokens()
		w.WriteHeader(204)
	})
	m.HandleFunc("POST /_emulator/revoke-tokens", func(w http.ResponseWriter, r *http.Request) {
		s.RevokeTokens()
		w.WriteHeader(204)
	})

	m.HandleFunc("POST /_emulator/groups", func(w http.ResponseWriter, r *http.Request) {
		var g Group
		if !decodeBody(w, r, &g) {
			return
		}
		out, err := s.t.AddGroup(g)
		reply(w, 201, out, err)
	})
	m.HandleFunc("GET /_emulator/groups/{id}", func(w http.ResponseWriter, r *http.Request) {
		g, ok := s.t.Group(r.PathValue("id"))
		if !ok {
			adminErr(w, fmt.Errorf("group %s: %w", r.PathValue("id"), ErrNotFound))
			return
		}
		adminJSON(w, 200, g)
	})
	m.HandleFunc("PATCH /_emulator/groups/{id}", func(w http.ResponseWriter, r *http.Request) {
		body, ok := readBody(w, r)
		if !ok {
			return
		}
		var perr error
		out, err := s.t.UpdateGroup(r.PathValue("id"), func(g *Group) { perr = json.Unmarshal(body, g) })
		if perr != nil {
			err = fmt.Errorf("bad JSON: %w", perr)
		}
		reply(w, 200, out, err)
	})
	m.HandleFunc("DELETE /_emulator/groups/{id}", func(w http.ResponseWriter, r *http.Request) {
		reply(w, 204, nil, s.t.DeleteGroup(r.PathValue("id"), r.URL.Query().Get("permanent") == "true"))
	})
	m.HandleFunc("POST /_emulator/groups/{id}/restore", func(w http.ResponseWriter, r *http.Request) {
		reply(w, 204, nil, s.t.RestoreGroup(r.PathValue("id")))
	})
	m.HandleFunc("POST /_emulator/groups/{id}/members", func(w http.ResponseWriter, r *http.Request) {
		var b struct{ IDs []string }
		if !decodeBody(w, r, &b) {
			return
		}
		reply(w, 204, nil, s.t.AddMembers(r.PathValue("id"), b.IDs...))
	})
	m.HandleFunc("POST /_emulator/groups/{id}/members/remove", func(w http.ResponseWriter, r *http.Request) {
		var b struct{ IDs []string }
		if !decodeBody(w, r, &b) {
			return
		}
		reply(w, 204, nil, s.t.RemoveMembers(r.PathValue("id"), b.IDs...))
	})
	m.HandleFunc("DELETE /_emulator/groups/{id}/members/{member}", func(w http.ResponseWriter, r *http.Request) {
		reply(w, 204, nil, s.t.RemoveMembers(r.PathValue("id"), r.PathValue("member")))
	})

	m.HandleFunc("POST /_emulator/users", func(w http.ResponseWriter, r *http.Request) {
		var u User
		if !decodeBody(w, r, &u) {
			return
		}
		out, err := s.t.AddUser(u)
		reply(w, 201, out, err)
	})
	m.HandleFunc("GET /_emulator/users/{id}", func(w http.ResponseWriter, r *http.Request) {
		u, ok := s.t.User(r.PathValue("id"))
		if !ok {
			adminErr(w, fmt.Errorf("user %s: %w", r.PathValue("id"), ErrNotFound))
			return
		}
		adminJSON(w, 200, u)
	})
	m.HandleFunc("PATCH /_emulator/users/{id}", func(w http.ResponseWriter, r *http.Request) {
		body, ok := readBody(w, r)
		if !ok {
			return
		}
		var perr error
		out, err := s.t.UpdateUser(r.PathValue("id"), func(u *User) { perr = json.Unmarshal(body, u) })
		if perr != nil {
			err = fmt.Errorf("bad JSON: %w", perr)
		}
		reply(w, 200, out, err)
	})
	m.HandleFunc("DELETE /_emulator/users/{id}", func(w http.ResponseWriter, r *http.Request) {
		reply(w, 204, nil, s.t.DeleteUser(r.PathValue("id"), r.URL.Query().Get("permanent") == "true"))
	})
	m.HandleFunc("POST /_emulator/users/{id}/restore", func(w http.ResponseWriter, r *http.Request) {
		reply(w, 204, nil, s.t.RestoreUser(r.PathValue("id")))
	})
	m.HandleFunc("POST /_emulator/objects", func(w http.ResponseWriter, r *http.Request) {
		var o Object
		if !decodeBody(w, r, &o) {
			return
		}
		out, err := s.t.AddObject(o)
		reply(w, 201, out, err)
	})
}

func readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<20))
	if err != nil {
		adminJSON(w, 400, map[string]string{"error": "read body: " + err.Error()})
		return nil, false
	}
	return b, true
}

func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	b, ok := readBody(w, r)
	if !ok {
		return false
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		adminJSON(w, 400, map[string]string{"error": "bad JSON: " + err.Error()})
		return false
	}
	return true
}

func reply(w http.ResponseWriter, status int, v any, err error) {
	if err != nil {
		adminErr(w, err)
		return
	}
	if v == nil {
		w.WriteHeader(status)
		return
	}
	adminJSON(w, status, v)
}

func adminErr(w http.ResponseWriter, err error) {
	status := 400
	switch {
	case errors.Is(err, ErrNotFound):
		status = 404
	case errors.Is(err, ErrExists), errors.Is(err, ErrState):
		status = 409
	}
	adminJSON(w, status, map[string]string{"error": err.Error()})
}

func adminJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}
