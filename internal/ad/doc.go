// Package ad owns writeback's conversation with Active Directory over LDAP: TLS and
// bind, RootDSE and schema discovery, paged searches, ranged retrieval of member,
// Global Catalog lookups, group writes (create, modify, batched member changes,
// rename/move, delete), objectGUID/SID conversion, and RFC 4514/4515 escaping.
//
// Everything here is written against Windows' limits (MaxPageSize=1000,
// MaxValRange=1500) even where the lab's Samba DC does not enforce them.
package ad
