package tiering

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // zones load wherever the operator runs; api/v1's TimeZone enum lists these very zones

	storagev1 "github.com/billyronks/couchestor/api/v1"
)

// Windows are a policy's migration windows, compiled. The zero value (no windows) is always
// open.
type Windows []window

type window struct {
	days     [7]bool // by time.Weekday
	hour     int
	minute   int
	duration time.Duration
	loc      *time.Location
}

var weekdays = map[storagev1.Weekday]time.Weekday{
	storagev1.Monday: time.Monday, storagev1.Tuesday: time.Tuesday, storagev1.Wednesday: time.Wednesday,
	storagev1.Thursday: time.Thursday, storagev1.Friday: time.Friday, storagev1.Saturday: time.Saturday, storagev1.Sunday: time.Sunday,
}

// CompileWindows reads spec.migrationWindows, refusing what the schema should have: an unknown
// day, a bad start, a duration not in (0, 168h], a time zone Go does not know. The error names
// the field.
func CompileWindows(ws []storagev1.MigrationWindow) (Windows, error) {
	if len(ws) == 0 {
		return nil, nil
	}
	out := make(Windows, len(ws))
	for i, w := range ws {
		field := fmt.Sprintf("spec.migrationWindows[%d]", i)
		c := &out[i]
		if len(w.Days) == 0 {
			return nil, fmt.Errorf("%s.days: want at least one of Mon, Tue, Wed, Thu, Fri, Sat, Sun", field)
		}
		for j, d := range w.Days {
			wd, ok := weekdays[d]
			if !ok {
				return nil, fmt.Errorf("%s.days[%d] %q: want one of Mon, Tue, Wed, Thu, Fri, Sat, Sun", field, j, d)
			}
			c.days[wd] = true
		}
		var err error
		if c.hour, c.minute, err = parseClock(w.Start); err != nil {
			return nil, fmt.Errorf("%s.start %q: %w", field, w.Start, err)
		}
		c.duration, err = time.ParseDuration(w.Duration)
		if err != nil || c.duration <= 0 || c.duration > 7*24*time.Hour {
			return nil, fmt.Errorf("%s.duration %q: want a positive Go duration of at most 168h, such as 4h", field, w.Duration)
		}
		zone := string(w.TimeZone)
		if zone == "" {
			zone = "UTC"
		}
		if c.loc, err = time.LoadLocation(zone); err != nil || zone == "Local" {
			return nil, fmt.Errorf("%s.timeZone %q: not a time zone of the IANA database", field, zone)
		}
	}
	return out, nil
}

func parseClock(s string) (h, m int, err error) {
	hs, ms, ok := strings.Cut(s, ":")
	if ok && len(hs) == 2 && len(ms) == 2 {
		h, err1 := strconv.Atoi(hs)
		m, err2 := strconv.Atoi(ms)
		if err1 == nil && err2 == nil && h >= 0 && h < 24 && m >= 0 && m < 60 {
			return h, m, nil
		}
	}
	return 0, 0, fmt.Errorf(`want "HH:MM" on a 24-hour clock, such as "22:00"`)
}

// WindowState says whether a migration window is open at an instant, and when it closes or
// the next one opens.
type WindowState struct {
	// Configured: the policy has windows. Without any, Open is true and the times are zero.
	Configured bool
	Open       bool
	// Closes is when the open window (the latest-closing one, if several overlap) closes.
	Closes time.Time
	// NextOpens is when the next window opens, while none is open.
	NextOpens time.Time
}

// At says whether a window is open at now. A window opens on each of its days at its start,
// read in its zone (a start a daylight-saving change skips opens as much later as the clock
// jumped), and stays open for its duration of elapsed time.
func (ws Windows) At(now time.Time) WindowState {
	if len(ws) == 0 {
		return WindowState{Open: true}
	}
	st := WindowState{Configured: true}
	for i := range ws {
		w := &ws[i]
		local := now.In(w.loc)
		// Openings from 8 days back (a 7-day window opened then may still be open) to 8 days on.
		for d := -8; d <= 8; d++ {
			day := time.Date(local.Year(), local.Month(), local.Day()+d, 0, 0, 0, 0, w.loc)
			if !w.days[day.Weekday()] {
				continue
			}
			open := time.Date(day.Year(), day.Month(), day.Day(), w.hour, w.minute, 0, 0, w.loc)
			closes := open.Add(w.duration)
			switch {
			case !now.Before(open) && now.Before(closes):
				st.Open = true
				if closes.After(st.Closes) {
					st.Closes = closes
				}
			case open.After(now) && (st.NextOpens.IsZero() || open.Before(st.NextOpens)):
				st.NextOpens = open
			}
		}
	}
	if st.Open {
		st.NextOpens = time.Time{}
	}
	return st
}
