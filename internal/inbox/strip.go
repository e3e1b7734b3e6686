package inbox

import (
	"regexp"
	"strings"
)

// Lines that start the quoted history of a reply, in the forms of common
// clients and languages. Everything from such a line on is the earlier
// conversation (our own pitch, usually), which must not sway classification.
var historyStart = []foldAlt{
	lineRuleOf(`(?i)^\s*on\s.{4,250}\bwrote:?\s*$`),
	lineRuleOf(`(?i)^\s*-{2,}\s*original message\s*-{2,}`),
	lineRuleOf(`(?i)^\s*-{2,}\s*(forwarded|reply) message\s*-{2,}`),
	lineRuleOf(`(?i)^\s*begin forwarded message:`),
	lineRuleOf(`^\s*_{10,}\s*$`),
	lineRuleOf(`(?i)^\s*le\s.{4,250}\ba écrit\s*:\s*$`),
	lineRuleOf(`(?i)^\s*am\s.{4,250}\bschrieb\b.{0,120}:\s*$`),
	lineRuleOf(`(?i)^\s*el\s.{4,250}\bescribió\s*:\s*$`),
	lineRuleOf(`(?i)^\s*op\s.{4,250}\bschreef\b.{0,120}:\s*$`),
	lineRuleOf(`(?i)^\s*il\s.{4,250}\bha scritto\s*:\s*$`),
}

// lineRuleOf is a regexp over one line with the literal tests of its
// pattern, checked on the folded line first (see prefilter.go).
func lineRuleOf(pattern string) foldAlt {
	return foldAlt{re: regexp.MustCompile(pattern), clauses: analyzer{fold: true}.clauses(parseSimple(pattern))}
}

// An Outlook header block: "From:" followed within a few lines by "Sent:" or
// "Date:", which marks the start of the quoted message.
var (
	outlookFrom = lineRuleOf(`(?i)^\s*\*?(from|von|de|van)\s*:\*?\s+\S`)
	outlookNext = regexp.MustCompile(`(?i)^\s*\*?(sent|date|gesendet|envoyé|enviado|verzonden|to|subject)\s*:`)
	// "On Mon, 3 Mar 2025 at 10:02, Jane <jane@" + newline + "example.com> wrote:"
	wroteTail = regexp.MustCompile(`(?i)\bwrote:?\s*$`)
	onHead    = regexp.MustCompile(`(?i)^\s*on\s`)
)

// Lines that end the message body: the signature delimiter and mobile
// footers.
var (
	sigDelim   = regexp.MustCompile(`^(-- ?|--|—|__)\s*$`)
	sentFooter = regexp.MustCompile(`(?i)^\s*(sent from my \w+|sent from (outlook|mail|yahoo mail|gmail)\b|get outlook for \w+|sent via \w+|envoyé de mon \w+|von meinem \w+ gesendet)`)
)

// StripQuoted returns what the sender wrote now: text without the quoted
// history of earlier messages, quoted lines and the signature. When that
// would leave nothing (a reply made entirely inside the quote), it returns
// the text without only the "> " lines, or the text itself.
func StripQuoted(text string) string {
	lines := strings.Split(text, "\n")
	cut := len(lines)
	for i := 0; i < len(lines) && cut == len(lines); i++ {
		l := lines[i]
		if isHistoryStart(lines, i) {
			cut = i
			break
		}
		// A two-line "On ... <addr\naddr> wrote:" attribution.
		if i+1 < len(lines) && onHead.MatchString(l) && wroteTail.MatchString(lines[i+1]) && len(l) < 250 {
			cut = i
		}
	}
	own := keepOwn(lines[:cut])
	if strings.TrimSpace(own) != "" {
		return own
	}
	// Bottom-posted: the answer follows the quote. Drop quoted lines and
	// attribution lines and keep the rest.
	var rest []string
	for i, l := range lines {
		if isHistoryStart(lines, i) {
			continue
		}
		rest = append(rest, l)
	}
	if own := keepOwn(rest); strings.TrimSpace(own) != "" {
		return own
	}
	return strings.TrimSpace(text)
}

// historyHints are words one of which every history-start line contains
// (lower-cased); lines without any skip the regexps.
var historyHints = []string{"wrote", "original message", "forwarded", "reply message", "______", "écrit", "schrieb", "escribió", "schreef", "scritto", "from", "von", "de", "van"}

func isHistoryStart(lines []string, i int) bool {
	l := lines[i]
	lower := strings.ToLower(l)
	hinted := false
	for _, h := range historyHints {
		if strings.Contains(lower, h) {
			hinted = true
			break
		}
	}
	if !hinted {
		return false
	}
	folded := foldString(l)
	for _, re := range historyStart {
		if re.MatchString(l, folded) {
			return true
		}
	}
	if outlookFrom.MatchString(l, folded) {
		for j := i + 1; j < len(lines) && j <= i+4; j++ {
			if outlookNext.MatchString(lines[j]) {
				return true
			}
		}
	}
	return false
}

// keepOwn drops "> " lines and everything after a signature delimiter or a
// "Sent from my phone" footer.
func keepOwn(lines []string) string {
	out := make([]string, 0, len(lines))
	for _, l := range lines {
		t := strings.TrimSpace(l)
		if sigDelim.MatchString(l) || sentFooter.MatchString(t) {
			break
		}
		if strings.HasPrefix(t, ">") {
			continue
		}
		out = append(out, l)
	}
	return strings.TrimSpace(strings.Join(out, "\n"))
}
