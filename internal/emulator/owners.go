package emulator

import (
	"net/http"
	"strings"
)

// listOwners is GET /groups/{id}/owners: the group's owners in the order
// the tenant file (or admin API) gives them, paged like members; an owner
// that no longer exists is left out. Graph's v1.0 page lists
// GroupMember.Read.All as the least privileged permission, then
// Group.Read.All and Directory.Read.All.
func (s *Server) listOwners(w http.ResponseWriter, r *http.Request) {
	s.t.mu.RLock()
	defer s.t.mu.RUnlock()
	e, ok := s.liveEntry(w, r, kindGroup)
	if !ok {
		return
	}
	var list []int32
	for _, id := range e.group.Owners {
		if i, ok := s.t.byID[strings.ToLower(id)]; ok && s.t.entries[i].state == live {
			list = append(list, i)
		}
	}
	s.listPageAny(w, r, "/v1.0/groups/"+e.id()+"/owners", list)
}
