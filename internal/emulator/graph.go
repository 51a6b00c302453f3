//lint:file-ignore ST1005 the emulator's error messages are Graph's own, word for word, capitals and full stops included.

package emulator

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// Property names Graph accepts in $select beyond the ones the emulator
// stores; they are served as the object's Extra value or null.
var (
	groupProps = []string{"id", "displayName", "description", "mailNickname", "mail", "securityEnabled",
		"mailEnabled", "groupTypes", "onPremisesSyncEnabled", "visibility", "createdDateTime"}
	groupOtherProps = []string{"classification", "proxyAddresses", "securityIdentifier", "membershipRule",
		"membershipRuleProcessingState", "onPremisesSamAccountName", "onPremisesSecurityIdentifier",
		"onPremisesDomainName", "onPremisesNetBiosName", "onPremisesLastSyncDateTime", "expirationDateTime",
		"renewedDateTime", "isAssignableToRole", "resourceProvisioningOptions", "resourceBehaviorOptions",
		"creationOptions", "uniqueName", "deletedDateTime", "preferredLanguage", "theme", "writebackConfiguration"}
	userProps = []string{"id", "displayName", "userPrincipalName", "mail", "givenName", "surname", "accountEnabled",
		"onPremisesSyncEnabled", "onPremisesObjectIdentifier", "onPremisesSecurityIdentifier", "onPremisesImmutableId",
		"onPremisesDistinguishedName", "onPremisesDomainName", "onPremisesSamAccountName",
		"onPremisesUserPrincipalName", "createdDateTime"}
	userOtherProps = []string{"jobTitle", "department", "employeeId", "companyName", "proxyAddresses",
		"onPremisesExtensionAttributes", "otherMails", "usageLocation", "userType", "onPremisesLastSyncDateTime",
		"mobilePhone", "officeLocation", "businessPhones", "preferredLanguage", "employeeType", "deletedDateTime"}
)

func (e *entry) prop(name string) any {
	switch e.kind {
	case kindGroup:
		g := e.group
		switch name {
		case "id":
			return g.ID
		case "displayName":
			return g.DisplayName
		case "description":
			return nullIfEmpty(g.Description)
		case "mailNickname":
			return g.MailNickname
		case "mail":
			return nullIfEmpty(g.Mail)
		case "securityEnabled":
			return g.SecurityEnabled
		case "mailEnabled":
			return g.MailEnabled
		case "groupTypes":
			if g.GroupTypes == nil {
				return []string{}
			}
			return g.GroupTypes
		case "onPremisesSyncEnabled":
			return g.OnPremisesSyncEnabled
		case "visibility":
			return nullIfEmpty(g.Visibility)
		case "createdDateTime":
			return g.CreatedDateTime
		}
		return g.Extra[name]
	case kindUser:
		u := e.user
		switch name {
		case "id":
			return u.ID
		case "displayName":
			return u.DisplayName
		case "userPrincipalName":
			return u.UserPrincipalName
		case "mail":
			return nullIfEmpty(u.Mail)
		case "givenName":
			return nullIfEmpty(u.GivenName)
		case "surname":
			return nullIfEmpty(u.Surname)
		case "accountEnabled":
			if u.AccountEnabled == nil {
				return true
			}
			return *u.AccountEnabled
		case "onPremisesSyncEnabled":
			return u.OnPremisesSyncEnabled
		case "onPremisesObjectIdentifier":
			return nullIfEmpty(u.OnPremisesObjectIdentifier)
		case "onPremisesSecurityIdentifier":
			return nullIfEmpty(u.OnPremisesSecurityIdentifier)
		case "onPremisesImmutableId":
			return nullIfEmpty(u.OnPremisesImmutableId)
		case "onPremisesDistinguishedName":
			return nullIfEmpty(u.OnPremisesDistinguishedName)
		case "onPremisesDomainName":
			return nullIfEmpty(u.OnPremisesDomainName)
		case "onPremisesSamAccountName":
			return nullIfEmpty(u.OnPremisesSamAccountName)
		case "onPremisesUserPrincipalName":
			return nullIfEmpty(u.OnPremisesUserPrincipalName)
		case "createdDateTime":
			return u.CreatedDateTime
		}
		return u.Extra[name]
	}
	switch name {
	case "id":
		return e.obj.ID
	case "displayName":
		return e.obj.DisplayName
	}
	if e.obj.Type == "device" {
		switch name {
		case "onPremisesSecurityIdentifier":
			return nullIfEmpty(e.obj.OnPremisesSecurityIdentifier)
		case "onPremisesSyncEnabled":
			return e.obj.OnPremisesSyncEnabled
		}
	}
	return nil
}

// deviceProps are the device properties the emulator serves.
var deviceProps = []string{"id", "displayName", "onPremisesSecurityIdentifier", "onPremisesSyncEnabled"}

// getDevice is GET /devices/{id}: a device, by object ID.
func (s *Server) getDevice(w http.ResponseWriter, r *http.Request) {
	s.t.mu.RLock()
	defer s.t.mu.RUnlock()
	var sel []string
	for _, p := range strings.Split(r.URL.Query().Get("$select"), ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		if !slices.Contains(deviceProps, p) {
			graphError(w, r, 400, "Request_BadRequest", fmt.Sprintf("Could not find a property named '%s' on type 'microsoft.graph.device'.", p))
			return
		}
		sel = append(sel, p)
	}
	if len(sel) == 0 {
		sel = deviceProps
	}
	e, ok := s.liveEntry(w, r, kindObject)
	if !ok || e.obj.Type != "device" {
		if ok {
			graphError(w, r, 404, "Request_ResourceNotFound", fmt.Sprintf("Resource '%s' does not exist or one of its queried reference-property objects are not present.", r.PathValue("id")))
		}
		return
	}
	m := e.render(sel, false)
	m["@odata.context"] = baseURL(r) + "/v1.0/$metadata#devices/$entity"
	writeJSON(w, 200, m)
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// render returns the object's selected properties (all default ones when sel is empty).
func (e *entry) render(sel []string, withType bool) map[string]any {
	if len(sel) == 0 {
		switch e.kind {
		case kindGroup:
			sel = groupProps
		case kindUser:
			sel = userProps
		default:
			sel = []string{"id", "displayName"}
		}
	}
	m := make(map[string]any, len(sel)+1)
	if withType {
		m["@odata.type"] = e.odataType()
	}
	m["id"] = e.id()
	for _, p := range sel {
		if p == "members" {
			continue
		}
		m[p] = e.prop(p)
	}
	return m
}

// undeclaredUserProps are served by Graph in practice (or in beta) but not
// declared on user in v1.0's metadata; v1.0 refuses them in $select unless
// Options.ServeObjectIdentifier says to serve them.
var undeclaredUserProps = []string{"onPremisesObjectIdentifier"}

// renderChanged renders a user changed since seq with only its id and the
// selected properties changed after seq, as Graph may in an incremental
// delta. Without a record of which properties changed (state loaded from an
// older file) it renders them all.
func (e *entry) renderChanged(sel []string, since uint64) map[string]any {
	if len(sel) == 0 {
		sel = userProps
	}
	m := map[string]any{"id": e.id()}
	found := false
	for _, p := range sel {
		if e.propChanged[p] > since {
			m[p] = e.prop(p)
			found = true
		}
	}
	if !found {
		return e.render(sel, false)
	}
	return m
}

// parseSelect checks $select against the type's properties, refusing an
// unknown one as Graph does.
func (s *Server) parseSelect(raw string, k kind) ([]string, error) {
	if raw == "" {
		return nil, nil
	}
	known, other, typ := groupProps, groupOtherProps, "group"
	if k == kindUser {
		known, other, typ = userProps, userOtherProps, "user"
	}
	var sel []string
	for _, p := range strings.Split(raw, ",") {
		p = strings.TrimSpace(p)
		switch {
		case p == "":
			continue
		case k == kindUser && !s.opts.ServeObjectIdentifier && slices.Contains(undeclaredUserProps, p):
			return nil, fmt.Errorf("Could not find a property named '%s' on type 'microsoft.graph.%s'.", p, typ)
		case p == "members" && k == kindGroup, slices.Contains(known, p), slices.Contains(other, p), strings.HasPrefix(p, "extension_"):
		default:
			return nil, fmt.Errorf("Could not find a property named '%s' on type 'microsoft.graph.%s'.", p, typ)
		}
		if !slices.Contains(sel, p) {
			sel = append(sel, p)
		}
	}
	return sel, nil
}

// deltaState is what $skiptoken and $deltatoken carry. Tokens are opaque to
// clients; they name the tenant's change history (Epoch) and a change
// sequence number, so they stay valid across client and emulator restarts
// while the history is kept (see Server persistence).
type deltaState struct {
	K     string   `json:"k"`           // "g" groups, "u" users
	E     string   `json:"e"`           // tenant epoch
	Since uint64   `json:"s,omitempty"` // changes after this seq; 0 = full round
	Snap  uint64   `json:"n"`           // seq the round started at; becomes the next deltaLink's Since
	After int32    `json:"a"`           // last object index (fully) served
	Off   int      `json:"o,omitempty"` // members of object After already served
	Sel   []string `json:"l,omitempty"`
	Top   int      `json:"t,omitempty"`
}

func (d deltaState) encode() string {
	b, _ := json.Marshal(d)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeState(s string) (deltaState, bool) {
	var d deltaState
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || json.Unmarshal(b, &d) != nil {
		return d, false
	}
	return d, true
}

func (s *Server) groupsDelta(w http.ResponseWriter, r *http.Request) { s.delta(w, r, kindGroup) }
func (s *Server) usersDelta(w http.ResponseWriter, r *http.Request)  { s.delta(w, r, kindUser) }

// pageSize reads $top or Prefer: odata.maxpagesize, bounded to Graph's 999.
func (s *Server) pageSize(r *http.Request) (int, error) {
	n := s.opts.PageSize
	if v := r.URL.Query().Get("$top"); v != "" {
		t, err := strconv.Atoi(v)
		if err != nil || t < 1 {
			return 0, fmt.Errorf("Invalid value '%s' for $top. It must be a positive integer.", v)
		}
		n = t
	}
	for _, p := range r.Header.Values("Prefer") {
		for _, part := range strings.Split(p, ",") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(part), "odata.maxpagesize="); ok {
				if t, err := strconv.Atoi(v); err == nil && t > 0 {
					n = t
				}
			}
		}
	}
	return min(n, 999), nil
}

func (s *Server) delta(w http.ResponseWriter, r *http.Request, k kind) {
	q := r.URL.Query()
	kname, path := "g", "/v1.0/groups/delta"
	if k == kindUser {
		kname, path = "u", "/v1.0/users/delta"
	}
	if q.Has("$top") {
		// Delta pages are sized with Prefer: odata.maxpagesize only.
		graphError(w, r, 400, "Request_UnsupportedQuery", "Unsupported query parameter $top for delta query; use the Prefer: odata.maxpagesize header.")
		return
	}
	t := s.t
	t.mu.RLock()
	defer t.mu.RUnlock()
	var st deltaState
	switch {
	case q.Get("$skiptoken") != "" || q.Get("$deltatoken") != "":
		tok, isDelta := q.Get("$skiptoken"), false
		if tok == "" {
			tok, isDelta = q.Get("$deltatoken"), true
		}
		if isDelta && tok == "latest" {
			// "Sync from now": only a deltaLink, no data.
			st = deltaState{K: kname, E: t.epoch, Since: t.seq, Snap: t.seq, After: -1}
			writeJSON(w, 200, map[string]any{"@odata.context": baseURL(r) + "/v1.0/$metadata#" + kindPlural(k), "value": []any{},
				"@odata.deltaLink": baseURL(r) + path + "?$deltatoken=" + st.encode()})
			return
		}
		var ok bool
		st, ok = decodeState(tok)
		if !ok || st.K != kname {
			graphError(w, r, 400, "Request_BadRequest", "Invalid delta token or skip token.")
			return
		}
		switch {
		case st.E != t.epoch || st.Snap > t.seq || st.Since > st.Snap:
			// The tenant's change history was reset (a reloaded tenant):
			// Graph answers 410 Gone with the request to start over in
			// Location, keeping the token's $select.
			loc := baseURL(r) + path
			if len(st.Sel) > 0 {
				loc += "?$select=" + strings.Join(st.Sel, ",")
			}
			w.Header().Set("Location", loc)
			graphError(w, r, 410, "resyncRequired", "Resync required. Replace any local data with a full synchronization, starting from the request in the Location header.")
			return
		case st.Snap < t.minSeq:
			// Past the retention of the change history: the documented
			// answer for an expired token.
			graphError(w, r, 400, "syncStateNotFound", "The sync state generation is not found. The delta token is expired and data must be synchronized again.")
			return
		}
		if isDelta {
			// A new incremental round: changes after Since up to now.
			st.Snap, st.After, st.Off = t.seq, -1, 0
			if st.Since == 0 {
				st.Since = st.Snap // never happens for tokens we issue; be safe
			}
		}
	default:
		sel, err := s.parseSelect(q.Get("$select"), k)
		if err != nil {
			graphError(w, r, 400, "Request_BadRequest", err.Error())
			return
		}
		top, err := s.pageSize(r)
		if err != nil {
			graphError(w, r, 400, "Request_BadRequest", err.Error())
			return
		}
		st = deltaState{K: kname, E: t.epoch, Snap: t.seq, After: -1, Sel: sel, Top: top}
	}
	if top, _ := s.pageSize(r); r.Header.Get("Prefer") != "" || st.Top == 0 {
		st.Top = top
	}
	items, next := s.deltaPage(st, k)
	s.stats.DeltaPages.Add(1)
	out := map[string]any{"@odata.context": baseURL(r) + "/v1.0/$metadata#" + kindPlural(k), "value": items}
	if next != nil {
		out["@odata.nextLink"] = baseURL(r) + path + "?$skiptoken=" + next.encode()
	} else {
		done := deltaState{K: kname, E: t.epoch, Since: st.Snap, Snap: st.Snap, After: -1, Sel: st.Sel, Top: st.Top}
		out["@odata.deltaLink"] = baseURL(r) + path + "?$deltatoken=" + done.encode()
	}
	writeJSON(w, 200, out)
}

func kindPlural(k kind) string {
	if k == kindUser {
		return "users"
	}
	return "groups"
}

type memberOut struct {
	Type    string         `json:"@odata.type"`
	ID      string         `json:"id"`
	Removed map[string]any `json:"@removed,omitempty"`
}

var removedDeleted = map[string]any{"reason": "deleted"}

// deltaPage builds one page from st; next is nil on the last page. Caller holds t.mu.RLock.
func (s *Server) deltaPage(st deltaState, k kind) (items []any, next *deltaState) {
	t := s.t
	list := t.groups
	if k == kindUser {
		list = t.users
	}
	withMembers := k == kindGroup && slices.Contains(st.Sel, "members")
	pos := sortedIndex(list, st.After)
	off := 0
	if st.Off > 0 {
		pos, off = sortedIndex(list, st.After-1), st.Off
	}
	objBudget, memBudget := st.Top, s.opts.MembersPerPage
	items = make([]any, 0, min(objBudget, 128))
	full := st.Since == 0
	for i := pos; i < len(list); i++ {
		e := t.entries[list[i]]
		if objBudget == 0 || (withMembers && memBudget == 0) {
			n := st
			n.After, n.Off = list[i]-1, 0
			if i > 0 {
				n.After = list[i-1]
			}
			return items, &n
		}
		if !full && e.lastChange() <= st.Since {
			continue
		}
		switch e.state {
		case hardDeleted:
			if full {
				continue
			}
			items = append(items, map[string]any{"id": e.id(), "@removed": map[string]any{"reason": "deleted"}})
			objBudget--
			continue
		case softDeleted:
			// Graph reports soft-deleted groups, even in a first round, as
			// removed with reason "changed": they can still be restored.
			items = append(items, map[string]any{"id": e.id(), "@removed": map[string]any{"reason": "changed"}})
			objBudget--
			continue
		}
		var obj map[string]any
		if k == kindUser && s.opts.PartialUserUpdates && !full && e.created <= st.Since {
			obj = e.renderChanged(st.Sel, st.Since)
		} else {
			obj = e.render(st.Sel, false)
		}
		objBudget--
		if withMembers {
			// A first round lists the members; a later one the changes since.
			changes := !full && e.created <= st.Since
			var list []int32
			if changes {
				list = e.memberChangesSince(st.Since)
			} else {
				list = e.sortedMembers()
			}
			chunk := list[min(off, len(list)):]
			more := len(chunk) > memBudget
			if more {
				chunk = chunk[:memBudget]
			}
			all := make([]memberOut, len(chunk))
			for j, m := range chunk {
				me := t.entries[m]
				all[j] = memberOut{Type: me.odataType(), ID: me.id()}
				if changes {
					if _, in := e.members[m]; !in {
						all[j].Removed = removedDeleted
					}
				}
			}
			memBudget -= len(chunk)
			if len(all) > 0 {
				// Graph sends no members@delta at all for a group
				// without members (not an empty list).
				obj["members@delta"] = all
			}
			items = append(items, obj)
			if more {
				n := st
				n.After, n.Off = e.idx, off+len(chunk)
				return items, &n
			}
		} else {
			items = append(items, obj)
		}
		off = 0
	}
	return items, nil
}

// memberChangesSince lists the members whose membership changed after seq, in
// the order first changed; whether each is now in or out is read from members.
func (e *entry) memberChangesSince(seq uint64) []int32 {
	i, _ := slices.BinarySearchFunc(e.log, seq+1, func(c memberChange, s uint64) int {
		switch {
		case c.Seq < s:
			return -1
		case c.Seq > s:
			return 1
		}
		return 0
	})
	seen := make(map[int32]bool)
	var out []int32
	for _, c := range e.log[i:] {
		if !seen[c.Member] {
			seen[c.Member] = true
			out = append(out, c.Member)
		}
	}
	return out
}

// listPage serves a plain collection (no delta) from a slice of entries,
// with $top and a $skiptoken that is the offset.
func (s *Server) listPage(w http.ResponseWriter, r *http.Request, path string, k kind, list []int32, withType bool) {
	q := r.URL.Query()
	sel, err := s.parseSelect(q.Get("$select"), k)
	if err != nil {
		graphError(w, r, 400, "Request_BadRequest", err.Error())
		return
	}
	top, err := s.pageSize(r)
	if err != nil {
		graphError(w, r, 400, "Request_BadRequest", err.Error())
		return
	}
	off := 0
	if v := q.Get("$skiptoken"); v != "" {
		if off, err = strconv.Atoi(v); err != nil || off < 0 {
			graphError(w, r, 400, "Request_BadRequest", "Invalid skip token.")
			return
		}
	}
	t := s.t
	items := make([]any, 0, top)
	i := off
	for ; i < len(list) && len(items) < top; i++ {
		e := t.entries[list[i]]
		if e.state != live {
			continue
		}
		items = append(items, e.render(sel, withType))
	}
	out := map[string]any{"@odata.context": baseURL(r) + "/v1.0/$metadata#" + strings.TrimPrefix(path, "/v1.0/"), "value": items}
	if i < len(list) {
		nq := q
		nq.Set("$skiptoken", strconv.Itoa(i))
		nq.Set("$top", strconv.Itoa(top))
		out["@odata.nextLink"] = baseURL(r) + path + "?" + nq.Encode()
	}
	writeJSON(w, 200, out)
}

func (s *Server) listGroups(w http.ResponseWriter, r *http.Request) {
	s.t.mu.RLock()
	defer s.t.mu.RUnlock()
	s.listPage(w, r, "/v1.0/groups", kindGroup, s.t.groups, false)
}

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request) {
	s.t.mu.RLock()
	defer s.t.mu.RUnlock()
	list := s.t.users
	if f := r.URL.Query().Get("$filter"); f != "" {
		ids, err := parseIDIn(f)
		if err != nil {
			graphError(w, r, 400, "Request_UnsupportedQuery", err.Error())
			return
		}
		list = nil
		for _, id := range ids {
			if i, ok := s.t.byID[strings.ToLower(id)]; ok && s.t.entries[i].kind == kindUser {
				list = append(list, i)
			}
		}
	}
	s.listPage(w, r, "/v1.0/users", kindUser, list, false)
}

// maxInValues is Graph's limit of values in one "in" clause on directory objects.
const maxInValues = 15

// parseIDIn reads the one filter the emulator serves on users: id in ('a','b').
func parseIDIn(f string) ([]string, error) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(f), "id in (")
	rest, ok2 := strings.CutSuffix(rest, ")")
	if !ok || !ok2 {
		return nil, fmt.Errorf("Unsupported or invalid query filter clause specified (the emulator serves only id in ('...')): %s", f)
	}
	var ids []string
	for _, v := range strings.Split(rest, ",") {
		v = strings.TrimSpace(v)
		if len(v) < 2 || v[0] != '\'' || v[len(v)-1] != '\'' {
			return nil, fmt.Errorf("Invalid filter clause: %s", f)
		}
		ids = append(ids, v[1:len(v)-1])
	}
	if len(ids) > maxInValues {
		return nil, fmt.Errorf("Too many child clauses specified in search filter expression containing 'OR' operators: %d. Max allowed: %d.", len(ids), maxInValues)
	}
	return ids, nil
}

func (s *Server) listMembers(w http.ResponseWriter, r *http.Request) {
	s.t.mu.RLock()
	defer s.t.mu.RUnlock()
	e, ok := s.liveEntry(w, r, kindGroup)
	if !ok {
		return
	}
	// $select on a mixed collection: properties unknown to a member's type
	// are null. v1.0 does not list service principals among members (beta
	// does).
	var list []int32
	for _, m := range e.sortedMembers() {
		if me := s.t.entries[m]; me.kind == kindObject && me.obj.Type == "servicePrincipal" {
			continue
		}
		list = append(list, m)
	}
	s.listPageAny(w, r, "/v1.0/groups/"+e.id()+"/members", list)
}

func (s *Server) listPageAny(w http.ResponseWriter, r *http.Request, path string, list []int32) {
	q := r.URL.Query()
	var sel []string
	for _, p := range strings.Split(q.Get("$select"), ",") {
		if p = strings.TrimSpace(p); p != "" {
			sel = append(sel, p)
		}
	}
	top, err := s.pageSize(r)
	if err != nil {
		graphError(w, r, 400, "Request_BadRequest", err.Error())
		return
	}
	off := 0
	if v := q.Get("$skiptoken"); v != "" {
		if off, err = strconv.Atoi(v); err != nil || off < 0 {
			graphError(w, r, 400, "Request_BadRequest", "Invalid skip token.")
			return
		}
	}
	end := min(off+top, len(list))
	items := make([]any, 0, max(end-off, 0))
	for i := off; i < end; i++ {
		items = append(items, s.t.entries[list[i]].render(sel, true))
	}
	out := map[string]any{"@odata.context": baseURL(r) + "/v1.0/$metadata#directoryObjects", "value": items}
	if end < len(list) {
		nq := q
		nq.Set("$skiptoken", strconv.Itoa(end))
		nq.Set("$top", strconv.Itoa(top))
		out["@odata.nextLink"] = baseURL(r) + path + "?" + nq.Encode()
	}
	writeJSON(w, 200, out)
}

func (s *Server) liveEntry(w http.ResponseWriter, r *http.Request, k kind) (*entry, bool) {
	id := r.PathValue("id")
	e, err := s.t.lookup(id, k)
	if err != nil || e.state != live {
		graphError(w, r, 404, "Request_ResourceNotFound", fmt.Sprintf("Resource '%s' does not exist or one of its queried reference-property objects are not present.", id))
		return nil, false
	}
	return e, true
}

func (s *Server) getGroup(w http.ResponseWriter, r *http.Request) { s.getOne(w, r, kindGroup) }
func (s *Server) getUser(w http.ResponseWriter, r *http.Request)  { s.getOne(w, r, kindUser) }

func (s *Server) getOne(w http.ResponseWriter, r *http.Request, k kind) {
	s.t.mu.RLock()
	defer s.t.mu.RUnlock()
	sel, err := s.parseSelect(r.URL.Query().Get("$select"), k)
	if err != nil {
		graphError(w, r, 400, "Request_BadRequest", err.Error())
		return
	}
	e, ok := s.liveEntry(w, r, k)
	if !ok {
		return
	}
	m := e.render(sel, false)
	m["@odata.context"] = baseURL(r) + "/v1.0/$metadata#" + kindPlural(k) + "/$entity"
	writeJSON(w, 200, m)
}

// getByIdsProps are the properties getByIds serves.
var getByIdsProps = []string{"id", "displayName", "userPrincipalName", "mail", "givenName", "surname"}

// getByIDs is POST /directoryObjects/getByIds: up to 1000 IDs, optionally
// restricted to types; unknown IDs are left out.
func (s *Server) getByIDs(w http.ResponseWriter, r *http.Request) {
	var body struct {
		IDs   []string `json:"ids"`
		Types []string `json:"types"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&body); err != nil {
		graphError(w, r, 400, "Request_BadRequest", "Invalid request body: "+err.Error())
		return
	}
	if len(body.IDs) == 0 || len(body.IDs) > 1000 {
		graphError(w, r, 400, "Request_BadRequest", fmt.Sprintf("The number of ids (%d) must be between 1 and 1000.", len(body.IDs)))
		return
	}
	var sel []string
	for _, p := range strings.Split(r.URL.Query().Get("$select"), ",") {
		// v1.0 answers getByIds with a subset of user properties (the
		// default set); the on-premises anchors are not among them.
		if p = strings.TrimSpace(p); p != "" && slices.Contains(getByIdsProps, p) {
			sel = append(sel, p)
		}
	}
	if len(sel) == 0 {
		sel = getByIdsProps
	}
	s.t.mu.RLock()
	defer s.t.mu.RUnlock()
	items := make([]any, 0, len(body.IDs))
	for _, id := range body.IDs {
		i, ok := s.t.byID[strings.ToLower(id)]
		if !ok {
			continue
		}
		e := s.t.entries[i]
		if e.state != live {
			continue
		}
		if len(body.Types) > 0 && !slices.ContainsFunc(body.Types, func(t string) bool {
			return strings.EqualFold(strings.TrimPrefix(e.odataType(), "#microsoft.graph."), t)
		}) {
			continue
		}
		items = append(items, e.render(sel, true))
	}
	writeJSON(w, 200, map[string]any{"@odata.context": baseURL(r) + "/v1.0/$metadata#directoryObjects", "value": items})
}

// syncBehaviorRole is the only application permission the
// onPremisesSyncBehavior page lists, for GET as for PATCH.
const syncBehaviorRole = "Group-OnPremisesSyncBehavior.ReadWrite.All"

// getSyncBehavior is GET /groups/{id}/onPremisesSyncBehavior.
func (s *Server) getSyncBehavior(w http.ResponseWriter, r *http.Request) {
	s.t.mu.RLock()
	defer s.t.mu.RUnlock()
	e, ok := s.liveEntry(w, r, kindGroup)
	if !ok {
		return
	}
	writeJSON(w, 200, map[string]any{
		"@odata.context": baseURL(r) + "/v1.0/$metadata#groups('" + e.id() + "')/onPremisesSyncBehavior/$entity",
		"id":             e.id(), "isCloudManaged": e.group.IsCloudManaged,
	})
}

// patchSyncBehavior is PATCH /groups/{id}/onPremisesSyncBehavior
// {"isCloudManaged": bool}: converting a synced group to cloud-managed
// clears onPremisesSyncEnabled (dirSyncEnabled becomes null); rolling back
// sets it again, as the next on-premises sync would. Both are changes the
// groups delta reports.
func (s *Server) patchSyncBehavior(w http.ResponseWriter, r *http.Request) {
	var body struct {
		IsCloudManaged *bool `json:"isCloudManaged"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&body); err != nil || body.IsCloudManaged == nil {
		graphError(w, r, 400, "Request_BadRequest", "Invalid request body: want {\"isCloudManaged\": true|false}")
		return
	}
	id := r.PathValue("id")
	_, err := s.t.UpdateGroup(id, func(g *Group) {
		if g.IsCloudManaged == *body.IsCloudManaged {
			return
		}
		g.IsCloudManaged = *body.IsCloudManaged
		if g.IsCloudManaged {
			g.OnPremisesSyncEnabled = nil
		} else {
			on := true
			g.OnPremisesSyncEnabled = &on
		}
	})
	if err != nil {
		graphError(w, r, 404, "Request_ResourceNotFound", fmt.Sprintf("Resource '%s' does not exist or one of its queried reference-property objects are not present.", id))
		return
	}
	w.WriteHeader(204)
}
