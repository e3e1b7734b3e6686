package models

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// CampaignSettings is stored as JSON on the campaign. Zero values mean "use
// the default"; Normalize fills them in.
type CampaignSettings struct {
	// Timezone is an IANA name; the sending window and the campaign's daily
	// cap are counted in it.
	Timezone string        `json:"timezone" doc:"an IANA time zone name such as Europe/Berlin; empty: UTC"`
	Window   SendingWindow `json:"window"`
	// DailyCap limits first and follow-up sends of this campaign per day in
	// its timezone. Nil: no campaign cap (the user and domain caps still hold).
	DailyCap *int `json:"daily_cap,omitempty" doc:"sends of this campaign per day in its timezone, 0 to 100000; absent: no campaign cap"`
	// MinGapSeconds is the least time between two sends of this campaign;
	// JitterSeconds adds a random 0..Jitter on top so sends do not look
	// machine-made.
	MinGapSeconds *int       `json:"min_gap_seconds,omitempty" doc:"least seconds between two sends of this campaign, 0 to 86400 (one day); default 60"`
	JitterSeconds *int       `json:"jitter_seconds,omitempty" doc:"random extra seconds (0 to this) on top of min_gap_seconds, 0 to 86400; default 60"`
	Sequence      []SeqStep  `json:"sequence,omitempty"`
	Sender        SenderInfo `json:"sender"`
	// Topic fills {topic}; the first keyword when empty.
	Topic string `json:"topic,omitempty"`
}

// SenderInfo fills {your_name} and {your_site}.
type SenderInfo struct {
	Name string `json:"name,omitempty"`
	Site string `json:"site,omitempty"`
}

// SendingWindow is when a campaign may send, in its timezone.
type SendingWindow struct {
	// Days are three-letter lower-case weekday names: mon..sun.
	Days []string `json:"days,omitempty"`
	// Start and End are "HH:MM"; End "24:00" means midnight.
	Start string `json:"start,omitempty"`
	End   string `json:"end,omitempty"`
}

// SeqStep is one step of a campaign's sequence. Step 0 is the pitch; later
// steps are follow-ups sent DelayDays after the previous step. A step names a
// template or carries its own subject and body. Follow-ups always go out as
// "Re: <subject of step 0>" in the same thread; their own subject is unused.
type SeqStep struct {
	TemplateID string  `json:"template_id,omitempty"`
	Subject    string  `json:"subject,omitempty"`
	Body       string  `json:"body,omitempty"`
	HTMLBody   string  `json:"html_body,omitempty"`
	DelayDays  float64 `json:"delay_days" doc:"days after the previous step, 0 to 365"`
}

// Settings defaults (SPEC §5, issue 3).
const (
	DefaultTimezone      = "UTC"
	DefaultWindowStart   = "09:00"
	DefaultWindowEnd     = "17:00"
	DefaultMinGapSeconds = 60
	DefaultJitterSeconds = 60
	DefaultFollowUpDays  = 4
	MaxSequenceSteps     = 10
)

// Upper bounds of the numeric settings. They are far beyond what an agency
// sends or waits, and small enough that no arithmetic on them (seconds to a
// time.Duration, a day's counters) can overflow: a gap of a century would
// stall a campaign for good, and 1e10 seconds overflows time.Duration.
const (
	// MaxGapSeconds bounds min_gap_seconds and jitter_seconds: one day.
	MaxGapSeconds = 86_400
	// MaxDailyCap bounds daily_cap: more than one send a second all day.
	MaxDailyCap = 100_000
	// MaxDelayDays bounds a sequence step's delay_days: a year.
	MaxDelayDays = 365
)

// DefaultWindowDays is Monday to Friday.
var DefaultWindowDays = []string{"mon", "tue", "wed", "thu", "fri"}

// DefaultSequence is the pitch and two follow-ups, four days apart.
func DefaultSequence() []SeqStep {
	return []SeqStep{
		{
			Subject: "Guest post idea for {website_title}",
			Body: "Hi {name},\n\nI enjoy reading {website_title} and would love to write a guest post for " +
				"{website} about {topic}. I can send a few title ideas if you are open to it.\n\nBest,\n{your_name}\n{your_site}",
		},
		{
			Body:      "Hi {name},\n\nJust following up on my note about a guest post for {website_title}. Would it be a fit?\n\nBest,\n{your_name}",
			DelayDays: DefaultFollowUpDays,
		},
		{
			Body:      "Hi {name},\n\nOne last nudge about a guest post on {topic}. If it is not a fit, no worries at all.\n\nBest,\n{your_name}",
			DelayDays: DefaultFollowUpDays,
		},
	}
}

var weekdayNames = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

// FieldError names one invalid field of user input.
type FieldError struct {
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

func (e FieldError) Error() string { return e.Field + ": " + e.Reason }

// ValidationError carries every invalid field of one input.
type ValidationError struct {
	Fields []FieldError
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.Error()
	}
	return "invalid input: " + strings.Join(parts, "; ")
}

// Add records one bad field.
func (e *ValidationError) Add(field, reason string) {
	e.Fields = append(e.Fields, FieldError{Field: field, Reason: reason})
}

// Err returns e when it holds a field, else nil.
func (e *ValidationError) Err() error {
	if len(e.Fields) == 0 {
		return nil
	}
	return e
}

// Validate checks settings as the user sent them; prefix names the JSON
// path of the settings object in error details.
func (s CampaignSettings) Validate(prefix string) error {
	v := &ValidationError{}
	// Empty means the default (UTC). time.LoadLocation also takes "Local",
	// the server's own zone: not a name the client can know or rely on.
	if s.Timezone != "" {
		if _, err := time.LoadLocation(s.Timezone); err != nil || s.Timezone == "Local" {
			v.Add(prefix+".timezone", "unknown IANA time zone (use a name such as Europe/Berlin or UTC)")
		}
	}
	for i, d := range s.Window.Days {
		if _, ok := weekdayNames[d]; !ok {
			v.Add(fmt.Sprintf("%s.window.days[%d]", prefix, i), "must be one of mon, tue, wed, thu, fri, sat, sun")
		}
	}
	start, errS := parseClock(orDefault(s.Window.Start, DefaultWindowStart))
	if errS != nil {
		v.Add(prefix+".window.start", errS.Error())
	}
	end, errE := parseClock(orDefault(s.Window.End, DefaultWindowEnd))
	if errE != nil {
		v.Add(prefix+".window.end", errE.Error())
	}
	if errS == nil && errE == nil && end <= start {
		v.Add(prefix+".window.end", "must be after window.start")
	}
	checkRange := func(name string, p *int, maxVal int, unit string) {
		if p != nil && (*p < 0 || *p > maxVal) {
			v.Add(prefix+"."+name, fmt.Sprintf("must be a whole number from 0 to %d%s (got %d)", maxVal, unit, *p))
		}
	}
	checkRange("daily_cap", s.DailyCap, MaxDailyCap, "")
	checkRange("min_gap_seconds", s.MinGapSeconds, MaxGapSeconds, " seconds (one day)")
	checkRange("jitter_seconds", s.JitterSeconds, MaxGapSeconds, " seconds (one day)")
	if err := ValidateSequence(s.Sequence, prefix+".sequence", true); err != nil {
		var ve *ValidationError
		if asValidation(err, &ve) {
			v.Fields = append(v.Fields, ve.Fields...)
		}
	}
	if len(s.Sender.Name) > 200 {
		v.Add(prefix+".sender.name", "at most 200 characters")
	}
	return v.Err()
}

// ValidateSequence checks a sequence; an empty one is allowed only when
// allowEmpty (it then means "the default sequence").
func ValidateSequence(steps []SeqStep, prefix string, allowEmpty bool) error {
	v := &ValidationError{}
	if len(steps) == 0 && !allowEmpty {
		v.Add(prefix, "needs at least one step")
	}
	if len(steps) > MaxSequenceSteps {
		v.Add(prefix, fmt.Sprintf("at most %d steps", MaxSequenceSteps))
	}
	for i, st := range steps {
		p := fmt.Sprintf("%s[%d]", prefix, i)
		if st.TemplateID == "" && strings.TrimSpace(st.Body) == "" {
			v.Add(p, "needs template_id or body")
		}
		if i == 0 && st.TemplateID == "" && strings.TrimSpace(st.Subject) == "" {
			v.Add(p+".subject", "the first step needs a subject")
		}
		if math.IsNaN(st.DelayDays) || math.IsInf(st.DelayDays, 0) || st.DelayDays < 0 || st.DelayDays > MaxDelayDays {
			v.Add(p+".delay_days", fmt.Sprintf("must be a number from 0 to %d", MaxDelayDays))
		}
	}
	return v.Err()
}

func asValidation(err error, target **ValidationError) bool {
	ve, ok := err.(*ValidationError) //nolint:errorlint // only ever returned bare from this package
	if ok {
		*target = ve
	}
	return ok
}

// Normalized returns the settings with every default filled in. It assumes
// Validate passed.
func (s CampaignSettings) Normalized() CampaignSettings {
	out := s
	out.Timezone = orDefault(s.Timezone, DefaultTimezone)
	if len(out.Window.Days) == 0 {
		out.Window.Days = append([]string(nil), DefaultWindowDays...)
	}
	out.Window.Start = orDefault(s.Window.Start, DefaultWindowStart)
	out.Window.End = orDefault(s.Window.End, DefaultWindowEnd)
	if out.MinGapSeconds == nil {
		out.MinGapSeconds = intPtr(DefaultMinGapSeconds)
	}
	if out.JitterSeconds == nil {
		out.JitterSeconds = intPtr(DefaultJitterSeconds)
	}
	if len(out.Sequence) == 0 {
		out.Sequence = DefaultSequence()
	}
	return out
}

func intPtr(v int) *int { return &v }

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// parseClock turns "HH:MM" into minutes after midnight; "24:00" is allowed.
func parseClock(v string) (int, error) {
	var h, m int
	if len(v) != 5 || v[2] != ':' {
		return 0, fmt.Errorf("must be HH:MM")
	}
	if _, err := fmt.Sscanf(v, "%02d:%02d", &h, &m); err != nil {
		return 0, fmt.Errorf("must be HH:MM")
	}
	if h < 0 || m < 0 || m > 59 || h > 24 || (h == 24 && m != 0) {
		return 0, fmt.Errorf("must be a time of day from 00:00 to 24:00")
	}
	return h*60 + m, nil
}
