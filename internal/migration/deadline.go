package migration

import (
	"time"

	storagev1 "github.com/billyronks/couchestor/api/v1"
)

// DefaultSettleWindow is Machine.SettleWindow when unset.
const DefaultSettleWindow = 10 * time.Minute

// defaultTimeout is the timeout of a migration whose status predates status.timeout and holds
// no start time to derive it from.
const defaultTimeout = 30 * time.Minute

// RoundDeadline is the deadline of a round that starts at start (per round, and long enough
// for the rebuild the round needs, so a large volume is not rolled back at 99 %):
//
//	start + max(timeout, 2 × size ÷ rate)
//
// where rate = rebuiltBytes ÷ rebuildSeconds is the rebuild rate observed so far in this
// migration (volume size over the time from a scale-up to a rebuilt replica, summed over the
// rounds that got there). With no rebuild observed yet (the first round) it is start + timeout.
// A round whose rebuild is expected to take longer than half the timeout thus gets twice its
// expected rebuild time; a faster one keeps the user's timeout.
func RoundDeadline(start time.Time, timeout time.Duration, size, rebuiltBytes, rebuildSeconds int64) time.Time {
	d := timeout
	if size > 0 && rebuiltBytes > 0 && rebuildSeconds > 0 {
		expected := time.Duration(float64(size) / float64(rebuiltBytes) * float64(rebuildSeconds) * float64(time.Second))
		if expected > 0 && 2*expected > d {
			d = 2 * expected
		}
	}
	return start.Add(d)
}

// timeoutOf is the migration's effective timeout: status.timeout, else what the first deadline
// says (older statuses), else 30 minutes.
func timeoutOf(st *storagev1.TierMigrationStatus) time.Duration {
	switch {
	case st.Timeout != nil && st.Timeout.Duration > 0:
		return st.Timeout.Duration
	case st.Deadline != nil && st.StartTime != nil && st.Deadline.After(st.StartTime.Time):
		return st.Deadline.Sub(st.StartTime.Time)
	}
	return defaultTimeout
}

func (m *Machine) settleWindow() time.Duration {
	if m.SettleWindow > 0 {
		return m.SettleWindow
	}
	return DefaultSettleWindow
}

// phaseStart is when the current phase began (the running step's start).
func phaseStart(st *storagev1.TierMigrationStatus) time.Time {
	if n := len(st.Steps); n > 0 {
		return st.Steps[n-1].StartTime.Time
	}
	if st.StartTime != nil {
		return st.StartTime.Time
	}
	return time.Time{}
}

// phaseDeadline is when the current phase must end:
//   - Analyzing, ScalingUp, WaitingSync: the round deadline (status.deadline);
//   - ScalingDown: the later of the round deadline and SettleWindow after it began (a replica
//     rebuilt just before the deadline still gets its decrease);
//   - RollingBack: SettleWindow after it began (it usually begins because the deadline passed).
//
// The zero time means no deadline.
func (m *Machine) phaseDeadline(st *storagev1.TierMigrationStatus) time.Time {
	var round time.Time
	if st.Deadline != nil {
		round = st.Deadline.Time
	}
	switch st.Phase {
	case storagev1.PhaseScalingDown:
		settle := phaseStart(st).Add(m.settleWindow())
		if settle.After(round) {
			return settle
		}
		return round
	case storagev1.PhaseRollingBack:
		return phaseStart(st).Add(m.settleWindow())
	}
	return round
}

// pastPhaseDeadline: the current phase's time is up.
func (m *Machine) pastPhaseDeadline(st *storagev1.TierMigrationStatus, now time.Time) bool {
	d := m.phaseDeadline(st)
	return !d.IsZero() && !now.Before(d)
}

// waitFor is how long to wait before looking again: want, but never past the phase deadline
// (plus a little), so that a passed deadline is acted on within one poll interval.
func (m *Machine) waitFor(st *storagev1.TierMigrationStatus, now time.Time, want time.Duration) time.Duration {
	d := m.phaseDeadline(st)
	if d.IsZero() {
		return want
	}
	until := d.Sub(now) + time.Second
	if until < time.Second {
		until = time.Second
	}
	return min(want, until)
}
