package tiering

import "testing"

func TestHasRoom(t *testing.T) {
	const gib = 1 << 30
	for _, tc := range []struct {
		name                 string
		capacity, used, size uint64
		headroom             int
		want                 bool
	}{
		{"empty pool, small replica", 100 * gib, 0, 10 * gib, 10, true},
		{"fills exactly to the headroom line", 100 * gib, 80 * gib, 10 * gib, 10, true},
		{"one byte past the headroom line", 100 * gib, 80*gib + 1, 10 * gib, 10, false},
		{"no headroom: room must exceed the size", 100 * gib, 90 * gib, 10 * gib, 0, false},
		{"no headroom, one byte to spare", 100 * gib, 90*gib - 1, 10 * gib, 0, true},
		{"used above capacity (thin overcommit)", 100 * gib, 101 * gib, 1, 0, false},
		{"headroom above 99 is 99", 100 * gib, 0, gib / 2, 250, true},
		{"headroom 99 leaves 1%", 100 * gib, 0, 2 * gib, 99, false},
		{"negative headroom is 0", 100 * gib, 50 * gib, 40 * gib, -5, true},
	} {
		if got := HasRoom(tc.capacity, tc.used, tc.size, tc.headroom); got != tc.want {
			t.Errorf("%s: HasRoom(%d, %d, %d, %d) = %v, want %v", tc.name, tc.capacity, tc.used, tc.size, tc.headroom, got, tc.want)
		}
	}
}
