// Package ad owns writeback's conversation with Active Directory over LDAP: TLS and
// bind, RootDSE and schema discovery, paged searches, ranged retrieval of member,
// Global Catalog lookups, group writes (create, modify, batched member changes,
// rename/move, delete), objectGUID/SID conversion, and LDAP filter escaping
// (RFC 4515; DNs are internal/ldapdn's). The engine asks it questions in its
// own terms (queries.go); every LDAP filter writeback sends is built here
// (filters.go).
//
// Everything here is written against Windows' limits (MaxPageSize=1000,
// MaxValRange=1500) even where the lab's Samba DC does not enforce them.
package ad
