package inbox

import (
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Return-date extraction for out-of-office replies. Dates are found in the
// common English forms ("10 March", "March 10th, 2026", "Monday 10/03",
// "2026-03-10", "tomorrow", "next Monday", "in two weeks", "the 15th",
// ranges like "3-10 March") and resolved against the message's own date, in
// its time zone, so "Monday" means the Monday after the message was written.
// The words before a date decide what it means: after "back", "return" or
// "in the office" it is the first day back; after "until", "through" or as
// the end of a range it is the last day away, so the sender is back the day
// after; after "from" alone it is the first day away and is ignored.
// Numbers that look like dates and are not are left out: times ("9.30",
// "at 9.10.", and "8.30." ending a sentence: a dotted day and month with
// no year is read day first only), runs of numbers ("5.1.1", "10.0.0.1")
// and "24/7".
//
// A weekday next to an explicit date ("Thursday the 12th", "Monday 16/03",
// "16/03 (Monday)") is that date, not a date of its own: the explicit day
// decides, and the weekday only chooses between the readings the day
// allows (03/04 is 3 April or 4 March; the 3rd is this month's or the
// next), so a weekday that contradicts the date never moves it.

const (
	monthPat = `(jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?`
	wdPat    = `(?:mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun)(?:day|sday|nesday|rsday|urday)?\.?`
	dayPat   = `(\d{1,2})(?:st|nd|rd|th)?`
	// wdFull is a weekday written out: the forms a bare weekday date and a
	// weekday beside a day of the month are read in.
	wdFull  = `(monday|tuesday|wednesday|thursday|friday|saturday|sunday)`
	yearPat = `(?:,?\s+('?\d{4}|'\d{2}))?`
)

type dateRule struct {
	re     phraseRule
	range_ bool
	// kind, when set, fixes the date's meaning whatever words precede it.
	kind cueKind
	// explicit marks a date that names its day: a weekday beside it is
	// the same date (weekday marks the bare weekday rule).
	explicit, weekday bool
	// resolve turns the submatches into a date (at midnight, ref's zone).
	resolve func(m []string, ref time.Time) (time.Time, bool)
	// readings, when set, are the dates the submatches may mean, resolve's
	// first: a weekday beside the date chooses among them.
	readings func(m []string, ref time.Time) []time.Time
	// reject, when set, turns down a match by the text around it.
	reject func(lower string, start, end int, m []string) bool
}

var dateRules = []dateRule{
	// 3-10 March, 3rd to 10th of March 2026: the end of the range counts.
	{
		re: rule(`\b` + dayPat + `\s*(?:-|–|—|to|until|till)\s*` + dayPat + `\s+(?:of\s+)?` + monthPat + yearPat + `\b`), range_: true,
		explicit: true,
		resolve:  func(m []string, ref time.Time) (time.Time, bool) { return dayMonth(m[2], m[3], m[4], ref) },
	},
	// March 3-10, 2026.
	{
		re: rule(`\b` + monthPat + `\s+` + dayPat + `\s*(?:-|–|—)\s*` + dayPat + yearPat + `\b`), range_: true,
		explicit: true,
		resolve:  func(m []string, ref time.Time) (time.Time, bool) { return dayMonth(m[3], m[1], m[4], ref) },
	},
	// 2026-03-10.
	{
		// "-" and digits are in most texts: every match has a digit on each
		// side of a "-".
		re:       ruleAlso(`\b(\d{4})-(\d{1,2})-(\d{1,2})\b`, digitsBefore(digitsAfter("-")...)...),
		explicit: true,
		resolve: func(m []string, ref time.Time) (time.Time, bool) {
			y, _ := strconv.Atoi(m[1])
			mo, _ := strconv.Atoi(m[2])
			d, _ := strconv.Atoi(m[3])
			return validDate(y, mo, d, ref)
		},
	},
	// (Monday,) 10(th) (of) March (2026).
	{
		re:       rule(`\b(?:` + wdPat + `,?\s+)?(?:the\s+)?` + dayPat + `\s+(?:of\s+)?` + monthPat + yearPat + `\b`),
		explicit: true,
		resolve:  func(m []string, ref time.Time) (time.Time, bool) { return dayMonth(m[1], m[2], m[3], ref) },
	},
	// (Monday,) March 10(th)(, 2026).
	{
		re:       rule(`\b(?:` + wdPat + `,?\s+)?` + monthPat + `\s+(?:the\s+)?` + dayPat + `\b` + yearPat),
		explicit: true,
		resolve:  func(m []string, ref time.Time) (time.Time, bool) { return dayMonth(m[2], m[1], m[3], ref) },
	},
	// 10/03/2026, 10.03.2026, 10/03, 10.03. (day and month order decided by
	// which reading is valid and nearest after the message; with dots and
	// no year, day first). Not a time ("9.30", "at 9.10.", "8.30."), nor
	// two numbers of a longer run ("5.1.1", "10.0.0.1", "v1.2.3"), nor
	// "24/7": round the clock, never 24 July ("24/07" and "24/7/2026" are).
	{
		re:       rule(`\b(\d{1,2})([/.])(\d{1,2})(?:[/.](\d{4}|\d{2})\b|(\.))?`),
		explicit: true,
		resolve: func(m []string, ref time.Time) (time.Time, bool) {
			if r := numericReadings(m, ref); len(r) > 0 {
				return r[0], true
			}
			return time.Time{}, false
		},
		readings: numericReadings,
		reject: func(lower string, start, end int, m []string) bool {
			if m[4] == "" && m[2] == "/" && m[1] == "24" && m[3] == "7" {
				return true
			}
			return inNumberRun(lower, start, end) || m[2] == "." && m[4] == "" && timeWordBefore(lower[:start])
		},
	},
	{
		re:      rule(`\btomorrow\b`),
		resolve: func(_ []string, ref time.Time) (time.Time, bool) { return midnight(ref).AddDate(0, 0, 1), true },
	},
	{
		re:      rule(`\bnext week\b`),
		resolve: func(_ []string, ref time.Time) (time.Time, bool) { return nextWeekday(ref, time.Monday), true },
	},
	{
		re: rule(`\bin\s+(\d{1,2}|one|two|three|four|five|six|a|a couple of)\s+(day|week)s?\b`),
		resolve: func(m []string, ref time.Time) (time.Time, bool) {
			n := map[string]int{"one": 1, "a": 1, "two": 2, "a couple of": 2, "three": 3, "four": 4, "five": 5, "six": 6}[m[1]]
			if n == 0 {
				n, _ = strconv.Atoi(m[1])
			}
			if m[2] == "week" {
				n *= 7
			}
			return midnight(ref).AddDate(0, 0, n), n > 0
		},
	},
	{
		re: rule(`\bend of (?:the\s+)?(week|month)\b`),
		resolve: func(m []string, ref time.Time) (time.Time, bool) {
			d := midnight(ref)
			if m[1] == "month" {
				return time.Date(d.Year(), d.Month()+1, 0, 0, 0, 0, 0, d.Location()), true
			}
			if d.Weekday() == time.Friday {
				return d, true
			}
			return nextWeekday(ref, time.Friday), true
		},
	},
	// Thursday (the) 12th, Monday 16: a day of the month, the weekday
	// choosing this month's or the next's. Not a weekday and a time
	// ("Monday 10 am", "Friday 10.30", "Monday 9 to 5").
	{
		re:       rule(`\b` + wdFull + `,?\s+(?:the\s+)?(\d{1,2})(?:st|nd|rd|th)?\b(\s*(?:[ap]\.?m\b|noon\b|o'?clock\b|hrs?\b|h\b|(?:-|–|—|to)\s*\d)|[.:/]\d)?`),
		explicit: true,
		resolve: func(m []string, ref time.Time) (time.Time, bool) {
			if m[3] != "" {
				return time.Time{}, false
			}
			r := dayOfMonthReadings(m[2], ref)
			for _, t := range r {
				if t.Weekday() == weekdays[m[1]] {
					return t, true
				}
			}
			if len(r) > 0 {
				return r[0], true
			}
			return time.Time{}, false
		},
	},
	// (next) Monday: the first such day after the message.
	{
		re:      rule(`\b(?:next\s+)?` + wdFull + `\b`),
		weekday: true,
		resolve: func(m []string, ref time.Time) (time.Time, bool) {
			return nextWeekday(ref, weekdays[m[1]]), true
		},
	},
	// (until|in|back in) September (2026): a month alone means its first
	// day. Full month names only, so "may" the verb is not a date.
	{
		re: rule(`\b(?:until|till|in|through|after)\s+(january|february|march|april|may|june|july|august|september|october|november|december)(?:\s+(\d{4}))?\b`), kind: cueBack,
		resolve: func(m []string, ref time.Time) (time.Time, bool) {
			mo := int(months[m[1][:3]])
			if y := parseYear(m[2]); y > 0 {
				return validDate(y, mo, 1, ref)
			}
			t, ok := validDate(ref.Year(), mo, 1, ref)
			if ok && int(ref.Month()) >= mo {
				t, ok = validDate(ref.Year()+1, mo, 1, ref)
			}
			return t, ok
		},
	},
	// the 15th.
	{
		// "the" and "th" are in most texts: every match also has a digit
		// right before its suffix.
		re:       ruleAlso(`\bthe\s+(\d{1,2})(?:st|nd|rd|th)\b`, digitsBefore("st", "nd", "rd", "th")...),
		explicit: true,
		resolve: func(m []string, ref time.Time) (time.Time, bool) {
			if r := dayOfMonthReadings(m[1], ref); len(r) > 0 {
				return r[0], true
			}
			return time.Time{}, false
		},
		readings: func(m []string, ref time.Time) []time.Time { return dayOfMonthReadings(m[1], ref) },
	},
}

var weekdays = map[string]time.Weekday{
	"sunday": time.Sunday, "monday": time.Monday, "tuesday": time.Tuesday, "wednesday": time.Wednesday,
	"thursday": time.Thursday, "friday": time.Friday, "saturday": time.Saturday,
}

var months = map[string]time.Month{
	"jan": time.January, "feb": time.February, "mar": time.March, "apr": time.April, "may": time.May, "jun": time.June,
	"jul": time.July, "aug": time.August, "sep": time.September, "oct": time.October, "nov": time.November, "dec": time.December,
}

// Words before a date. The last one within the window decides its meaning.
var (
	cueRe = regexp.MustCompile(`\b(back|return|returning|returns|returned|reachable|available|in the office|in office|at my desk|resume|resuming|reopen|reopens|reopening|until|till|til|through|thru|up to|after|from|starting|since|to|and)\b|[-–—]`)
)

type cueKind int

const (
	cueNone  cueKind = iota
	cueBack          // the date is the first day back
	cueUntil         // the date is the last day away
	cueStart         // the date is the first day away
)

type found struct {
	start, end int
	date       time.Time
	kind       cueKind
	// explicit and weekday are the rule's; readings the date's other
	// possible meanings.
	explicit, weekday bool
	readings          []time.Time
}

// MessageReturnDate is the return date of an out-of-office reply: its
// reply text, then its subject. A date in the subject counts only when a
// word there says what it is ("Out of office until 16 March", "back on
// 23/3", a range): an automatic reply's subject is most often ours quoted
// ("Automatic reply: Your 12/11 post"), whose dates and numbers are not
// the sender's. A date in the reply wins over one of the subject with the
// same kind of cue.
func MessageReturnDate(m *Message) (time.Time, bool) {
	text := m.Reply + "\n\n" + m.Subject
	return returnDate(text, len(normalizePhrases(m.Reply+"\n\n")), m.Date)
}

// ReturnDate finds when an out-of-office sender is back, reading text
// written at ref. It answers the first moment they are back (midnight in
// ref's zone), and false when the text states no usable date.
func ReturnDate(text string, ref time.Time) (time.Time, bool) {
	return returnDate(text, -1, ref)
}

// returnDate is ReturnDate of a text whose normalized form holds a
// subject from subjectAt on (none when subjectAt < 0): a date there with
// no cue is not used.
func returnDate(text string, subjectAt int, ref time.Time) (time.Time, bool) {
	if ref.IsZero() {
		return time.Time{}, false
	}
	lower := normalizePhrases(text)
	if len(lower) > 8<<10 {
		lower = lower[:8<<10]
	}
	var all []found
	sc := scan(lower)
	for _, r := range dateRules {
		for _, ix := range r.re.FindAllStringSubmatchIndex(sc, 20) {
			if overlaps(all, ix[0], ix[1]) {
				continue
			}
			m := submatches(lower, ix)
			if r.reject != nil && r.reject(lower, ix[0], ix[1], m) {
				continue
			}
			d, ok := r.resolve(m, ref)
			if !ok {
				continue
			}
			f := found{start: ix[0], end: ix[1], date: d, explicit: r.explicit, weekday: r.weekday}
			if r.readings != nil {
				f.readings = r.readings(m, ref)
			}
			switch {
			case r.kind != cueNone:
				f.kind = r.kind
			case r.range_:
				f.kind = cueUntil
			}
			all = append(all, f)
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].start < all[j].start })
	all = joinWeekdays(lower, all)
	for i := range all {
		if all[i].kind != cueNone {
			continue
		}
		all[i].kind = cueFor(lower, all, i)
	}
	floor := midnight(ref)
	best, bestRank := time.Time{}, 0
	for _, f := range all {
		var until time.Time
		rank := 0
		switch f.kind {
		case cueBack:
			until, rank = f.date, 4
		case cueUntil:
			until, rank = f.date.AddDate(0, 0, 1), 3
		case cueNone:
			if subjectAt >= 0 && f.start >= subjectAt {
				continue
			}
			until, rank = f.date.AddDate(0, 0, 1), 1
		default:
			continue
		}
		if !until.After(floor) || until.After(floor.AddDate(1, 1, 0)) {
			continue
		}
		if rank > bestRank {
			best, bestRank = until, rank
		}
	}
	return best, bestRank > 0
}

// joinWeekdays makes a bare weekday right before or after an explicit date
// (only spaces, a comma or a parenthesis between) part of that date: the
// date takes the weekday's place in the text, so the words before the
// weekday are its cue, and the reading of the date that falls on the
// weekday, if any. A weekday between two dates goes with the one after it.
func joinWeekdays(lower string, all []found) []found {
	out := all[:0]
	for i := 0; i < len(all); i++ {
		f := all[i]
		if f.weekday {
			var d *found
			switch {
			case i+1 < len(all) && all[i+1].explicit && joins(lower[f.end:all[i+1].start]):
				d = &all[i+1]
			case len(out) > 0 && out[len(out)-1].explicit && out[len(out)-1].end <= f.start && joins(lower[out[len(out)-1].end:f.start]):
				d = &out[len(out)-1]
			}
			if d != nil {
				for _, t := range d.readings {
					if t.Weekday() == f.date.Weekday() {
						d.date = t
						break
					}
				}
				d.start, d.end = min(d.start, f.start), max(d.end, f.end)
				continue
			}
		}
		out = append(out, f)
	}
	return out
}

// joins reports whether the text between a weekday and a date makes them
// one: nothing but spaces, commas and parentheses.
func joins(between string) bool {
	return strings.Trim(between, " ,()") == ""
}

// cueFor reads the words just before date i.
func cueFor(lower string, all []found, i int) cueKind {
	f := all[i]
	lo := max(0, f.start-60)
	// Do not read across the previous date or a sentence end.
	if i > 0 && all[i-1].end > lo {
		lo = all[i-1].end
	}
	window := lower[lo:f.start]
	// A full stop right after a digit is part of a date ("3."), not a
	// sentence end.
	if j := strings.LastIndexAny(window, ".!?\n"); j >= 0 && (j == 0 || window[j-1] < '0' || window[j-1] > '9') {
		window = window[j+1:]
	}
	cues := cueRe.FindAllString(window, -1)
	if len(cues) == 0 {
		return cueNone
	}
	prevDateAdjacent := i > 0 && all[i-1].end >= f.start-12
	switch last := cues[len(cues)-1]; last {
	case "until", "till", "til", "through", "thru", "up to", "after":
		return cueUntil
	case "to", "and", "-", "–", "—":
		if prevDateAdjacent {
			return cueUntil
		}
		for _, c := range cues {
			if isBackCue(c) {
				return cueBack
			}
		}
		return cueNone
	case "from", "starting", "since":
		for _, c := range cues[:len(cues)-1] {
			if isBackCue(c) {
				return cueBack
			}
		}
		return cueStart
	default:
		return cueBack
	}
}

func isBackCue(c string) bool {
	switch c {
	case "until", "till", "til", "through", "thru", "up to", "after", "from", "starting", "since", "to", "and", "-", "–", "—":
		return false
	}
	return true
}

// overlaps reports whether text[a:b] overlaps a date already taken (no
// match is empty).
func overlaps(all []found, a, b int) bool {
	for _, f := range all {
		if a < f.end && f.start < b {
			return true
		}
	}
	return false
}

func submatches(s string, ix []int) []string {
	out := make([]string, len(ix)/2)
	for i := range out {
		if ix[2*i] >= 0 {
			out[i] = s[ix[2*i]:ix[2*i+1]]
		}
	}
	return out
}

func midnight(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, t.Location())
}

func nextWeekday(ref time.Time, wd time.Weekday) time.Time {
	d := midnight(ref)
	n := (int(wd) - int(d.Weekday()) + 7) % 7
	if n == 0 {
		n = 7
	}
	return d.AddDate(0, 0, n)
}

func validDate(y, mo, d int, ref time.Time) (time.Time, bool) {
	if mo > 12 && mo <= 24 && y > 0 {
		y, mo = y+1, mo-12
	}
	if mo < 1 || mo > 12 || d < 1 || d > 31 || y < 1970 || y > 9999 {
		return time.Time{}, false
	}
	t := time.Date(y, time.Month(mo), d, 0, 0, 0, 0, ref.Location())
	if t.Day() != d {
		return time.Time{}, false // 31 April
	}
	return t, true
}

// dayMonth resolves a day, a month name and an optional year. Without a
// year the date is in the message's year, or the next year when that would
// be more than half a year back ("back on Jan 3" written in December); a
// date a few days or weeks back stays in the past and is then ignored ("I was
// away until 2 March").
func dayMonth(dayS, monS, yearS string, ref time.Time) (time.Time, bool) {
	d, _ := strconv.Atoi(dayS)
	mo, ok := months[strings.TrimSuffix(monS, ".")[:3]]
	if !ok {
		return time.Time{}, false
	}
	if y := parseYear(yearS); y > 0 {
		return validDate(y, int(mo), d, ref)
	}
	return nearestYear(int(mo), d, ref)
}

func nearestYear(mo, d int, ref time.Time) (time.Time, bool) {
	t, ok := validDate(ref.Year(), mo, d, ref)
	if !ok {
		return t, false
	}
	if t.Before(midnight(ref).AddDate(0, -6, 0)) {
		return validDate(ref.Year()+1, mo, d, ref)
	}
	return t, true
}

func parseYear(s string) int {
	s = strings.TrimPrefix(s, "'")
	if s == "" {
		return 0
	}
	y, _ := strconv.Atoi(s)
	if y < 100 {
		y += 2000
	}
	return y
}

// numericReadings reads the submatches of the numeric rule, a/b(/y): the
// valid dates not before the message, nearest first. A day and month
// written with dots and no year are European, day first: "8.30." at the
// end of a sentence is a time, not 30 August.
func numericReadings(m []string, ref time.Time) []time.Time {
	if m[2] == "." && m[4] == "" {
		if m[5] == "" {
			return nil // "9.30" is a time, not a date
		}
		return numericDates(m[1], m[3], "", true, ref)
	}
	return numericDates(m[1], m[3], m[4], false, ref)
}

// inNumberRun reports whether text[start:end] is part of a longer run of
// numbers joined by dots or slashes: a digit and a dot or slash right
// before it, or a digit right after it, or after the dot or slash that
// follows it.
func inNumberRun(text string, start, end int) bool {
	if start >= 2 && (text[start-1] == '.' || text[start-1] == '/') && isDigit(text[start-2]) {
		return true
	}
	if end < len(text) && (text[end] == '.' || text[end] == '/') {
		end++
	}
	return end < len(text) && isDigit(text[end])
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// timeWordBefore reports whether the text before a number ends in a word
// that puts a time after it ("at 9.10.", "@ 11.11.", "around 10.15.").
func timeWordBefore(before string) bool {
	w := strings.TrimRight(before[max(0, len(before)-20):], " ")
	if strings.HasSuffix(w, "@") {
		return true
	}
	switch w[strings.LastIndexAny(w, " ,;:()\n")+1:] {
	case "at", "around", "about", "approx", "approx.", "approximately", "ca", "ca.":
		return true
	}
	return false
}

// numericDates reads a/b(/y): day-month and month-day readings are both
// tried (day-month only when dayFirst), and the valid ones on or after the
// message are answered, nearest first.
func numericDates(aS, bS, yS string, dayFirst bool, ref time.Time) []time.Time {
	a, _ := strconv.Atoi(aS)
	b, _ := strconv.Atoi(bS)
	y := parseYear(yS)
	floor := midnight(ref).AddDate(0, 0, -2)
	var out []time.Time
	orders := [][2]int{{a, b}, {b, a}}
	if dayFirst {
		orders = orders[:1]
	}
	for _, c := range orders {
		var t time.Time
		var ok bool
		if y > 0 {
			t, ok = validDate(y, c[1], c[0], ref)
		} else {
			t, ok = nearestYear(c[1], c[0], ref)
		}
		if !ok || t.Before(floor) || len(out) > 0 && t.Equal(out[0]) {
			continue
		}
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Before(out[j]) })
	return out
}

// dayOfMonthReadings reads a day of the month ("the 12th"): this month's,
// or the next's when it is past, then the one a month later.
func dayOfMonthReadings(dS string, ref time.Time) []time.Time {
	d, _ := strconv.Atoi(dS)
	r := midnight(ref)
	t, ok := validDate(r.Year(), int(r.Month()), d, ref)
	mo := int(r.Month())
	if ok && t.Before(r) {
		mo++
		t, ok = validDate(r.Year(), mo, d, ref)
	}
	if !ok {
		return nil
	}
	out := []time.Time{t}
	if t2, ok := validDate(r.Year(), mo+1, d, ref); ok {
		out = append(out, t2)
	}
	return out
}
