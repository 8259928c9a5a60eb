// Package migration is the hands of CoucheStor: the 4-phase state machine that carries out one
// TierMigration (Pending → Analyzing → ScalingUp → WaitingSync → ScalingDown → Completed, or
// RollingBack → Failed) over a small storage port.
//
// Decisions are pure functions of the TierMigration, what the storage reported and a clock:
// Admit (decide.go) for a Pending migration, and Machine.next (next.go) for a step in flight,
// which returns one action (ask the storage, read the volume, or a change of status: enter a
// phase, roll back, end, retry, wait). Machine.Step (machine.go) performs the storage calls
// and Machine.perform (status.go) writes the status change and says its Events; ending.go
// words what a migration says at its end (what earlier rounds did, what the volume holds,
// which replicas it keeps). The Mover's plan lives in
// status.checkpoint and is written to the API server before every cordon and every replica-count
// change, so any step can be re-run by a restarted operator from what the API server holds.
package migration
