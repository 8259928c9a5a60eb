package tiering

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	storagev1 "github.com/billyronks/couchestor/api/v1"
)

// DefaultAntiFlapWindowCooldowns and DefaultAntiFlapMaxCooldown apply when spec.antiFlap leaves
// them empty (the CRD defaults them too; these cover objects stored before the field existed).
const (
	DefaultAntiFlapWindowCooldowns = 3
	DefaultAntiFlapMaxCooldown     = 7 * 24 * time.Hour
)

// MoveRecord is one volume's anti-flap state: how many flips it has made in a row and its latest
// real move. It is stored on the PersistentVolume (annotation storage.billyronks.io/moves), so it
// survives restarts and the clean-up of TierMigrations.
type MoveRecord struct {
	Flips int
	// To is the tier the latest real move went to; At is when it was started.
	To storagev1.Tier
	At time.Time
}

// IsZero reports whether no move is recorded.
func (r MoveRecord) IsZero() bool { return r.At.IsZero() }

// String is the annotation's value: "<flips>;<tier>;<RFC 3339 time>".
func (r MoveRecord) String() string {
	return fmt.Sprintf("%d;%s;%s", r.Flips, r.To, r.At.UTC().Format(time.RFC3339))
}

// ParseMoveRecord reads an annotation value written by MoveRecord.String. The error says what
// is wrong; the caller treats a bad value as no record.
func ParseMoveRecord(s string) (MoveRecord, error) {
	parts := strings.Split(s, ";")
	if len(parts) != 3 {
		return MoveRecord{}, fmt.Errorf("%s %q: want <flips>;<tier>;<RFC 3339 time>", storagev1.AnnotationMoves, s)
	}
	flips, err := strconv.Atoi(parts[0])
	if err != nil || flips < 0 {
		return MoveRecord{}, fmt.Errorf("%s %q: flips %q is not a count", storagev1.AnnotationMoves, s, parts[0])
	}
	to := storagev1.Tier(parts[1])
	if to != storagev1.TierNVMe && to != storagev1.TierSATA {
		return MoveRecord{}, fmt.Errorf("%s %q: tier %q is neither NVMe nor SATA", storagev1.AnnotationMoves, s, parts[1])
	}
	at, err := time.Parse(time.RFC3339, parts[2])
	if err != nil {
		return MoveRecord{}, fmt.Errorf("%s %q: time %q is not RFC 3339", storagev1.AnnotationMoves, s, parts[2])
	}
	return MoveRecord{Flips: flips, To: to, At: at}, nil
}

// AntiFlap is a policy's anti-flap rule resolved: Base is its cooldownPeriod.
type AntiFlap struct {
	// WindowCooldowns: a move back within this many current cooldowns of the previous move is
	// a flip; 0 disables anti-flap (the cooldown is always Base).
	WindowCooldowns int
	Base, Max       time.Duration
}

// Enabled reports whether flips lengthen the cooldown.
func (a AntiFlap) Enabled() bool { return a.WindowCooldowns > 0 }

// Cooldown is the cooldown of a volume with flips flips: Base × 2^flips, at most Max, never
// below Base.
func (a AntiFlap) Cooldown(flips int) time.Duration {
	d := a.Base
	if !a.Enabled() || a.Max <= a.Base {
		return d
	}
	for range flips {
		if d >= a.Max/2 {
			return a.Max
		}
		d *= 2
	}
	return d
}

// window is how long after a move a move back is a flip: WindowCooldowns current cooldowns.
func (a AntiFlap) window(flips int) time.Duration {
	c := a.Cooldown(flips)
	if c > 0 && time.Duration(a.WindowCooldowns) > math.MaxInt64/c {
		return math.MaxInt64
	}
	return time.Duration(a.WindowCooldowns) * c
}

// Record is a volume's record after a move to tier to, started at at, and whether the move is
// a flip:
//   - a dry run moves nothing and changes nothing (recorded false);
//   - a move made more than WindowCooldowns × the current cooldown after the previous one
//     resets the count to 0 (the flipping has stopped);
//   - otherwise a move to the tier the previous one left is a flip and adds one; a move the
//     same way keeps the count.
//
// With anti-flap disabled the count stays 0 but the move is still recorded, so the plain
// cooldown survives the clean-up of TierMigrations.
func (a AntiFlap) Record(prev MoveRecord, to storagev1.Tier, at time.Time, dryRun bool) (next MoveRecord, recorded, flip bool) {
	if dryRun {
		return prev, false, false
	}
	next = MoveRecord{To: to, At: at}
	if !a.Enabled() || prev.IsZero() || at.Sub(prev.At) > a.window(prev.Flips) {
		return next, true, false
	}
	next.Flips = prev.Flips
	if to != prev.To {
		next.Flips++
		return next, true, true
	}
	return next, true, false
}

// CompileAntiFlap resolves spec.antiFlap with base as its cooldown (the policy's
// cooldownPeriod), filling the defaults; the error names the field.
func CompileAntiFlap(spec *storagev1.StoragePolicySpec, base time.Duration) (AntiFlap, error) {
	a := AntiFlap{WindowCooldowns: DefaultAntiFlapWindowCooldowns, Base: base, Max: DefaultAntiFlapMaxCooldown}
	if w := spec.AntiFlap.WindowCooldowns; w != nil {
		if *w < 0 {
			return a, fmt.Errorf("spec.antiFlap.windowCooldowns %d: want 0 (disabled) or more", *w)
		}
		a.WindowCooldowns = int(*w)
	}
	if spec.AntiFlap.MaxCooldown != "" {
		var err error
		if a.Max, err = positiveDuration("antiFlap.maxCooldown", spec.AntiFlap.MaxCooldown); err != nil {
			return a, err
		}
	}
	return a, nil
}
