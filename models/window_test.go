package models

import (
	"testing"
	"time"
)

func mustWindow(t *testing.T, s CampaignSettings) Window {
	t.Helper()
	w, err := ResolveWindow(s)
	if err != nil {
		t.Fatalf("ResolveWindow: %v", err)
	}
	return w
}

func TestWindowNextOpen(t *testing.T) {
	t.Parallel()
	utc := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	weekdays := CampaignSettings{} // Mon-Fri 09:00-17:00 UTC
	berlin := CampaignSettings{Timezone: "Europe/Berlin"}
	newYork := CampaignSettings{Timezone: "America/New_York", Window: SendingWindow{Days: []string{"mon", "wed"}, Start: "08:30", End: "12:00"}}
	tokyo := CampaignSettings{Timezone: "Asia/Tokyo", Window: SendingWindow{Days: []string{"sat", "sun"}, Start: "22:00", End: "24:00"}}
	always := CampaignSettings{Window: SendingWindow{Days: []string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"}, Start: "00:00", End: "24:00"}}
	tests := []struct {
		name string
		s    CampaignSettings
		at   string
		want string
	}{
		{"open on a Wednesday afternoon", weekdays, "2025-01-08T13:00:00Z", "2025-01-08T13:00:00Z"},
		{"opening minute is open", weekdays, "2025-01-08T09:00:00Z", "2025-01-08T09:00:00Z"},
		{"before opening waits for 09:00", weekdays, "2025-01-08T06:15:00Z", "2025-01-08T09:00:00Z"},
		{"closing minute is closed", weekdays, "2025-01-08T17:00:00Z", "2025-01-09T09:00:00Z"},
		{"Friday evening waits for Monday", weekdays, "2025-01-10T18:00:00Z", "2025-01-13T09:00:00Z"},
		{"Saturday waits for Monday", weekdays, "2025-01-11T10:00:00Z", "2025-01-13T09:00:00Z"},
		{"Sunday late waits for Monday", weekdays, "2025-01-12T23:59:00Z", "2025-01-13T09:00:00Z"},
		// Berlin is UTC+1 in winter: 09:00 local is 08:00 UTC.
		{"Berlin winter opening in UTC", berlin, "2025-01-08T07:00:00Z", "2025-01-08T08:00:00Z"},
		// Berlin is UTC+2 in summer.
		{"Berlin summer opening in UTC", berlin, "2025-07-09T06:30:00Z", "2025-07-09T07:00:00Z"},
		{"Berlin Friday 16:30 UTC is 17:30 local: closed until Monday", berlin, "2025-01-10T16:30:00Z", "2025-01-13T08:00:00Z"},
		// Sunday 23:30 UTC is already Monday 00:30 in Berlin: Monday's window.
		{"UTC Sunday is Berlin Monday", berlin, "2025-01-12T23:30:00Z", "2025-01-13T08:00:00Z"},
		// DST starts in Berlin on Sunday 2025-03-30; Monday opens at 07:00 UTC.
		{"across the spring DST change", berlin, "2025-03-28T17:00:00Z", "2025-03-31T07:00:00Z"},
		{"New York Monday before 08:30 EST", newYork, "2025-01-06T13:00:00Z", "2025-01-06T13:30:00Z"},
		{"New York Monday after noon waits for Wednesday", newYork, "2025-01-06T17:30:00Z", "2025-01-08T13:30:00Z"},
		{"New York Wednesday after noon waits a week-end", newYork, "2025-01-08T17:00:00Z", "2025-01-13T13:30:00Z"},
		// Tokyo is UTC+9: Saturday 22:00 local is Saturday 13:00 UTC.
		{"Tokyo late window on Saturday", tokyo, "2025-01-10T12:00:00Z", "2025-01-11T13:00:00Z"},
		{"Tokyo window runs to midnight", tokyo, "2025-01-11T14:59:00Z", "2025-01-11T14:59:00Z"},
		{"Tokyo Sunday after midnight local waits for Sunday night", tokyo, "2025-01-11T15:00:00Z", "2025-01-12T13:00:00Z"},
		{"always open", always, "2025-01-11T03:04:05Z", "2025-01-11T03:04:05Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := mustWindow(t, tt.s)
			got := w.NextOpen(utc(tt.at))
			if want := utc(tt.want); !got.Equal(want) {
				t.Errorf("NextOpen(%s) = %s, want %s", tt.at, got.UTC().Format(time.RFC3339), tt.want)
			}
			if w.IsOpen(got) != true {
				t.Errorf("IsOpen(NextOpen(%s)) = false", tt.at)
			}
		})
	}
}

func TestWindowNextOpenNeverEarlier(t *testing.T) {
	t.Parallel()
	w := mustWindow(t, CampaignSettings{Timezone: "America/Los_Angeles"})
	start := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 24*40; i++ {
		at := start.Add(time.Duration(i) * 37 * time.Minute)
		got := w.NextOpen(at)
		if got.Before(at) {
			t.Fatalf("NextOpen(%s) = %s is earlier", at, got)
		}
		if got.Sub(at) > 4*24*time.Hour {
			t.Fatalf("NextOpen(%s) = %s is more than a long week-end away", at, got)
		}
		local := got.In(w.Loc)
		min := local.Hour()*60 + local.Minute()
		if local.Weekday() == time.Saturday || local.Weekday() == time.Sunday || min < 9*60 || min >= 17*60 {
			t.Fatalf("NextOpen(%s) = %s (%s local) is outside Mon-Fri 09:00-17:00", at, got, local)
		}
	}
}

func TestDayKeyAndStartOfNextDay(t *testing.T) {
	t.Parallel()
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2025, 1, 10, 16, 0, 0, 0, time.UTC) // 01:00 on the 11th in Tokyo
	if got := DayKey(at, time.UTC); got != "2025-01-10" {
		t.Errorf("DayKey UTC = %s", got)
	}
	if got := DayKey(at, tokyo); got != "2025-01-11" {
		t.Errorf("DayKey Tokyo = %s", got)
	}
	if got, want := StartOfNextDay(at, tokyo), time.Date(2025, 1, 11, 15, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("StartOfNextDay Tokyo = %s, want %s", got.UTC(), want)
	}
	if got, want := StartOfNextDay(at, time.UTC), time.Date(2025, 1, 11, 0, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("StartOfNextDay UTC = %s, want %s", got.UTC(), want)
	}
}
