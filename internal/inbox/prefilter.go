package inbox

import (
	"regexp"
	"regexp/syntax"
	"strings"
)

// A phrase rule is a regexp with a cheap prefilter: the literals one of
// which every match must contain. Most rules do not apply to a given reply,
// and strings.Contains over a few words is far cheaper than running a
// regexp, so classification checks the literals first.
type phraseRule struct {
	re   *regexp.Regexp
	lits []string // nil: no prefilter, always run the regexp
}

func rule(pattern string) phraseRule {
	re := regexp.MustCompile(pattern)
	r := phraseRule{re: re}
	if p, err := syntax.Parse(pattern, syntax.Perl); err == nil {
		r.lits = requiredLiterals(p.Simplify())
	}
	return r
}

// ruleWith is rule with the prefilter literals given, for patterns whose
// required words the automatic analysis cannot see (alternations of short
// words).
func ruleWith(pattern string, lits ...string) phraseRule {
	return phraseRule{re: regexp.MustCompile(pattern), lits: lits}
}

func rules(patterns ...string) []phraseRule {
	out := make([]phraseRule, len(patterns))
	for i, p := range patterns {
		out[i] = rule(p)
	}
	return out
}

// mayMatch reports whether text contains one of the rule's literals.
func (r phraseRule) mayMatch(text string) bool {
	if r.lits == nil {
		return true
	}
	for _, l := range r.lits {
		if strings.Contains(text, l) {
			return true
		}
	}
	return false
}

func (r phraseRule) MatchString(text string) bool { return r.mayMatch(text) && r.re.MatchString(text) }

func (r phraseRule) FindAllStringIndex(text string, n int) [][]int {
	if !r.mayMatch(text) {
		return nil
	}
	return r.re.FindAllStringIndex(text, n)
}

func (r phraseRule) FindAllStringSubmatchIndex(text string, n int) [][]int {
	if !r.mayMatch(text) {
		return nil
	}
	return r.re.FindAllStringSubmatchIndex(text, n)
}

func (r phraseRule) ReplaceAllStringFunc(text string, f func(string) string) string {
	if !r.mayMatch(text) {
		return text
	}
	return r.re.ReplaceAllStringFunc(text, f)
}

// requiredLiterals answers a set of strings one of which every match of re
// contains, or nil when it cannot tell (then the regexp always runs).
// Literals shorter than three bytes are not worth a prefilter.
func requiredLiterals(re *syntax.Regexp) []string {
	switch re.Op {
	case syntax.OpLiteral:
		if re.Flags&syntax.FoldCase != 0 {
			return nil
		}
		if s := string(re.Rune); len(s) >= 3 {
			return []string{s}
		}
		return nil
	case syntax.OpCapture:
		return requiredLiterals(re.Sub[0])
	case syntax.OpPlus:
		return requiredLiterals(re.Sub[0])
	case syntax.OpRepeat:
		if re.Min >= 1 {
			return requiredLiterals(re.Sub[0])
		}
		return nil
	case syntax.OpConcat:
		// Any child's set will do; take the one with the fewest and
		// longest literals.
		var best []string
		for _, sub := range re.Sub {
			if l := requiredLiterals(sub); l != nil && (best == nil || len(l) < len(best)) {
				best = l
			}
		}
		return best
	case syntax.OpAlternate:
		var all []string
		for _, sub := range re.Sub {
			l := requiredLiterals(sub)
			if l == nil {
				return nil
			}
			all = append(all, l...)
		}
		return all
	}
	return nil
}
