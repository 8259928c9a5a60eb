package backtest

import (
	"fmt"
	"runtime"
	"sync"
)

// Watermarks is one (low, high) pair to try.
type Watermarks struct {
	Low, High int64
}

// GridPoint is what one pair of watermarks would have done over the same history.
type GridPoint struct {
	LowWatermarkIOPS  int64 `json:"lowWatermarkIOPS"`
	HighWatermarkIOPS int64 `json:"highWatermarkIOPS"`
	Moves, Flips      int
	VolumesFlipped    int
	BytesRebuilt      uint64
	// RightTierShare is the share of the known evaluations spent on the right tier.
	RightTierShare float64
}

// WatermarkGrid returns every (low, high) pair of the two lists with low below high, low
// first, then high.
func WatermarkGrid(lows, highs []int64) []Watermarks {
	var out []Watermarks
	for _, l := range lows {
		for _, h := range highs {
			if l >= 0 && l < h {
				out = append(out, Watermarks{l, h})
			}
		}
	}
	return out
}

// Sweep replays the same history once per pair of watermarks, the other rules as p says, and
// returns one point per pair, in the order given. It answers "which watermarks would have kept
// flips at zero": the pairs whose Flips is 0. Replays run in parallel, one per CPU.
func Sweep(m *Matrix, p Params, volumes []Volume, pairs []Watermarks) ([]GridPoint, error) {
	for _, w := range pairs {
		q := p
		q.LowWatermarkIOPS, q.HighWatermarkIOPS = w.Low, w.High
		if err := q.validate(); err != nil {
			return nil, fmt.Errorf("grid pair (%d, %d): %w", w.Low, w.High, err)
		}
	}
	out := make([]GridPoint, len(pairs))
	errs := make([]error, len(pairs))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(pairs)) {
		wg.Go(func() {
			for i := range next {
				q := p
				q.LowWatermarkIOPS, q.HighWatermarkIOPS = pairs[i].Low, pairs[i].High
				r, err := replay(m, q, volumes, false, false)
				if err != nil {
					errs[i] = err
					continue
				}
				out[i] = GridPoint{LowWatermarkIOPS: q.LowWatermarkIOPS, HighWatermarkIOPS: q.HighWatermarkIOPS,
					Moves: r.Totals.Moves, Flips: r.Totals.Flips, VolumesFlipped: r.Totals.VolumesFlipped,
					BytesRebuilt: r.Totals.BytesRebuilt, RightTierShare: r.Totals.RightTierShare()}
			}
		})
	}
	for i := range pairs {
		next <- i
	}
	close(next)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}
