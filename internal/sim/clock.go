package sim

import (
	"sync"
	"time"
)

// ScaledClock is a clock.PassiveClock that runs Speed times faster than the
// wall clock and can be stepped forward (the admin clock endpoint). The
// simulator binary uses it for --speed.
type ScaledClock struct {
	mu     sync.Mutex
	wall   func() time.Time
	base   time.Time // wall reading at creation
	origin time.Time // simulated time at creation
	speed  float64
	offset time.Duration
}

// NewScaledClock starts a clock at the current wall time running speed times
// faster than it (speed must be positive).
func NewScaledClock(speed float64) *ScaledClock {
	now := time.Now()
	return &ScaledClock{wall: time.Now, base: now, origin: now, speed: speed}
}

// Now is the simulated present.
func (c *ScaledClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	elapsed := c.wall().Sub(c.base)
	return c.origin.Add(time.Duration(float64(elapsed)*c.speed) + c.offset)
}

// Since is Now().Sub(t).
func (c *ScaledClock) Since(t time.Time) time.Duration { return c.Now().Sub(t) }

// Step moves the clock forward by d.
func (c *ScaledClock) Step(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d > 0 {
		c.offset += d
	}
}
