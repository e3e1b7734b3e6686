package inbox

import (
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"
)

// Lines that start the quoted history of a reply, in the forms of common
// clients and languages. Everything from such a line on is the earlier
// conversation (our own pitch, usually), which must not sway classification.
var historyStart = []foldAlt{
	withMatch(lineRuleOf(onWrotePattern), onWrote),
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

// onWrotePattern is the attribution line of most replies ("On Tue, 4 Mar
// 2025 at 10:12, Dana <d@x.com> wrote:"); onWrote matches it without the
// regexp, which backtracks over the .{4,250} of each such line.
const onWrotePattern = `(?i)^\s*on\s.{4,250}\bwrote:?\s*$`

func withMatch(a foldAlt, match func(string) bool) foldAlt {
	a.match = match
	return a
}

// onWrote is onWrotePattern's MatchString. "on" and "wrote" are ASCII
// letters that fold to ASCII only; the white space after "wrote" and the
// colon before it can be taken off the end first, since "wrote" is all
// that may come before them; what lies between "on " and "wrote" is the
// .{4,250}: 4 to 250 runes (an invalid byte is one) without a newline,
// the last of which is not a word character (\b before "wrote").
func onWrote(l string) bool {
	if !startsOn(l) {
		return false
	}
	start := len(l) - len(lineStart(l)) + len("on ")
	end := len(l)
	for end > start && isSpaceRE(l[end-1]) {
		end--
	}
	if end > start && l[end-1] == ':' {
		end--
	}
	if end-len("wrote") < start {
		return false
	}
	end -= len("wrote")
	for i := range len("wrote") {
		if lowerASCII(l[end+i]) != "wrote"[i] {
			return false
		}
	}
	between := l[start:end]
	if n := utf8.RuneCountInString(between); n < 4 || n > 250 || strings.IndexByte(between, '\n') >= 0 {
		return false
	}
	return !isWordByte(between[len(between)-1])
}

// An Outlook header block: "From:" followed within a few lines by "Sent:" or
// "Date:", which marks the start of the quoted message.
var (
	outlookFrom = lineRuleOf(`(?i)^\s*\*?(from|von|de|van|da)\s*:\*?\s+\S`)
	// English, German, French, Spanish, Portuguese, Dutch and Italian.
	outlookNext = regexp.MustCompile(`(?i)^\s*\*?(sent|date|gesendet|envoyé|enviado|enviado el|enviada em|verzonden|inviato|data|to|an|à|para|aan|a|subject|betreff|objet|asunto|assunto|onderwerp|oggetto)\s*:`)
	// "On Mon, 3 Mar 2025 at 10:02, Jane <jane@" + newline + "example.com> wrote:"
	wroteTail = regexp.MustCompile(`(?i)\bwrote:?\s*$`)
)

// isSpaceRE is the \s of a regexp: ASCII white space without \v.
func isSpaceRE(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r'
}

// lineStart is l without the white space `^\s*` skips.
func lineStart(l string) string {
	i := 0
	for i < len(l) && isSpaceRE(l[i]) {
		i++
	}
	return l[i:]
}

// lowerASCII is c lower-cased if it is an ASCII letter.
func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// startsOn is `(?i)^\s*on\s` on bytes: every line is tested, and o and n
// fold only to O and N.
func startsOn(l string) bool {
	l = lineStart(l)
	return len(l) >= 3 && lowerASCII(l[0]) == 'o' && lowerASCII(l[1]) == 'n' && isSpaceRE(l[2])
}

// historyHeads are the first two bytes, lower-cased, that a line matching
// one of historyStart or outlookFrom can start with after its white space
// ("On", "-----Original", "Begin", "____", "Le", "Am", "El", "Op", "Il",
// "From", "Von", "De", "Van", "Da"); "*" (outlookFrom's "*From:*") is tested on
// its own. None of these letters folds to a non-ASCII rune (only k and s
// do), so the test on bytes is exact.
var historyHeads = []string{"on", "--", "be", "__", "le", "am", "el", "op", "il", "fr", "vo", "de", "va", "da"}

// mayStartHistory is a necessary condition of isHistoryStart, cheap enough
// for every line: all its patterns are anchored at the line's start.
func mayStartHistory(l string) bool {
	l = lineStart(l)
	if len(l) < 2 {
		return false
	}
	if l[0] == '*' {
		return true
	}
	a, b := lowerASCII(l[0]), lowerASCII(l[1])
	return slices.ContainsFunc(historyHeads, func(h string) bool { return h[0] == a && h[1] == b })
}

// Lines that end the message body: the signature delimiter and mobile
// footers.
var (
	sigDelim   = regexp.MustCompile(`^(-- ?|--|—|__)\s*$`)
	sentFooter = regexp.MustCompile(`(?i)^\s*(sent from my \w+|sent from (outlook|mail|yahoo mail|gmail)\b|get outlook for \w+|sent via \w+|envoyé de mon \w+|von meinem \w+ gesendet)`)
)

// StripQuoted returns what the sender wrote now: text without the quoted
// history of earlier messages, quoted lines and the signature. When
// nothing is written above the history, an answer below "> " quoting
// (bottom-posted, or between the quoted lines) is kept; else it returns
// "": the sender wrote nothing of their own (a reply carrying only an
// attachment or a signature), and the history is our own e-mail, whose
// words ("if you're not interested…") must not be taken for theirs.
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
		if i+1 < len(lines) && len(l) < 250 && startsOn(l) && wroteTail.MatchString(lines[i+1]) {
			cut = i
		}
	}
	own := keepOwn(lines[:cut])
	if strings.TrimSpace(own) != "" {
		return own
	}
	// Bottom-posted: the answer follows the "> " quote. Drop quoted lines
	// and attribution lines and keep the rest. History that is not quoted
	// line by line (an Outlook header block and the message under it) has
	// no answer below it: all of it is history.
	if !quotedBelow(lines[cut:]) {
		return ""
	}
	var rest []string
	for i, l := range lines {
		if isHistoryStart(lines, i) {
			continue
		}
		rest = append(rest, l)
	}
	return keepOwn(rest)
}

// quotedBelow reports whether some line is quoted with ">".
func quotedBelow(lines []string) bool {
	for _, l := range lines {
		if strings.HasPrefix(strings.TrimSpace(l), ">") {
			return true
		}
	}
	return false
}

// historyHints are words one of which every history-start line contains
// (lower-cased); lines without any skip the regexps.
var historyHints = []string{"wrote", "original message", "forwarded", "reply message", "______", "écrit", "schrieb", "escribió", "schreef", "scritto", "from", "von", "de", "van", "da"}

func isHistoryStart(lines []string, i int) bool {
	l := lines[i]
	if !mayStartHistory(l) {
		return false
	}
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
		if (maySigDelim(l) && sigDelim.MatchString(l)) || (mayFooter(t) && sentFooter.MatchString(t)) {
			break
		}
		if strings.HasPrefix(t, ">") {
			continue
		}
		out = append(out, l)
	}
	return strings.TrimSpace(strings.Join(out, "\n"))
}

// maySigDelim is a necessary condition of sigDelim: the line starts with
// "--", "—" or "__".
func maySigDelim(l string) bool {
	return strings.HasPrefix(l, "--") || strings.HasPrefix(l, "—") || strings.HasPrefix(l, "__")
}

// mayFooter is a necessary condition of sentFooter on a trimmed line: it
// starts with the first letter of "sent", "get", "envoyé" or "von", in
// any case; s also folds to the long s (ſ, whose UTF-8 starts with 0xC5).
func mayFooter(t string) bool {
	if t == "" {
		return false
	}
	switch t[0] {
	case 's', 'S', 0xC5, 'g', 'G', 'e', 'E', 'v', 'V':
		return true
	}
	return false
}
