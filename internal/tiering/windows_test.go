package tiering

import (
	"strings"
	"testing"
	"time"

	storagev1 "github.com/billyronks/couchestor/api/v1"
)

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

func win(zone, start, dur string, days ...storagev1.Weekday) storagev1.MigrationWindow {
	return storagev1.MigrationWindow{Days: days, Start: start, Duration: dur, TimeZone: storagev1.TimeZone(zone)}
}

// TestWindowsAt is one row per instant: whether a window is open, when it closes or when the
// next one opens. Europe/Berlin springs forward on 2026-03-29 (02:00 CET → 03:00 CEST) and
// falls back on 2026-10-25 (03:00 CEST → 02:00 CET).
func TestWindowsAt(t *testing.T) {
	weeknights := win("UTC", "22:00", "8h", "Mon", "Tue", "Wed", "Thu", "Fri")
	berlinNights := win("Europe/Berlin", "01:00", "4h", "Sat", "Sun")
	berlin0230 := win("Europe/Berlin", "02:30", "1h", "Sun")
	berlinLate := win("Europe/Berlin", "22:00", "8h", "Sat")
	for _, tc := range []struct {
		name    string
		windows []storagev1.MigrationWindow
		at      string
		open    bool
		edge    string // Closes when open, NextOpens when not
	}{
		{"no windows: always open", nil, "2026-11-26T12:00:00Z", true, ""},
		{"weeknight, Thursday 23:00", []storagev1.MigrationWindow{weeknights}, "2026-11-26T23:00:00Z", true, "2026-11-27T06:00:00Z"},
		{"Friday's window runs into Saturday", []storagev1.MigrationWindow{weeknights}, "2026-11-28T05:59:59Z", true, "2026-11-28T06:00:00Z"},
		{"it closes at its end", []storagev1.MigrationWindow{weeknights}, "2026-11-28T06:00:00Z", false, "2026-11-30T22:00:00Z"},
		{"weekend: next is Monday night", []storagev1.MigrationWindow{weeknights}, "2026-11-29T12:00:00Z", false, "2026-11-30T22:00:00Z"},
		{"it opens at its start", []storagev1.MigrationWindow{weeknights}, "2026-11-30T22:00:00Z", true, "2026-12-01T06:00:00Z"},
		{"the earliest of several next openings", []storagev1.MigrationWindow{weeknights, win("UTC", "12:00", "1h", "Sun")}, "2026-11-29T08:00:00Z", false, "2026-11-29T12:00:00Z"},
		{"overlapping windows close with the last", []storagev1.MigrationWindow{weeknights, win("UTC", "21:00", "10h", "Thu")}, "2026-11-26T23:00:00Z", true, "2026-11-27T07:00:00Z"},
		{"a 7-day window opened 6 days ago", []storagev1.MigrationWindow{win("UTC", "00:00", "168h", "Mon")}, "2026-11-29T23:00:00Z", true, "2026-11-30T00:00:00Z"},
		// Spring forward: 01:00 CET is 00:00 UTC; 4h of elapsed time later it is 06:00 CEST.
		{"Berlin night before the change", []storagev1.MigrationWindow{berlinNights}, "2026-03-28T00:30:00Z", true, "2026-03-28T04:00:00Z"},
		{"Berlin, next opening is across the change", []storagev1.MigrationWindow{berlinNights}, "2026-03-28T12:00:00Z", false, "2026-03-29T00:00:00Z"},
		{"Berlin night of the change: elapsed time", []storagev1.MigrationWindow{berlinNights}, "2026-03-29T03:59:00Z", true, "2026-03-29T04:00:00Z"},
		{"Berlin night after the change is CEST", []storagev1.MigrationWindow{berlinNights}, "2026-03-29T12:00:00Z", false, "2026-04-03T23:00:00Z"},
		// 02:30 does not exist on 2026-03-29 in Berlin: the window opens at 03:30 CEST (01:30 UTC).
		{"skipped start opens as late as the jump", []storagev1.MigrationWindow{berlin0230}, "2026-03-29T01:00:00Z", false, "2026-03-29T01:30:00Z"},
		{"skipped start, open", []storagev1.MigrationWindow{berlin0230}, "2026-03-29T01:45:00Z", true, "2026-03-29T02:30:00Z"},
		{"the Sunday before, CET", []storagev1.MigrationWindow{berlin0230}, "2026-03-22T01:00:00Z", false, "2026-03-22T01:30:00Z"},
		// Fall back: 22:00 CEST on Saturday 24 October is 20:00 UTC; 8h later is 04:00 UTC, 05:00 CET.
		{"Berlin across the fall-back", []storagev1.MigrationWindow{berlinLate}, "2026-10-25T03:59:00Z", true, "2026-10-25T04:00:00Z"},
		{"Berlin window opened in CEST", []storagev1.MigrationWindow{berlinLate}, "2026-10-24T19:59:00Z", false, "2026-10-24T20:00:00Z"},
		{"the next Saturday is CET", []storagev1.MigrationWindow{berlinLate}, "2026-10-25T04:00:00Z", false, "2026-10-31T21:00:00Z"},
		// 02:30 happens twice on 2026-10-25 in Berlin: the window opens at the second (CET, 01:30 UTC).
		{"repeated start opens at its second passing", []storagev1.MigrationWindow{berlin0230}, "2026-10-25T00:45:00Z", false, "2026-10-25T01:30:00Z"},
		{"repeated start, open", []storagev1.MigrationWindow{berlin0230}, "2026-10-25T02:00:00Z", true, "2026-10-25T02:30:00Z"},
		// A zone east of UTC: Monday 01:00 in Tokyo is Sunday 16:00 UTC.
		{"the day is the zone's day", []storagev1.MigrationWindow{win("Asia/Tokyo", "01:00", "1h", "Mon")}, "2026-11-29T16:30:00Z", true, "2026-11-29T17:00:00Z"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ws, err := CompileWindows(tc.windows)
			if err != nil {
				t.Fatal(err)
			}
			st := ws.At(utc(tc.at))
			if st.Open != tc.open || st.Configured != (len(tc.windows) > 0) {
				t.Fatalf("at %s: open %v (configured %v), want %v: %+v", tc.at, st.Open, st.Configured, tc.open, st)
			}
			edge := st.NextOpens
			if tc.open {
				edge = st.Closes
				if !st.NextOpens.IsZero() {
					t.Fatalf("open, yet NextOpens %s", st.NextOpens)
				}
			}
			if tc.edge == "" {
				if !edge.IsZero() {
					t.Fatalf("edge %s, want none", edge)
				}
				return
			}
			if !edge.Equal(utc(tc.edge)) {
				t.Fatalf("at %s: edge %s, want %s", tc.at, edge.UTC().Format(time.RFC3339), tc.edge)
			}
		})
	}
}

// TestCompileWindowsNamesTheField: what the schema refuses is refused again, naming the field.
func TestCompileWindowsNamesTheField(t *testing.T) {
	ok := win("UTC", "22:00", "8h", "Mon")
	for _, tc := range []struct {
		name string
		w    storagev1.MigrationWindow
		want string
	}{
		{"unknown zone", win("Europe/Atlantis", "22:00", "8h", "Mon"), "spec.migrationWindows[1].timeZone"},
		{"Local is no IANA zone", win("Local", "22:00", "8h", "Mon"), "spec.migrationWindows[1].timeZone"},
		{"bad day", win("UTC", "22:00", "8h", "Mon", "Monday"), "spec.migrationWindows[1].days[1]"},
		{"no day", win("UTC", "22:00", "8h"), "spec.migrationWindows[1].days"},
		{"24:00", win("UTC", "24:00", "8h", "Mon"), "spec.migrationWindows[1].start"},
		{"no leading zero", win("UTC", "9:00", "8h", "Mon"), "spec.migrationWindows[1].start"},
		{"longer than a week", win("UTC", "22:00", "169h", "Mon"), "spec.migrationWindows[1].duration"},
		{"zero", win("UTC", "22:00", "0s", "Mon"), "spec.migrationWindows[1].duration"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := CompileWindows([]storagev1.MigrationWindow{ok, tc.w})
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("error %v, want one naming %s", err, tc.want)
			}
		})
	}
	if _, err := CompileWindows([]storagev1.MigrationWindow{ok, win("", "00:00", "168h", "Sun")}); err != nil {
		t.Fatalf("an empty zone is UTC: %v", err)
	}
}

// TestOutsideWindowMessage: the waiting volume's message says when the next window opens.
func TestOutsideWindowMessage(t *testing.T) {
	s, p := testSnapshot(testVolume{"v", []string{"s1"}, 7000}), testPolicy("p")
	p.Spec.MigrationWindows = []storagev1.MigrationWindow{win("Europe/Berlin", "01:00", "4h", "Sat", "Sun")}
	plan := PlanPolicy(s, p, testFlags, now) // Thursday 2026-11-26 12:00 UTC
	d := decisionOf(plan, "v")
	if d.Action != ActionWait || !strings.Contains(d.Message, "2026-11-28T00:00:00Z") {
		t.Fatalf("decision %+v, want a wait until Saturday 01:00 CET (00:00 UTC)", d)
	}
	if !plan.Window.Configured || plan.Window.Open || !plan.Window.NextOpens.Equal(utc("2026-11-28T00:00:00Z")) ||
		!strings.Contains(plan.Ready.Message, "outside every migration window until 2026-11-28T00:00:00Z") {
		t.Fatalf("window %+v, Ready %q", plan.Window, plan.Ready.Message)
	}
}
