package models

import (
	"fmt"
	"time"
)

// Window is a sending window resolved for arithmetic: a location, the
// allowed weekdays and the daily open interval in minutes after midnight.
type Window struct {
	Loc        *time.Location
	Days       [7]bool
	OpenMin    int
	CloseMin   int
	alwaysOpen bool
}

// ResolveWindow prepares normalised settings for NextOpen. Workflow code may
// call it: time.LoadLocation reads the embedded or system zone database,
// which gives the same answer on every replay of the same binary.
func ResolveWindow(s CampaignSettings) (Window, error) {
	s = s.Normalized()
	loc, err := time.LoadLocation(s.Timezone)
	if err != nil {
		return Window{}, fmt.Errorf("timezone %q: %w", s.Timezone, err)
	}
	w := Window{Loc: loc}
	for _, d := range s.Window.Days {
		wd, ok := weekdayNames[d]
		if !ok {
			return Window{}, fmt.Errorf("window day %q", d)
		}
		w.Days[wd] = true
	}
	if w.OpenMin, err = parseClock(s.Window.Start); err != nil {
		return Window{}, fmt.Errorf("window start: %w", err)
	}
	if w.CloseMin, err = parseClock(s.Window.End); err != nil {
		return Window{}, fmt.Errorf("window end: %w", err)
	}
	if w.CloseMin <= w.OpenMin {
		return Window{}, fmt.Errorf("window end must be after start")
	}
	all := true
	for _, d := range w.Days {
		all = all && d
	}
	w.alwaysOpen = all && w.OpenMin == 0 && w.CloseMin == 24*60
	return w, nil
}

// NextOpen returns t itself when the window is open at t, else the first
// instant after t at which it opens. Daylight-saving gaps are handled by
// building wall-clock times with time.Date in the window's location.
func (w Window) NextOpen(t time.Time) time.Time {
	if w.alwaysOpen {
		return t
	}
	local := t.In(w.Loc)
	for i := 0; i < 8; i++ {
		day := time.Date(local.Year(), local.Month(), local.Day()+i, 0, 0, 0, 0, w.Loc)
		if !w.Days[day.Weekday()] {
			continue
		}
		open := time.Date(day.Year(), day.Month(), day.Day(), 0, w.OpenMin, 0, 0, w.Loc)
		closeAt := time.Date(day.Year(), day.Month(), day.Day(), 0, w.CloseMin, 0, 0, w.Loc)
		if !t.Before(closeAt) {
			continue
		}
		if t.Before(open) {
			return open.In(t.Location())
		}
		return t
	}
	// No allowed day at all cannot happen after Normalized; stay put.
	return t
}

// IsOpen reports whether the window is open at t.
func (w Window) IsOpen(t time.Time) bool { return w.NextOpen(t).Equal(t) }

// StartOfNextDay returns the next local midnight after t in loc; daily caps
// reset then.
func StartOfNextDay(t time.Time, loc *time.Location) time.Time {
	l := t.In(loc)
	return time.Date(l.Year(), l.Month(), l.Day()+1, 0, 0, 0, 0, loc)
}

// DayKey names the calendar day of t in loc, as counters store it.
func DayKey(t time.Time, loc *time.Location) string {
	return t.In(loc).Format("2006-01-02")
}
