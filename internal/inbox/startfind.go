package inbox

import (
	"regexp"
	"regexp/syntax"
	"slices"
	"unicode/utf8"
)

// Most phrase rules start with \b and an alternation ("\b(send|share)
// ...", the date rules), which gives the regexp package no literal prefix
// to skip to: it tries a match at every byte of the text, and the rules
// that pass their literal tests cost most of classification, above all
// the date rules of out-of-office replies. Yet such a match can only start
// at the start of a word that begins like one ("mar", "mon", "send", a
// digit), and it is short. A startFinder tries the regexp, anchored, only
// at such places and only on the bytes a match could reach, and answers
// what the regexp would:
//
//   - every match starts with one of the rule's start strings (derived
//     from the pattern: its matches' first startLen bytes, or the whole
//     match when shorter), after a byte that is not a word character (the
//     pattern starts with \b, and every start string with a word
//     character);
//   - from a given start, the regexp picks the same match in a window
//     holding every byte a match could read: at most maxLen bytes, which
//     is finite once each run of white space in the pattern (\s+, \s*)
//     is bounded by the longest run of white space in the text; $ cannot
//     be reached before the window's end, and the pattern has no ^;
//   - \b at the window's start sees the same thing as in the whole text: a
//     byte that is not a word character, or the start of the text.
//
// FindAll goes on from the end of each match, as the regexp package does.

// startLen is how many leading bytes of a match the start strings hold at
// most.
const startLen = 3

// maxStarts bounds the start strings of a rule; more give no finder.
const maxStarts = 256

// maxWhiteRun is the longest run of white space a finder handles; a text
// with a longer one is searched by the regexp alone.
const maxWhiteRun = 16

// A startFinder finds the matches of a regexp that starts with \b.
type startFinder struct {
	// anchored is the rule's pattern anchored at the start of the text,
	// with the same capture groups.
	anchored *regexp.Regexp
	// byFirst are the start strings by their first byte.
	byFirst [256][]string
	// maxLen[w] is the longest match when runs of white space are at most
	// w bytes long.
	maxLen [maxWhiteRun + 1]int
}

// newStartFinder answers nil when the pattern does not have the shape the
// finder relies on: \b first, start strings that each begin with a word
// character, and a length bounded but for runs of white space.
func newStartFinder(pattern string) *startFinder {
	re := parseSimple(pattern)
	if re.Op != syntax.OpConcat || len(re.Sub) == 0 || re.Sub[0].Op != syntax.OpWordBoundary || beginsLine(re) {
		return nil
	}
	// Fewer leading bytes when there would be too many strings (a digit
	// and what may follow it).
	var set []string
	ok := false
	for k := startLen; k > 0 && !ok; k-- {
		set, ok = startStrings(re, k)
	}
	if !ok {
		return nil
	}
	f := &startFinder{anchored: regexp.MustCompile(`^(?:` + pattern + `)`)}
	for _, s := range set {
		if s == "" || !isWordByte(s[0]) {
			return nil
		}
		f.byFirst[s[0]] = append(f.byFirst[s[0]], s)
	}
	for w := range f.maxLen {
		if f.maxLen[w] = maxMatchLen(re, w); f.maxLen[w] < 0 {
			return nil
		}
	}
	return f
}

// matchString answers re.MatchString(text) for a short text, finding the
// word starts itself.
func (f *startFinder) matchString(re *regexp.Regexp, text string) bool {
	starts, white := wordStarts(text)
	return f.match(re, text, starts, white)
}

// match answers re.MatchString(text), with the arguments of findAll.
func (f *startFinder) match(re *regexp.Regexp, text string, wordAfter []int, white int) bool {
	if white > maxWhiteRun {
		return re.MatchString(text)
	}
	reach := f.maxLen[white] + utf8.UTFMax
	for _, c := range wordAfter {
		if c < len(text) && f.startsAt(text[c:]) && f.anchored.MatchString(text[c:min(len(text), c+reach)]) {
			return true
		}
	}
	return false
}

// findAll answers re.FindAllStringSubmatchIndex(text, n) for the rule's
// regexp re; wordAfter are the positions of text that follow a non-word
// byte (and 0), ascending; white is the longest run of white space in
// text.
func (f *startFinder) findAll(re *regexp.Regexp, text string, n int, wordAfter []int, white int) [][]int {
	if white > maxWhiteRun {
		return re.FindAllStringSubmatchIndex(text, n)
	}
	// utf8.UTFMax more bytes: a rune the regexp reads at the window's
	// last byte is read whole.
	reach := f.maxLen[white] + utf8.UTFMax
	var out [][]int
	next := 0 // the end of the last match: the search goes on from there
	for _, c := range wordAfter {
		if len(out) == n {
			break
		}
		if c < next || c >= len(text) || !f.startsAt(text[c:]) {
			continue
		}
		ix := f.anchored.FindStringSubmatchIndex(text[c:min(len(text), c+reach)])
		if ix == nil {
			continue
		}
		for i := range ix {
			if ix[i] >= 0 {
				ix[i] += c
			}
		}
		out = append(out, ix)
		next = ix[1]
	}
	return out
}

func (f *startFinder) startsAt(s string) bool {
	for _, p := range f.byFirst[s[0]] {
		if len(s) >= len(p) && s[:len(p)] == p {
			return true
		}
	}
	return false
}

func isWordByte(c byte) bool {
	return c == '_' || ('0' <= c && c <= '9') || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z')
}

// wordStarts answers the positions of text where \b can hold before a
// word character: 0 and every position after a byte that is not an ASCII
// word character (a byte of a multi-byte rune included: the regexp's \b
// knows only ASCII words). It also answers the longest run of the bytes
// \s matches (and \v).
func wordStarts(text string) (pos []int, white int) {
	pos = make([]int, 0, len(text)/4+1)
	pos = append(pos, 0)
	run := 0
	for i := 0; i < len(text); i++ {
		c := text[i]
		if !isWordByte(c) {
			pos = append(pos, i+1)
		}
		if asciiSpace(c) {
			run++
			white = max(white, run)
		} else {
			run = 0
		}
	}
	return pos, white
}

// startStrings answers the first k bytes of every match of re (the whole
// match when it is shorter), as a set; assertions are read as matching,
// which can only add strings. ok is false when the set is not known or
// too large.
func startStrings(re *syntax.Regexp, k int) (set []string, ok bool) {
	if k == 0 {
		return []string{""}, true
	}
	switch re.Op {
	case syntax.OpEmptyMatch, syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText, syntax.OpEndText,
		syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		return []string{""}, true
	case syntax.OpLiteral:
		if re.Flags&syntax.FoldCase != 0 {
			return nil, false
		}
		s := string(re.Rune)
		return []string{s[:min(k, len(s))]}, true
	case syntax.OpCharClass:
		for i := 0; i+1 < len(re.Rune); i += 2 {
			if re.Rune[i+1]-re.Rune[i] >= maxStarts {
				return nil, false
			}
			for c := re.Rune[i]; c <= re.Rune[i+1]; c++ {
				s := string(c)
				set = union(set, []string{s[:min(k, len(s))]})
			}
			if len(set) > maxStarts {
				return nil, false
			}
		}
		return set, true
	case syntax.OpCapture:
		return startStrings(re.Sub[0], k)
	case syntax.OpConcat:
		set = []string{""}
		for _, sub := range re.Sub {
			var next []string
			for _, p := range set {
				if len(p) == k {
					next = union(next, []string{p})
					continue
				}
				// p is shorter than k: it is all the subexpressions so far
				// matched, and this one follows it.
				more, ok := startStrings(sub, k-len(p))
				if !ok {
					return nil, false
				}
				for _, m := range more {
					next = union(next, []string{p + m})
				}
			}
			if set = next; len(set) > maxStarts {
				return nil, false
			}
		}
		return set, true
	case syntax.OpAlternate:
		for _, sub := range re.Sub {
			more, ok := startStrings(sub, k)
			if !ok {
				return nil, false
			}
			if set = union(set, more); len(set) > maxStarts {
				return nil, false
			}
		}
		return set, true
	case syntax.OpQuest:
		more, ok := startStrings(re.Sub[0], k)
		return union([]string{""}, more), ok
	case syntax.OpStar:
		return repeatStarts(re.Sub[0], k, false)
	case syntax.OpPlus:
		return repeatStarts(re.Sub[0], k, true)
	}
	return nil, false
}

// repeatStarts is startStrings of sub+ (one set) or sub* (not one). A
// repetition that matches nothing does not change what follows, so only
// the non-empty ones count.
func repeatStarts(sub *syntax.Regexp, k int, one bool) ([]string, bool) {
	base, ok := startStrings(sub, k)
	if !ok {
		return nil, false
	}
	var set []string
	if !one || slices.Contains(base, "") {
		set = []string{""}
	}
	for _, p := range base {
		if p == "" {
			continue
		}
		set = union(set, []string{p})
		if len(p) < k {
			// sub matched p entirely; more repetitions may follow.
			more, ok := repeatStarts(sub, k-len(p), false)
			if !ok {
				return nil, false
			}
			for _, m := range more {
				set = union(set, []string{p + m})
			}
		}
		if len(set) > maxStarts {
			return nil, false
		}
	}
	return set, true
}

// maxMatchLen is the longest match of re in bytes when every run of
// white space is at most white bytes long, or -1 when it is unbounded.
func maxMatchLen(re *syntax.Regexp, white int) int {
	switch re.Op {
	case syntax.OpEmptyMatch, syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText, syntax.OpEndText,
		syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		return 0
	case syntax.OpLiteral:
		if re.Flags&syntax.FoldCase != 0 {
			// A rune can match a longer one of its folding orbit (k and
			// the Kelvin sign).
			return len(re.Rune) * utf8.UTFMax
		}
		return len(string(re.Rune))
	case syntax.OpCharClass:
		// The ranges are sorted: the last rune is the longest.
		if len(re.Rune) == 0 || utf8.RuneLen(re.Rune[len(re.Rune)-1]) < 0 {
			return utf8.UTFMax
		}
		return utf8.RuneLen(re.Rune[len(re.Rune)-1])
	case syntax.OpCapture, syntax.OpQuest:
		return maxMatchLen(re.Sub[0], white)
	case syntax.OpConcat, syntax.OpAlternate:
		// A sequence is as long as its parts together, a choice as its
		// longest branch.
		n := 0
		for _, sub := range re.Sub {
			m := maxMatchLen(sub, white)
			if m < 0 {
				return -1
			}
			if re.Op == syntax.OpConcat {
				n += m
			} else {
				n = max(n, m)
			}
		}
		return n
	case syntax.OpStar, syntax.OpPlus:
		if isWhiteClass(re.Sub[0]) {
			return white
		}
	}
	return -1
}

// isWhiteClass reports a character class of ASCII white space only (\s),
// whose repetition a run of white space in the text bounds.
func isWhiteClass(re *syntax.Regexp) bool {
	if re.Op != syntax.OpCharClass || len(re.Rune) == 0 {
		return false
	}
	for i := 0; i+1 < len(re.Rune); i += 2 {
		for c := re.Rune[i]; c <= re.Rune[i+1]; c++ {
			switch c {
			case ' ', '\t', '\n', '\v', '\f', '\r':
			default:
				return false
			}
		}
	}
	return true
}

// beginsLine reports a ^ in re: at the start of a window it would hold
// where it does not in the whole text.
func beginsLine(re *syntax.Regexp) bool {
	if re.Op == syntax.OpBeginLine || re.Op == syntax.OpBeginText {
		return true
	}
	return slices.ContainsFunc(re.Sub, beginsLine)
}
