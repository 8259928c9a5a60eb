// Package migration is the hands of CoucheStor: the 4-phase state machine that carries out one
// TierMigration (Pending → Analyzing → ScalingUp → WaitingSync → ScalingDown → Completed, or
// RollingBack → Failed) over a small storage port.
//
// Decisions are pure functions of the TierMigration, what the storage reported and a clock
// (Admit, deadline and error classification, the status transitions); Machine.Step performs one
// phase and writes the outcome to the TierMigration's status. The Mover's plan lives in
// status.checkpoint and is written to the API server before every cordon and every replica-count
// change, so any step can be re-run by a restarted operator from what the API server holds.
package migration
