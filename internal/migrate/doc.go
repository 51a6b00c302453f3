// Package migrate owns the move from Entra Connect Sync group writeback v2 to
// writeback: assessing the groups Connect Sync wrote, copying their anchor
// (adminDescription → msDS-ExternalDirectoryObjectId) under a journal that can
// be resumed and rolled back, verifying the result, generating the Connect Sync
// PowerShell for the guide's steps 2 to 6, and writing the configuration that
// takes the groups over without renaming them.
//
// It reads AD, the Global Catalog and Entra through small interfaces defined
// here, so the decisions (classification, verdict, journal replay) are tested
// with in-memory fakes, and the I/O against the in-process LDAP server ldaptest
// (through the CLI's tests, cmd/writeback), the Samba lab and the Graph emulator.
package migrate
