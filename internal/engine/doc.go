// Package engine owns a provisioning round: it ingests Graph deltas into the
// state, works out which groups are affected, reads their AD side, plans
// (package plan) and applies the plan through the directory layer, recording
// progress, status, quarantine and the provisioning log. RunOnce is one
// round; Daemon runs rounds on the schedule ('writeback run').
//
// # A round, stage by stage
//
// One cloud change, say a user added to a group in Entra, reaches AD through
// these functions, each taking what the one before returned (file in
// brackets):
//
//  0. Pin and poll AD: pinDC (dcpin.go) fixes the domain controller the
//     round reads and writes (a new one means a full read), and
//     checkADChanges (tamper.go) marks pending the owned groups edited in AD
//     since the last round, so hand edits are repaired this round.
//  1. Read cloud changes: Ingest (ingest.go) reads the users and groups
//     deltas (package entra) into the state's cloud cache and marks the
//     group pending ("dirty").
//  2. Select: selectGroups (candidates.go) picks the round's groups: the
//     pending ones, every group in a full round (fullReason says why), or
//     those asked for.
//  3. Read actual: readActualSide (actual.go) reads the AD groups carrying
//     their anchors, then markProtectedNesting marks those nested in a
//     protected group.
//  4. Compute desired: computeDesired (desired.go) runs scope and the
//     mappings (mapGroup) for each group, asks ownership (ownership.go) what
//     to do with an AD group whose cloud group left, takes over in place the
//     AD group of a group converted to the cloud (soaPrepare, soa.go), and
//     reads the cloud members.
//  5. Resolve members: resolveMembers (members.go) turns the cloud members
//     into AD DNs through the Global Catalog (package resolve).
//  6. Plan: readObstacles (obstacles.go) finds what stands in the way
//     (occupied DNs, Connect Sync copies, groups moved out of the search
//     base); plan.Calculate (package plan, pure) computes the ordered
//     changes, each member add carrying the creates it Requires.
//  7. Apply: execute (apply.go) runs the changes step by step on a worker
//     pool (applyOne is one LDAP write through package ad), each after the
//     state's fence says this instance still leads (always, for a file).
//  8. Record: recordOutcome (record.go) writes the groups' statuses and
//     quarantines, clears the pending marks, records the DC and a full
//     round; recordADMark (tamper.go) moves the AD high-water mark.
//
// Plan (plan.go) is stages 2-6; Apply is 7 and recordOutcome; RunOnce
// (round.go) is 0-8 with the round's statistics. A saved plan (planfile.go)
// is checked by CheckStale before ApplySaved applies it; it does not move the
// AD mark (no poll came before it), so the next round compares the groups it
// wrote once more.
//
// The engine asks the DC through Directory in its own terms (groups by
// anchor or SID, who holds a DN, which names are taken, which groups
// Connect Sync marked: ad/queries.go; what member resolution reads on the
// DC: ad/dcreads.go); the LDAP filters and entries are ad's.
package engine
