package inbox

import (
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// Classification runs about a hundred regexps over each reply, and Go's
// regexps cost tens of nanoseconds per byte of text. Most of them cannot
// match a given reply, which a literal test shows far more cheaply: every
// match of `\b(happy|glad) to (publish|have)\b` contains "happy to " or
// "glad to ". Each phrase rule carries such tests, derived from its
// pattern, and a reply is scanned once for every literal of every rule
// (Aho-Corasick); a rule's regexp runs only when its tests pass. The tests
// are necessary conditions of a match, so they never change an answer.

// A phrase rule is a regexp over normalized (lower-cased) text with its
// prefilter: clauses of literal ids, each of which must have one literal
// present in the text.
//
// When the pattern starts with \b and its matches are short, finder runs
// the regexp only where a match can start (see startfind.go); nil for other
// patterns.
type phraseRule struct {
	re      *regexp.Regexp
	clauses [][]int
	finder  *startFinder
}

func rule(pattern string) phraseRule {
	return phraseRule{
		re: regexp.MustCompile(pattern), clauses: phraseLits.register(analyzer{}.clauses(parseSimple(pattern))),
		finder: newStartFinder(pattern),
	}
}

// parseSimple is the simplified syntax tree of a rule's pattern, which the
// literal analysis reads.
func parseSimple(pattern string) *syntax.Regexp {
	p, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		panic(err)
	}
	return p.Simplify()
}

// ruleWith is rule with the literals, one of which every match contains,
// given by the author.
func ruleWith(pattern string, lits ...string) phraseRule {
	return phraseRule{re: regexp.MustCompile(pattern), clauses: phraseLits.register([][]string{lits}), finder: newStartFinder(pattern)}
}

// ruleAlso is rule with one more literal test, given by the author: one of
// lits is in every match. It is for patterns whose derived tests are met
// by most texts.
func ruleAlso(pattern string, lits ...string) phraseRule {
	r := rule(pattern)
	r.clauses = append(r.clauses, phraseLits.register([][]string{lits})...)
	return r
}

// digitsBefore is every digit followed by one of suffixes.
func digitsBefore(suffixes ...string) []string {
	var out []string
	for d := '0'; d <= '9'; d++ {
		for _, s := range suffixes {
			out = append(out, string(d)+s)
		}
	}
	return out
}

// digitsAfter is each of prefixes followed by every digit.
func digitsAfter(prefixes ...string) []string {
	var out []string
	for _, p := range prefixes {
		for d := '0'; d <= '9'; d++ {
			out = append(out, p+string(d))
		}
	}
	return out
}

// scanned is a text with the set of phrase literals present in it.
type scanned struct {
	text  string
	found []uint64
	// starts and white are what the rules' finders read (wordStarts),
	// found at the first need.
	starts []int
	white  int
}

func (s *scanned) wordStarts() ([]int, int) {
	if s.starts == nil {
		s.starts, s.white = wordStarts(s.text)
	}
	return s.starts, s.white
}

func scan(text string) *scanned {
	return &scanned{text: text, found: phraseLits.scan(text)}
}

// mayMatch reports whether every clause of the rule has a literal in the
// text.
func (r phraseRule) mayMatch(s *scanned) bool {
	// Every rule is tested on every reply: a plain loop, no closure.
	for _, c := range r.clauses {
		ok := false
		for _, id := range c {
			if s.found[id>>6]&(1<<(id&63)) != 0 {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

func (r phraseRule) MatchString(s *scanned) bool {
	if !r.mayMatch(s) {
		return false
	}
	if r.finder == nil {
		return r.re.MatchString(s.text)
	}
	starts, white := s.wordStarts()
	return r.finder.match(r.re, s.text, starts, white)
}

func (r phraseRule) FindStringIndex(s *scanned) []int {
	if m := r.FindAllStringSubmatchIndex(s, 1); len(m) > 0 {
		return m[0][:2]
	}
	return nil
}

func (r phraseRule) FindAllStringIndex(s *scanned, n int) [][]int {
	m := r.FindAllStringSubmatchIndex(s, n)
	for i := range m {
		m[i] = m[i][:2]
	}
	return m
}

func (r phraseRule) FindAllStringSubmatchIndex(s *scanned, n int) [][]int {
	if !r.mayMatch(s) {
		return nil
	}
	if r.finder == nil {
		return r.re.FindAllStringSubmatchIndex(s.text, n)
	}
	starts, white := s.wordStarts()
	return r.finder.findAll(r.re, s.text, n, starts, white)
}

// maxLitSet bounds the sets the analysis builds: a finite language larger
// than this is treated as unknown.
const maxLitSet = 64

// litInfo is what the analysis knows of a sub-expression: exact is the
// finite set of strings it matches (nil when infinite, too large or
// unknown; it may hold ""), need a set of non-empty strings one of which
// every match contains (nil when unknown).
type litInfo struct {
	exact []string
	need  []string
}

func (li litInfo) needOrExact() []string {
	if li.need != nil {
		return li.need
	}
	if li.exact != nil && !slices.Contains(li.exact, "") {
		return minimalSet(li.exact)
	}
	return nil
}

// analyzer derives literal tests from a parsed regexp. The parser factors
// alternations ("mar|may" becomes "ma[ry]"), so literals are rebuilt from
// the finite languages of sub-expressions rather than read off literal
// nodes. With fold set, the tests are for text folded by foldString: every
// literal is folded, case-insensitive ones included; without it,
// case-insensitive literals give no test.
type analyzer struct{ fold bool }

func (a analyzer) analyze(re *syntax.Regexp) litInfo {
	switch re.Op {
	case syntax.OpLiteral:
		if re.Flags&syntax.FoldCase != 0 && !a.fold {
			return litInfo{}
		}
		s := string(re.Rune)
		if a.fold {
			s = foldString(s)
		}
		return litInfo{exact: []string{s}, need: []string{s}}
	case syntax.OpCharClass:
		var set []string
		for i := 0; i+1 < len(re.Rune); i += 2 {
			lo, hi := re.Rune[i], re.Rune[i+1]
			if int(hi-lo)+len(set) >= 16 {
				return litInfo{}
			}
			for c := lo; c <= hi; c++ {
				f := c
				if a.fold {
					f = foldRune(c)
				}
				set = union(set, []string{string(f)})
			}
		}
		if len(set) == 0 {
			return litInfo{}
		}
		return litInfo{exact: set, need: set}
	case syntax.OpEmptyMatch, syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText, syntax.OpEndText,
		syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		return litInfo{exact: []string{""}}
	case syntax.OpCapture:
		return a.analyze(re.Sub[0])
	case syntax.OpQuest:
		e := a.analyze(re.Sub[0]).exact
		if e == nil {
			return litInfo{}
		}
		return litInfo{exact: union(e, []string{""})}
	case syntax.OpPlus:
		return litInfo{need: a.analyze(re.Sub[0]).needOrExact()}
	case syntax.OpRepeat:
		if re.Min >= 1 {
			return litInfo{need: a.analyze(re.Sub[0]).needOrExact()}
		}
		return litInfo{}
	case syntax.OpConcat:
		infos := make([]litInfo, len(re.Sub))
		for i, s := range re.Sub {
			infos[i] = a.analyze(s)
		}
		var best []string
		for _, set := range concatSets(infos) {
			if better(set, best) {
				best = set
			}
		}
		exact := []string{""}
		for _, li := range infos {
			if exact = cross(exact, li.exact); exact == nil {
				break
			}
		}
		return litInfo{exact: exact, need: best}
	case syntax.OpAlternate:
		var exact, need []string
		exactOK, needOK := true, true
		for _, sub := range re.Sub {
			li := a.analyze(sub)
			if exactOK && li.exact != nil {
				exact = union(exact, li.exact)
				exactOK = len(exact) <= maxLitSet
			} else {
				exactOK = false
			}
			if n := li.needOrExact(); needOK && n != nil {
				need = union(need, n)
			} else {
				needOK = false
			}
		}
		out := litInfo{}
		if exactOK {
			out.exact = exact
		}
		if needOK {
			out.need = minimalSet(need)
		}
		return out
	}
	return litInfo{}
}

// concatSets are the sets a match of a concatenation must contain one of:
// each child's, and the strings each run of adjacent children of finite
// language can match together.
func concatSets(infos []litInfo) [][]string {
	var out [][]string
	add := func(set []string) {
		if set != nil && !slices.Contains(set, "") {
			out = append(out, minimalSet(set))
		}
	}
	for i := range infos {
		add(infos[i].needOrExact())
		run := []string{""}
		for j := i; j < len(infos) && infos[j].exact != nil; j++ {
			if run = cross(run, infos[j].exact); run == nil {
				break
			}
			if j > i {
				add(run)
			}
		}
	}
	return out
}

// maxClauses bounds the tests of one rule: the most selective are kept.
const maxClauses = 3

// clauses are the literal tests of a whole pattern: for a concatenation,
// several sets that must each have a literal in the text.
func (a analyzer) clauses(re *syntax.Regexp) [][]string {
	for re.Op == syntax.OpCapture {
		re = re.Sub[0]
	}
	var sets [][]string
	if re.Op == syntax.OpConcat {
		infos := make([]litInfo, len(re.Sub))
		for i, s := range re.Sub {
			infos[i] = a.analyze(s)
		}
		sets = concatSets(infos)
	} else if n := a.analyze(re).needOrExact(); n != nil {
		sets = [][]string{n}
	}
	slices.SortStableFunc(sets, func(x, y []string) int {
		switch {
		case better(x, y):
			return -1
		case better(y, x):
			return 1
		}
		return 0
	})
	var out [][]string
	for _, s := range sets {
		if len(out) < maxClauses && !slices.ContainsFunc(out, func(o []string) bool { return slices.Equal(o, s) }) {
			out = append(out, s)
		}
	}
	return out
}

// better prefers the set whose shortest string is longer (more selective,
// up to eight bytes), then the smaller set.
func better(a, b []string) bool {
	if b == nil {
		return a != nil
	}
	if a == nil {
		return false
	}
	la, lb := min(8, shortest(a)), min(8, shortest(b))
	if la != lb {
		return la > lb
	}
	return len(a) < len(b)
}

func shortest(set []string) int {
	n := -1
	for _, s := range set {
		if n < 0 || len(s) < n {
			n = len(s)
		}
	}
	return n
}

func cross(a, b []string) []string {
	if a == nil || b == nil || len(a)*len(b) > maxLitSet {
		return nil
	}
	out := make([]string, 0, len(a)*len(b))
	for _, x := range a {
		for _, y := range b {
			out = append(out, x+y)
		}
	}
	return union(nil, out)
}

func union(a, b []string) []string {
	out := slices.Clone(a)
	for _, s := range b {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// minimalSet drops strings that contain another of the set: a text holding
// the longer one holds the shorter too.
func minimalSet(set []string) []string {
	var out []string
	for i, s := range set {
		redundant := false
		for j, t := range set {
			if (t != s && strings.Contains(s, t)) || (t == s && j < i) {
				redundant = true
				break
			}
		}
		if !redundant {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return out
}

// litIndex finds which of a set of literals occur in a text in one pass
// (an Aho-Corasick automaton over bytes).
type litIndex struct {
	mu   sync.Mutex
	ids  map[string]int
	lits []string
	once sync.Once
	// The automaton: bytes map to classes (bytes of no literal share class
	// 0); delta is the transition table, out the literals ending at each
	// state.
	class  [256]uint8
	nclass int
	delta  []int32
	out    [][]int32
	// step is delta as scan reads it: indexed by a state's row (its number
	// times nclass) plus a class, it holds the target's row, negated when
	// literals end at the target. Most bytes end no literal, and then a
	// step is two loads and no multiplication.
	step []int32
}

// phraseLits holds the literals of every phrase rule. Rules register at
// package initialisation; the automaton is built at the first scan.
var phraseLits = &litIndex{ids: map[string]int{}}

func (x *litIndex) register(sets [][]string) [][]int {
	x.mu.Lock()
	defer x.mu.Unlock()
	out := make([][]int, 0, len(sets))
	for _, set := range sets {
		if len(set) == 0 {
			continue
		}
		ids := make([]int, 0, len(set))
		for _, l := range set {
			if l == "" {
				// Every text holds it, and scan's marking of the states
				// where literals end cannot mark the start state.
				panic("prefilter: empty literal")
			}
			id, ok := x.ids[l]
			if !ok {
				id = len(x.lits)
				x.ids[l] = id
				x.lits = append(x.lits, l)
			}
			ids = append(ids, id)
		}
		out = append(out, ids)
	}
	return out
}

func (x *litIndex) build() {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.nclass = 1
	for _, l := range x.lits {
		for i := 0; i < len(l); i++ {
			if x.class[l[i]] == 0 {
				x.class[l[i]] = uint8(x.nclass) //nolint:gosec // the literals are fixed ASCII words: far fewer than 255 distinct bytes
				x.nclass++
			}
		}
	}
	nc := x.nclass
	// The trie; -1 is no edge.
	next := []int32{}
	newState := func() int32 {
		for range nc {
			next = append(next, -1)
		}
		x.out = append(x.out, nil)
		return int32(len(x.out) - 1) //nolint:gosec // a few thousand states at most: the fixed literals' total length
	}
	newState()
	nc32 := int32(nc) //nolint:gosec // at most 256 byte classes
	for id, l := range x.lits {
		s := int32(0)
		for i := 0; i < len(l); i++ {
			c := int32(x.class[l[i]])
			if next[s*nc32+c] < 0 {
				t := newState()
				next[s*nc32+c] = t
			}
			s = next[s*nc32+c]
		}
		x.out[s] = append(x.out[s], int32(id))
	}
	// Breadth first: fail links, full transitions, inherited outputs.
	fail := make([]int32, len(x.out))
	x.delta = make([]int32, len(next))
	queue := []int32{}
	for c := range nc {
		if t := next[c]; t > 0 {
			x.delta[c] = t
			queue = append(queue, t)
		}
	}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		x.out[s] = append(x.out[s], x.out[fail[s]]...)
		for c := range nc32 {
			t := next[s*nc32+c]
			if t < 0 {
				x.delta[s*int32(nc)+c] = x.delta[fail[s]*int32(nc)+c]
				continue
			}
			fail[t] = x.delta[fail[s]*int32(nc)+c]
			x.delta[s*int32(nc)+c] = t
			queue = append(queue, t)
		}
	}
	x.step = make([]int32, len(x.delta))
	for i, t := range x.delta {
		x.step[i] = t * nc32
		if len(x.out[t]) > 0 {
			x.step[i] = -x.step[i]
		}
	}
}

// scan answers the set of literals present in text, as a bitset over their
// ids.
func (x *litIndex) scan(text string) []uint64 {
	x.once.Do(x.build)
	found := make([]uint64, (len(x.lits)+63)/64)
	nc := int32(x.nclass) //nolint:gosec // at most 256 byte classes
	row := int32(0)
	for i := 0; i < len(text); i++ {
		t := x.step[row+int32(x.class[text[i]])]
		if t < 0 {
			t = -t
			for _, id := range x.out[t/nc] {
				found[id>>6] |= 1 << (id & 63)
			}
		}
		row = t
	}
	return found
}

// foldRune maps every rune of a simple case-folding orbit (the runes a
// case-insensitive regexp treats as equal: k, K and the Kelvin sign) to
// one of them: the ASCII lower-case letter when there is one.
func foldRune(r rune) rune {
	if r < utf8.RuneSelf {
		if 'A' <= r && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}
	m := r
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		m = min(m, f)
	}
	if 'A' <= m && m <= 'Z' {
		m += 'a' - 'A'
	}
	return m
}

// foldString folds every rune of s (invalid bytes read as U+FFFD, as the
// regexp package reads them).
func foldString(s string) string {
	simple := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= utf8.RuneSelf || ('A' <= c && c <= 'Z') {
			simple = false
			break
		}
	}
	if simple {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		b.WriteRune(foldRune(r))
	}
	return b.String()
}

// A foldRule is a case-insensitive alternation, (?i)(a|b|...), whose
// MatchString is answered alternative by alternative: an alternative of
// finite language made of case-folded literals matches exactly when the
// folded text contains one of its strings; any other runs its regexp,
// after a literal test on the folded text.
//
// The literal tests of all alternatives are answered by one scan of the
// folded text (an automaton of their literals), not a search of the text
// for each literal: the bounce patterns have some sixty.
type foldRule struct {
	alts []foldAlt
	lits *litIndex
	// tests are the ids of each alternative's literals in lits: for one of
	// exact language, a single clause of its strings; for others, its
	// clauses.
	tests [][][]int
}

// A foldAlt matches when its folded text contains one of lits or, without
// lits, when the folded text has a literal of every clause and re matches
// the text.
type foldAlt struct {
	lits    []string // the whole folded language, when exact
	re      *regexp.Regexp
	clauses [][]string
	// match, when set, answers for re without it (same answers).
	match func(string) bool
}

// MatchString reports whether the alternative matches text; folded is
// foldString(text).
func (a foldAlt) MatchString(text, folded string) bool {
	if a.re == nil {
		return containsAny(folded, a.lits)
	}
	for _, c := range a.clauses {
		if !containsAny(folded, c) {
			return false
		}
	}
	if a.match != nil {
		return a.match(text)
	}
	return a.re.MatchString(text)
}

func containsAny(s string, lits []string) bool {
	return slices.ContainsFunc(lits, func(l string) bool { return strings.Contains(s, l) })
}

func foldRuleOf(pattern string) foldRule {
	p := parseSimple(pattern)
	for p.Op == syntax.OpCapture {
		p = p.Sub[0]
	}
	subs := []*syntax.Regexp{p}
	if p.Op == syntax.OpAlternate {
		subs = p.Sub
	}
	r := foldRule{lits: &litIndex{ids: map[string]int{}}}
	for _, sub := range subs {
		if lang, ok := pureLanguage(sub); ok && !slices.Contains(lang, "") {
			r.alts = append(r.alts, foldAlt{lits: minimalSet(lang)})
			r.tests = append(r.tests, r.lits.register([][]string{r.alts[len(r.alts)-1].lits}))
			continue
		}
		a := foldAlt{re: regexp.MustCompile(sub.String()), clauses: analyzer{fold: true}.clauses(sub)}
		if slices.ContainsFunc(a.clauses, func(c []string) bool { return len(c) == 0 }) {
			// register drops empty clauses, which no text passes.
			panic("prefilter: empty clause in " + pattern)
		}
		r.alts = append(r.alts, a)
		r.tests = append(r.tests, r.lits.register(a.clauses))
	}
	return r
}

// MatchString reports whether the regexp matches text; folded is
// foldString(text). It answers what the alternatives' MatchString would,
// in the same order.
func (r foldRule) MatchString(text, folded string) bool {
	found := r.lits.scan(folded)
	has := func(id int) bool { return found[id>>6]&(1<<(id&63)) != 0 }
	for i, a := range r.alts {
		passed := true
		for _, c := range r.tests[i] {
			if !slices.ContainsFunc(c, has) {
				passed = false
				break
			}
		}
		if passed && (a.re == nil || a.re.MatchString(text)) {
			return true
		}
	}
	return false
}

// pureLanguage answers the folded finite language of re when matching re
// anywhere in a text is exactly the folded text containing one of its
// strings: only literals and character classes that a case-insensitive
// match treats by whole folding orbits, no assertions.
func pureLanguage(re *syntax.Regexp) ([]string, bool) {
	switch re.Op {
	case syntax.OpLiteral:
		for _, r := range re.Rune {
			if re.Flags&syntax.FoldCase == 0 && unicode.SimpleFold(r) != r {
				return nil, false // a case-sensitive letter
			}
		}
		return []string{foldString(string(re.Rune))}, true
	case syntax.OpCharClass:
		var set []string
		for i := 0; i+1 < len(re.Rune); i += 2 {
			lo, hi := re.Rune[i], re.Rune[i+1]
			if hi-lo > 16 {
				return nil, false
			}
			for c := lo; c <= hi; c++ {
				// The class must hold c's whole orbit.
				for f := unicode.SimpleFold(c); f != c; f = unicode.SimpleFold(f) {
					if !inClass(re.Rune, f) {
						return nil, false
					}
				}
				set = union(set, []string{string(foldRune(c))})
			}
		}
		return set, len(set) > 0
	case syntax.OpCapture:
		return pureLanguage(re.Sub[0])
	case syntax.OpEmptyMatch:
		return []string{""}, true
	case syntax.OpQuest:
		l, ok := pureLanguage(re.Sub[0])
		return union(l, []string{""}), ok
	case syntax.OpConcat:
		out := []string{""}
		for _, s := range re.Sub {
			l, ok := pureLanguage(s)
			if !ok {
				return nil, false
			}
			if out = cross(out, l); out == nil {
				return nil, false
			}
		}
		return out, true
	case syntax.OpAlternate:
		var out []string
		for _, s := range re.Sub {
			l, ok := pureLanguage(s)
			if !ok {
				return nil, false
			}
			if out = union(out, l); len(out) > maxLitSet {
				return nil, false
			}
		}
		return out, true
	}
	return nil, false
}

func inClass(ranges []rune, r rune) bool {
	for i := 0; i+1 < len(ranges); i += 2 {
		if ranges[i] <= r && r <= ranges[i+1] {
			return true
		}
	}
	return false
}
