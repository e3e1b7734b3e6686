package models

import (
	"slices"
	"testing"
)

// TestSettingsValidateBounds: every numeric setting is bounded on both
// sides, so no value can overflow a time.Duration or stall a campaign, and
// the timezone is an IANA name.
func TestSettingsValidateBounds(t *testing.T) {
	t.Parallel()
	n := func(v int) *int { return &v }
	cases := []struct {
		name string
		s    CampaignSettings
		bad  []string
	}{
		{"defaults", CampaignSettings{}, nil},
		{"maxima", CampaignSettings{MinGapSeconds: n(MaxGapSeconds), JitterSeconds: n(MaxGapSeconds), DailyCap: n(MaxDailyCap)}, nil},
		{"zeros", CampaignSettings{MinGapSeconds: n(0), JitterSeconds: n(0), DailyCap: n(0)}, nil},
		{"IANA zone", CampaignSettings{Timezone: "America/New_York"}, nil},
		{"gap overflowing a Duration", CampaignSettings{MinGapSeconds: n(10_000_000_000)}, []string{"s.min_gap_seconds"}},
		{
			"over the maxima",
			CampaignSettings{MinGapSeconds: n(MaxGapSeconds + 1), JitterSeconds: n(MaxGapSeconds + 1), DailyCap: n(MaxDailyCap + 1)},
			[]string{"s.daily_cap", "s.min_gap_seconds", "s.jitter_seconds"},
		},
		{
			"negative",
			CampaignSettings{MinGapSeconds: n(-1), JitterSeconds: n(-1), DailyCap: n(-1)},
			[]string{"s.daily_cap", "s.min_gap_seconds", "s.jitter_seconds"},
		},
		{"Local zone", CampaignSettings{Timezone: "Local"}, []string{"s.timezone"}},
		{"delay over a year", CampaignSettings{Sequence: []SeqStep{{Subject: "s", Body: "b", DelayDays: MaxDelayDays + 1}}}, []string{"s.sequence[0].delay_days"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var got []string
			if err := c.s.Validate("s"); err != nil {
				for _, f := range err.(*ValidationError).Fields { //nolint:errorlint // Validate returns it bare
					got = append(got, f.Field)
				}
			}
			if !slices.Equal(got, c.bad) {
				t.Fatalf("bad fields %v, want %v", got, c.bad)
			}
		})
	}
}
