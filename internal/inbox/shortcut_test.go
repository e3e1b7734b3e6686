package inbox

import (
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The fast paths of stripping and classification stand in for simpler code
// or for regexps (see the comments where they are defined); these tests
// hold them to what they stand in for, on the corpus and on random texts
// made of the pieces the fast paths look at.

// shortcutPieces are what random texts are made of: the words and bytes
// the fast paths decide on, case variants, runes whose lower case or
// folding differs in length or leaves ASCII, white space of every kind and
// invalid UTF-8.
var shortcutPieces = []string{
	"on", "On", "ON", "o", "n", "wrote:", "Wrote", "from", "From:", "*From:*", "Von:", "de", "De :", "van", "--", "—", "__",
	"-----Original Message-----", "begin", "le", "am", "el", "op", "il", "a écrit", "schrieb", "Sent", "sent from my", "Get",
	"envoyé", "von meinem", "Sent via", "\u017f", "\u212a", "\u0130", "\u0131", "É", "é", "ẞ", "\u2019", "\u2018", "\u201c",
	"\u201d", "\u2013", "\u2014", "\u00a0", "\u2028", "\u0085", "\u3000", "\xff", "\xe2\x80", "\xc5", " ", "  ", "\t", "\n",
	"\n\n", "\n\n\n", "\r", "\v", "\f", ".", ",", "@", "a@b.example", "x.y@mail.example.com", "@@", "<", ">", "5.1.1", "4.2.2",
	"2.0.0", "550", "a5.1.1", "5.", ".5", "1", "22", "2025", "x", "Word", "_", "=", "'", "%", strings.Repeat("k", 70),
	strings.Repeat("d", 260) + ".com",
}

func randomTexts(n int) []string {
	r := rand.New(rand.NewPCG(7, 11))
	out := make([]string, 0, n)
	for range n {
		var b strings.Builder
		for range 1 + r.IntN(24) {
			b.WriteString(shortcutPieces[r.IntN(len(shortcutPieces))])
		}
		out = append(out, b.String())
	}
	return out
}

// thin keeps every fifth text under the race detector.
func thin(texts []string) []string {
	if !raceEnabled {
		return texts
	}
	var out []string
	for i := 0; i < len(texts); i += 5 {
		out = append(out, texts[i])
	}
	return out
}

func shortcutTexts(t *testing.T) []string {
	t.Helper()
	return append(randomTexts(3000), corpusTexts(t, true)...)
}

// corpusTexts are the texts of the mail files and their subjects, and
// with upper the texts upper-cased too (the same to what reads
// normalizePhrases' lower-cased text).
func corpusTexts(t *testing.T, upper bool) []string {
	t.Helper()
	var texts []string
	for _, dir := range []string{"corpus", "holdout"} {
		files, _ := filepath.Glob(filepath.Join("testdata", dir, "*.eml"))
		for _, f := range files {
			m := Parse(readFile(t, f))
			texts = append(texts, m.Text, m.Subject)
			if upper {
				texts = append(texts, strings.ToUpper(m.Text))
			}
		}
	}
	return texts
}

// normalizePhrasesSlow is normalizePhrases as a composition of the
// strings functions it replaces.
func normalizePhrasesSlow(s string) string {
	s = strings.NewReplacer("\u2019", "'", "\u2018", "'", "\u201c", `"`, "\u201d", `"`,
		"\u2013", "-", "\u2014", "-", "\u00a0", " ", "\t", " ").Replace(strings.ToLower(s))
	paras := strings.Split(s, "\n\n")
	for i, p := range paras {
		paras[i] = strings.Join(strings.Fields(p), " ")
	}
	return strings.Join(paras, "\n")
}

func TestNormalizePhrasesShortcut(t *testing.T) {
	t.Parallel()
	for _, s := range shortcutTexts(t) {
		if got, want := normalizePhrases(s), normalizePhrasesSlow(s); got != want {
			t.Fatalf("normalizePhrases(%q) = %q, want %q", s, got, want)
		}
	}
}

func TestStripShortcuts(t *testing.T) {
	t.Parallel()
	onHead := regexp.MustCompile(`(?i)^\s*on\s`)
	for _, text := range shortcutTexts(t) {
		for _, l := range strings.Split(text, "\n") {
			if got, want := startsOn(l), onHead.MatchString(l); got != want {
				t.Fatalf("startsOn(%q) = %v, regexp says %v", l, got, want)
			}
			folded := foldString(l)
			if !mayStartHistory(l) && (slices.ContainsFunc(historyStart, func(a foldAlt) bool { return a.re.MatchString(l) }) || outlookFrom.re.MatchString(l)) {
				t.Fatalf("mayStartHistory(%q) is false and a history pattern matches", l)
			}
			if !mayStartHistory(l) && slices.ContainsFunc(historyStart, func(a foldAlt) bool { return a.MatchString(l, folded) }) {
				t.Fatalf("mayStartHistory(%q) is false and a history rule matches", l)
			}
			if !maySigDelim(l) && sigDelim.MatchString(l) {
				t.Fatalf("maySigDelim(%q) is false and sigDelim matches", l)
			}
			if tr := strings.TrimSpace(l); !mayFooter(tr) && sentFooter.MatchString(tr) {
				t.Fatalf("mayFooter(%q) is false and sentFooter matches", tr)
			}
		}
	}
}

// TestOnWrote holds onWrote to the regexp it stands in for, on lines
// around its limits.
func TestOnWrote(t *testing.T) {
	t.Parallel()
	re := regexp.MustCompile(onWrotePattern)
	r := rand.New(rand.NewPCG(13, 17))
	heads := []string{"", " ", "\t ", "\n", "\v"}
	ons := []string{"on", "On", "ON", "oN", "o", "onx", "no", "\u212an"}
	gaps := []string{" ", "\t", "\n", "\v", "", "x"}
	fills := []string{"a", " ", "é", "\xff", "\xe2\x80", ",", "<", ">", ":", "\n", "\u212a", "_", "1"}
	tails := []string{"wrote", "WROTE", "Wrote:", "wrote::", "wrotes", "wrote :", "xwrote", " wrote", "wrote:", "wrote\v"}
	ends := []string{"", " ", "\t", "\n", " \r\n", "\v", "\f", ":"}
	lines := shortcutTexts(t)
	for range 30000 {
		var b strings.Builder
		b.WriteString(heads[r.IntN(len(heads))] + ons[r.IntN(len(ons))] + gaps[r.IntN(len(gaps))])
		n := r.IntN(262)
		if r.IntN(2) == 0 {
			n = r.IntN(8)
		}
		k := len(fills)
		if r.IntN(2) == 0 {
			k -= 4 // no newline, rarely a word character at the end
		}
		for range n {
			b.WriteString(fills[r.IntN(k)])
		}
		b.WriteString(tails[r.IntN(len(tails))] + ends[r.IntN(len(ends))])
		lines = append(lines, b.String())
	}
	for n := range 260 {
		for _, fill := range []string{"a", "é", "\xff"} {
			between := strings.Repeat(fill, n) + ">"
			lines = append(lines, "On "+between+"wrote:", " on\t"+between+" WROTE \n", "on "+strings.Repeat(fill, n)+"wrote")
		}
	}
	for _, l := range lines {
		if got, want := onWrote(l), re.MatchString(l); got != want {
			t.Fatalf("onWrote(%q) = %v, regexp says %v", l, got, want)
		}
	}
}

// statusCodeReference is what statusCode answers, the slow way: the
// code's pattern tried at every position, with its neighbours checked.
func statusCodeReference(text string) string {
	for i := range len(text) {
		if i > 0 && (isWordByte(text[i-1]) || text[i-1] == '.') {
			continue
		}
		m := statusAt.FindString(text[i:])
		if m == "" {
			continue
		}
		rest := text[i+len(m):]
		if rest != "" && (isWordByte(rest[0]) || len(rest) > 1 && rest[0] == '.' && '0' <= rest[1] && rest[1] <= '9') {
			continue
		}
		return m
	}
	return ""
}

func TestStatusCode(t *testing.T) {
	t.Parallel()
	for text, want := range map[string]string{
		"Status: 5.1.1":                     "5.1.1",
		"smtp; 550 5.1.1 <a@b.example>: no": "5.1.1",
		"(4.2.2)":                           "4.2.2",
		"4.31.198.44 does not like recipient. Remote host said: 550 5.1.1 User unknown": "5.1.1",
		"host mx.site.example [5.9.1.20]: 452 4.2.2 mailbox full":                       "4.2.2",
		"Giving up on 4.31.198.44.":                                                     "",
		"Postfix 2.4.10.1 here":                                                         "",
		"5.1.1.":                                                                        "5.1.1",
		"5.1.1234":                                                                      "",
		"x5.1.1":                                                                        "",
		"5.1.1x 4.4.7":                                                                  "4.4.7",
	} {
		if got := statusCode(text); got != want {
			t.Errorf("statusCode(%q) = %q, want %q", text, got, want)
		}
		if got := statusCodeReference(text); got != want {
			t.Errorf("statusCodeReference(%q) = %q, want %q", text, got, want)
		}
	}
}

func TestBounceShortcuts(t *testing.T) {
	t.Parallel()
	for _, text := range thin(shortcutTexts(t)) {
		if got, want := statusCode(text), statusCodeReference(text); got != want {
			t.Fatalf("statusCode(%q) = %q, want %q", text, got, want)
		}
		for _, n := range []int{1, 3, 50} {
			var got []string
			eachAddress(text, n, func(a string) bool { got = append(got, a); return false })
			if want := addrRe.FindAllString(text, n); !slices.Equal(got, want) {
				t.Fatalf("eachAddress(%q, %d) = %q, want %q", text, n, got, want)
			}
		}
		// Stopping early.
		var first []string
		eachAddress(text, 50, func(a string) bool { first = append(first, a); return true })
		if want := addrRe.FindAllString(text, 1); !slices.Equal(first, want) {
			t.Fatalf("eachAddress(%q) stopping at the first = %q, want %q", text, first, want)
		}
	}
}

// TestFoldRuleShortcut holds foldRule.MatchString, which answers the
// literal tests of all alternatives with one scan, to its alternatives'
// MatchString, which search for each literal.
func TestFoldRuleShortcut(t *testing.T) {
	t.Parallel()
	for _, text := range shortcutTexts(t) {
		folded := foldString(text)
		for _, r := range []foldRule{bounceSubject, bounceBody, softWording} {
			want := slices.ContainsFunc(r.alts, func(a foldAlt) bool { return a.MatchString(text, folded) })
			if got := r.MatchString(text, folded); got != want {
				t.Fatalf("foldRule.MatchString(%q) = %v, want %v", text, got, want)
			}
		}
	}
}

// TestPhraseRuleTests checks that every phrase rule's literal tests hold
// wherever its regexp matches, for the tests given by hand (ruleAlso,
// ruleWith) above all.
func TestPhraseRuleTests(t *testing.T) {
	t.Parallel()
	var rules []phraseRule
	for _, rs := range [][]phraseRule{
		unsubRules, notInterestedRules, weakRefusalRules, notRefusalRules, payWordRules, payAmountRules,
		interestedStrong, interestedMild, referralRules, hedgeRules, oooRules,
		{negatedTakingRule},
	} {
		rules = append(rules, rs...)
	}
	for _, d := range dateRules {
		rules = append(rules, d.re)
	}
	texts := append(randomTexts(1500), corpusTexts(t, false)...)
	for _, in := range syntheticInputs("") {
		texts = append(texts, in.text)
	}
	for _, text := range thin(texts) {
		lower := normalizePhrases(text)
		sc := scan(lower)
		for _, r := range rules {
			if r.re.MatchString(lower) && !r.mayMatch(sc) {
				t.Fatalf("%s matches %q, and its literal tests fail", r.re, lower)
			}
		}
	}
}

// datePieces make texts dense with dates, phrases and near misses.
var datePieces = []string{
	"not", "interested", "send", "it", "over", "we'd", "love", "happy to", "publish", "don't", "accept", "guest", "posts",
	"no", "thanks", "pass", "on", "this", "fee", "budget", "$", "50", "usd", "out of", "office", "leave", "will be", "yes",
	"remove", "me from", "list", "take me off", "sounds", "great", "good", "a", "fit", "e-mail", "email", "forward", "to",
	"march", "mar", "mar.", "may", "sept", "september", "dec.", "monday", "mon", "tues", "wednesday", "thurs", "fri.", "next",
	"week", "the", "of", "in", "a couple of", "two", "days", "weeks", "tomorrow", "end of", "month", "until", "till", "through",
	"after", "to", "-", "–", "—", "/", ".", ",", "'", "3", "10", "31", "2026", "'26", "st", "nd", "rd", "th", "1st", "15th",
	"2025-03-10", "10/03", "10.03.", "9.30", " ", " ", " ", "  ", "\n", "\n\n", "\t", strings.Repeat(" ", 20), "x", "_",
	"\u017f", "\u212a", "é", "\xff", "!", "back",
	"dont", "cant", "more than", "all set", "in-house", "opt out", "opt-out", "me", "us", "spam", "again", "refrain from",
	"contacting", "pass on", "passing", "stop", "sending", "writing", "lose my", "info@x.example",
}

// TestStartFinders holds the phrase and date rules' finders to the
// regexps they stand in for.
func TestStartFinders(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(3, 5))
	var texts []string
	for range 1500 {
		var b strings.Builder
		for range 1 + r.IntN(30) {
			b.WriteString(datePieces[r.IntN(len(datePieces))])
		}
		texts = append(texts, b.String(), normalizePhrases(b.String()))
	}
	texts = append(texts, randomTexts(500)...)
	for _, s := range corpusTexts(t, false) {
		texts = append(texts, normalizePhrases(s))
	}
	for _, in := range syntheticInputs("") {
		texts = append(texts, normalizePhrases(in.text))
	}
	var rules []phraseRule
	for _, d := range dateRules {
		if d.re.finder == nil {
			t.Errorf("date rule %s has no finder", d.re.re)
		}
		rules = append(rules, d.re)
	}
	for _, rs := range [][]phraseRule{
		unsubRules, notInterestedRules, weakRefusalRules, notRefusalRules, payWordRules, payAmountRules,
		interestedStrong, interestedMild, referralRules, hedgeRules, oooRules,
		{negatedTakingRule},
	} {
		for _, p := range rs {
			if p.finder != nil {
				rules = append(rules, p)
			}
		}
	}
	if negationFinder == nil {
		t.Error("negationRe has no finder")
	}
	t.Logf("%d rules with finders", len(rules))
	for _, text := range thin(texts) {
		starts, white := wordStarts(text)
		for _, p := range rules {
			if got, want := p.finder.findAll(p.re, text, 20, starts, white), p.re.FindAllStringSubmatchIndex(text, 20); !reflect.DeepEqual(got, want) {
				t.Fatalf("%s in %q: finder %v, regexp %v", p.re, text, got, want)
			}
			if got, want := p.finder.match(p.re, text, starts, white), p.re.MatchString(text); got != want {
				t.Fatalf("%s in %q: finder matches %v, regexp %v", p.re, text, got, want)
			}
		}
		for at := 0; at <= len(text); at += 7 {
			w := text[max(0, at-40):at]
			if got, want := negationFinder.matchString(negationRe, w), negationRe.MatchString(w); got != want {
				t.Fatalf("negation in %q: finder %v, regexp %v", w, got, want)
			}
		}
	}
}
