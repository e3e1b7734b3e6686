package inbox

import (
	"context"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/backlinkoutreach/outreach/models"
)

// Result is the classification of one message.
type Result struct {
	// Tag is one of models.ReplyTags.
	Tag string
	// BounceKind is hard or soft for a failed delivery, empty for other
	// tags and for delivery reports that report no failure.
	BounceKind string
	// BounceCode is the status code of a bounce (5.1.1, or 550).
	BounceCode string
	// BounceRecipient is the address that failed, when the bounce names it.
	BounceRecipient string
	// Until is the out-of-office return time; nil when none was stated.
	Until *time.Time
	// By names the classifier that decided: rules or llm.
	By string
	// Rule says which signal decided, for logs and debugging.
	Rule string
}

// Classifier sorts a parsed message into a tag.
type Classifier interface {
	Classify(ctx context.Context, m *Message) (Result, error)
}

// Rules is the built-in classifier: header signals first (delivery reports,
// automatic replies), then phrase rules over what the sender wrote (the
// quoted history and signature are already stripped). It is deterministic
// and never fails.
type Rules struct{}

var _ Classifier = Rules{}

// Classify implements Classifier.
func (Rules) Classify(_ context.Context, m *Message) (Result, error) {
	return classifyRules(m), nil
}

// ClassifyRules is Rules.Classify without the context.
func ClassifyRules(m *Message) Result { return classifyRules(m) }

func classifyRules(m *Message) Result {
	if r, ok := bounceResult(m); ok {
		return r
	}
	text := normalizePhrases(m.Reply)
	subject := normalizePhrases(m.Subject)
	if unsubscribeSubject.MatchString(subject) {
		// Whatever the body and headers: the message a List-Unsubscribe
		// mailto link makes is often generated (Gmail marks it
		// Auto-Submitted and writes a fixed text) or empty.
		return Result{Tag: models.ReplyUnsubscribe, By: "rules", Rule: "unsubscribe subject"}
	}
	if m.Signals.Automatic() || autoSubject.MatchString(subject) || m.Signals.ReportType == "disposition-notification" {
		return oooResult(m, "header")
	}
	// The signals are read in the order they decide, so a reply stops
	// costing regexps as soon as its tag is known.
	// Referral phrases ("I'll pass this on") would read as refusals ("I'll
	// pass"): blanked out, and remembered.
	sc, referral := without(referralRules, scan(text))
	sc, _ = without(notRefusalRules, sc)
	if anyMatch(unsubRules, sc) {
		return Result{Tag: models.ReplyUnsubscribe, By: "rules", Rule: "unsubscribe phrase"}
	}
	if anyMatch(payAmountRules, sc) {
		// An amount of money in a reply to a pitch is a price.
		return Result{Tag: models.ReplyAsksPayment, By: "rules", Rule: "price"}
	}
	interest := -1
	interested := func() int {
		if interest < 0 {
			interest = interestScore(sc)
		}
		return interest
	}
	// A refusal stands unless acceptances worth 3 outweigh it; a phrase
	// that may be a condition of an acceptance ("we don't allow dofollow
	// links", "we're all set") gives way to one strong acceptance.
	offer, condition := negatedTaking(sc)
	if (offer || anyMatch(notInterestedRules, sc)) && interested() < 3 ||
		(condition || anyMatch(weakRefusalRules, sc)) && interested() < 2 {
		return Result{Tag: models.ReplyNotInterested, By: "rules", Rule: "refusal"}
	}
	if anyUnnegated(payWordRules, sc) {
		return Result{Tag: models.ReplyAsksPayment, By: "rules", Rule: "payment word"}
	}
	if (referral || anyMatch(hedgeRules, sc)) && interested() < 2 {
		return Result{Tag: models.ReplyNeutral, By: "rules", Rule: "referral or hedge"}
	}
	if interested() > 0 {
		return Result{Tag: models.ReplyInterested, By: "rules", Rule: "acceptance"}
	}
	if anyMatch(oooRules, sc) {
		return oooResult(m, "away phrase")
	}
	return Result{Tag: models.ReplyNeutral, By: "rules", Rule: "default"}
}

func oooResult(m *Message, rule string) Result {
	r := Result{Tag: models.ReplyOutOfOffice, By: "rules", Rule: rule}
	if t, ok := MessageReturnDate(m); ok {
		r.Until = &t
	}
	return r
}

// bounceResult recognises delivery reports: an RFC 3464 status part, or a
// bounce written as plain text.
func bounceResult(m *Message) (Result, bool) {
	if m.DSN != nil && len(m.DSN.Recipients) > 0 {
		rcpt, kind, ok := m.DSN.Failure()
		if !ok {
			// Every recipient was delivered or relayed: a report, not a
			// failure. Stored as a bounce with no kind, it has no effect.
			return Result{Tag: models.ReplyBounce, By: "rules", Rule: "delivery report without failure"}, true
		}
		code := rcpt.Status
		if code == "" {
			code = smtpRe.FindString(rcpt.Diagnostic)
		}
		return Result{
			Tag: models.ReplyBounce, BounceKind: kind, BounceCode: code, BounceRecipient: rcpt.Recipient,
			By: "rules", Rule: "delivery status notification",
		}, true
	}
	if kind, code, rcpt, ok := plainBounce(m); ok {
		return Result{
			Tag: models.ReplyBounce, BounceKind: kind, BounceCode: code, BounceRecipient: rcpt,
			By: "rules", Rule: "bounce text",
		}, true
	}
	if m.Signals.ReportType == "delivery-status" {
		// A report whose status part could not be read: a failure of
		// unknown kind is treated as permanent only when a 5xx appears.
		kind := BounceSoft
		code := statusCode(m.Text)
		if strings.HasPrefix(code, "5") {
			kind = BounceHard
		}
		return Result{
			Tag: models.ReplyBounce, BounceKind: kind, BounceCode: code, BounceRecipient: failedAddress(m),
			By: "rules", Rule: "delivery report",
		}, true
	}
	return Result{}, false
}

// Subjects of automatic replies in the common clients and languages.
var autoSubject = regexp.MustCompile(`^(automatic reply|auto[- ]?reply|autoreply|auto:|out of (the )?office|ooo\b|away\b|away from|on leave|on vacation|on holiday|abwesenheit|automatische antwort|réponse automatique|respuesta automática|risposta automatica|automatisch antwoord)`)

// unsubscribeSubject matches a subject that is only a request to be taken
// off the list, as sent through the mailto link of every e-mail's
// List-Unsubscribe header (<mailto:...?subject=unsubscribe>), possibly
// behind reply or forward prefixes.
var unsubscribeSubject = regexp.MustCompile(`^((re|fwd?|aw|sv|tr|wg) ?: ?)*\[? ?(unsubscribe( me)?|remove me|opt[- ]?out)[ .!\]]*$`)

// normalizePhrases lower-cases text, folds typographic quotes and dashes,
// and joins the lines of a paragraph (mail is wrapped at ~76 columns, which
// would split phrases), so one pattern covers what different clients
// produce. Paragraphs stay on separate lines.
//
// It runs on every reply, so it is one pass writing one string. What it
// writes is what strings.ToLower, the folding of quotes and dashes,
// splitting at "\n\n" and joining strings.Fields of each paragraph with
// single spaces would: invalid UTF-8 comes out as U+FFFD, as ToLower
// writes it, and white space is what Fields splits at (unicode.IsSpace;
// tabs and no-break spaces are white space already).
func normalizePhrases(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	// word is set once the paragraph has a word, space when white space
	// followed it: a space is written only between two words.
	word, space := false, false
	for i := 0; i < len(s); {
		c := s[i]
		if c == '\n' && i+1 < len(s) && s[i+1] == '\n' {
			b.WriteByte('\n')
			word, space = false, false
			i += 2
			continue
		}
		if c < utf8.RuneSelf {
			i++
			if asciiSpace(c) {
				space = word
				continue
			}
			if space {
				b.WriteByte(' ')
				space = false
			}
			b.WriteByte(lowerASCII(c))
			word = true
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		i += n
		r = unicode.ToLower(r)
		if unicode.IsSpace(r) {
			space = word
			continue
		}
		switch r {
		case '\u2019', '\u2018':
			r = '\''
		case '\u201c', '\u201d':
			r = '"'
		case '\u2013', '\u2014':
			r = '-'
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
		word = true
	}
	return b.String()
}

// asciiSpace is unicode.IsSpace for ASCII bytes.
func asciiSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

func rx(s string) phraseRule { return rule(s) }

var (
	// An unsubscribe request names whom to stop mailing (me, us, an
	// address) or what to stop (these e-mails, the follow-ups): "remove",
	// "opt out" and "stop" about anything else (a link in the draft, the
	// author bio, one's own writing) are edits of an accepted post.
	unsubRules = []phraseRule{
		rx(`\bunsubscribe\b`),
		rx(`\bopt (me|us|(this|my|our|the) (e-?mail( address)?|address|inbox|account|domain)) out\b`),
		rx(`\bopt(ed|ing)?[- ]?out of (your |these |this |those |all |any |the )?(future |further |more |marketing |promotional |outreach |mailing |e-?mail |contact )?(e-?mails?|mails?|mailings?|lists?|messages|communications?|correspondence|outreach|contact|follow[- ]?ups?|sequences?|campaigns?)\b`),
		rx(`\b(i|we|i'd|we'd|i'll|we'll|i'm|we're|please|kindly|want to|wish to|like to) (opt|opting)[- ]?out( now| please| immediately)?([.!,;]|$)`),
		rx(`(^|\n|[.!?] )(please )?opt[- ]?out( please| now| immediately)?([.!,;]|$)`),
		rx(`\bopt[- ]?out request\b`),
		rx(`\bremove (me|us|myself|ourselves|(my|our|this|that|the) (e-?mail( address)?|address|contact details|details|inbox|domain)|(my|our) (name|company|business|site|website)|\S+@\S+)\b[^\n]{0,60}\b(from|off)\b[^.\n]{0,30}\b(list|lists|database|mailing|follow[- ]?ups?|e-?mails?|contacts?|outreach|system|crm|records|communications?|sequences?|campaigns?)\b`),
		rx(`\bremove from (your|all|any)\b[^.\n]{0,30}\b(list|lists|database|mailing|follow[- ]?ups?|e-?mails|contacts|outreach)\b`),
		rx(`\bremove (me|us)( please| now| immediately| asap)?([.!,;]|$)`),
		rx(`\btake (me|us|(my|our|this|that) (e-?mail( address)?|address|inbox|domain)) off\b`),
		rx(`\btake (my|our|this|that) [a-z-]+( [a-z-]+)? off (your|all|any)\b[^.\n]{0,20}\b(list|lists|database|system)\b`),
		rx(`\bstop (e-?mailing|contacting|spamming|messaging|bothering|pestering|harassing)\b`),
		rx(`\bstop (sending|writing) (me|us|to (me|us|this))\b`),
		rx(`\bstop (sending|writing)( (me|us))?( (these|those|this|your|any|more|further|such|all|the|unsolicited))?( (kinds? of|sorts? of|types? of))? (e-?mails?|messages?|mails?|pitch(es)?|requests|offers|follow[- ]?ups?|spam|newsletters?|outreach|junk)\b`),
		rx(`\b(do not|don't|dont|never|didn't|didnt|did not)( ever)? (e-?mail|contact|write to|message|spam) (me|us|this|any|again)\b`),
		rx(`\b(do not|don't|dont|never|didn't|didnt|did not)( ever)? send( (me|us))?( (any ?more|any|further|more|these|those|such|your|unsolicited))? (e-?mails?|messages?|mails?|pitch(es)?|requests|offers|follow[- ]?ups?|spam|newsletters?|outreach|junk)\b`),
		rx(`\b(do not|don't|dont|never|didn't|didnt|did not)( ever)? send (me|us)( anything)? (again|any ?more)\b`),
		rx(`\b(do not|don't|dont|never|didn't|didnt|did not)( ever)? (e-?mail|contact|write( to)?|message|reach out( to)?|get in touch( with)?|bother|spam|text|call|pester)( (me|us|this (e-?mail( address)?|address|inbox|account)|(my|our) (e-?mail( address)?|address|inbox|team|staff|office|company|colleagues?)))? (ever )?(again|any ?more|in (the )?future|going forward)\b`),
		rx(`\b(do not|don't|dont|never)( ever)? reach out( to (me|us))?( again)?([.!]|$)`),
		rx(`\brefrain from (e-?mailing|contacting|messaging|spamming|reaching out|writing to (me|us|this)|sending (me|us|any|further|more|these|such|unsolicited|e-?mails|messages))\b`),
		rx(`\bno more (e-?mails|messages|follow[- ]?ups)\b`),
		rx(`\b(don't|dont|do not|didn't|didnt|did not) (want|wish) to (receive|get|hear)\b`),
		rx(`\b(don't|dont|do not|didn't|didnt|did not) (want|wish) to be (contacted|e-?mailed|messaged|mailed|spammed)\b`),
		rx(`\b(lose|forget|delete|erase|purge|scrub|wipe) (my|our) (personal )?(e-?mail address(es)?|address(es)?|contact (details|info(rmation)?)|number|details|data|information|contact)\b`),
		rx(`\blose (my|our) e-?mail\b`),
		rx(`\b(this|that|it|(this|that|your|these|those|the) (e-?mails?|messages?|pitch(es)?|outreach|mails?))( is|'s| are)( (just|pure|total|obviously|clearly|blatant|unsolicited|basically|nothing but|plain))? spam([^-a-z]|$)`),
		rx(`\b(you're|you are) (a |such a |an obvious )?spamm(er|ing)\b`),
		rx(`\b(i've|i have|i'll|i will|i'm|i am|we've|we have|we'll|we will)( already)? (report|reported|reporting|mark|marked|marking|flag|flagged|flagging) (this|you|it|your [a-z-]+|these [a-z-]+|all [a-z-]+)( [a-z-]+)? (as|for) spam\b`),
		rx(`^\s*(please )?(stop|remove|unsubscribe|opt[- ]?out|spam)( please)?[.!]*\s*$`),
		rx(`\breport (this|you|it) (as|for) spam\b`),
	}
	notInterestedRules = []phraseRule{
		rx(`\bnot interested\b`),
		rx(`\bno interest\b`),
		rx(`\bno,? thanks?\b`),
		rx(`\bno,? thank you\b`),
		rx(`\bthanks,? but no\b`),
		rx(`\b(we'll|we will|i'll|i will|have to|going to|gonna|i'm going to|we're going to) (pass|decline|say no)\b`),
		rx(`(^|[.!] *)pass[.!]?\s*$`),
		// "Pass on this" declines; "pass this on" and "pass on this to
		// the editor" refer, and are blanked out before (referralRules).
		rx(`\b(pass|passing) on (this|it|that|the (offer|opportunity|idea|pitch|proposal)|your (offer|pitch|proposal|idea|kind offer|article|post|suggestion))\b`),
		rx(`\bdecline\b`),
		rx(`\bnot (a |the )?(good |right |great )?fit\b`),
		rx(`\bnot (for us|for me)\b`),
		rx(`\b(isn't|is not|not) (something|anything) (we|i)('d| would| will| can)?\b`),
		rx(`\b(doesn't|does not|don't|do not) (align|fit|suit)\b`),
		rx(`\bfully booked\b`),
		rx(`\b(answer is (still )?no|it's a no|still a no)\b`),
		rx(`^\s*(no|nope)[.!]*\s*$`),
		rx(`\bnope\b`),
		rx(`\b(closed|stopped|ended|paused) (our |the |accepting |publishing )?(guest|external|contribut|submission)`),
		rx(`\bon hiatus\b`),
		rx(`\b(written|write|writes|wrote|created|produced|done|handled|create|produce|do|handle|keep it|kept) (all |all of |of )?(it |them |our content |everything |our articles |our posts )?in[- ]house\b`),
		rx(`\bin[- ]house (team|writers?|staff|editors?|editorial team|content team|copywriters?)\b[^.\n]{0,40}\b(writes?|handles?|produces?|creates?|covers?|does)\b[^.\n]{0,20}\b(all|every|everything|our content|our articles|our posts)\b`),
		rx(`\bwrite everything (myself|ourselves)\b`),
		rx(`\bwill not be (moving forward|proceeding)\b|\bnot (be )?moving forward\b`),
		rx(`\bdifferent direction\b`),
		rx(`\b(does not|doesn't) meet our\b`),
	}
	// negatedTakingRule is a negated verb of taking ("we don't accept",
	// "not in a position to take"), whose object offerObject and
	// restrictionObject read: a refusal of the offer when it is the offer
	// (guest posts, contributions, this); no refusal when it is a
	// restriction ("we don't allow more than one link", "we're not in a
	// position to pay") or a double negative ("I don't want to miss
	// this"); of anything else a condition.
	negatedTakingRule = rule(`\b` + refusalNeg + ` (currently |really |actually |be )?((in a position to |able to )?(accept|accepting|take|taking|publish|publishing|feature|featuring|consider|considering|looking for|open to|run|running|do|doing|work with|want|allow|allowing)|in a position)\b`)
	offerObject       = regexp.MustCompile(`^( on)?( (any|new|more|the|your|our|external|outside|unsolicited|third-party|such|other)){0,2}( (guest|external|outside|third[- ]party|sponsored|contribut|submission|pitch|article|piece|post|content|writer|author|freelance|link exchange|agenc|proposal|offer|collaborat|partnership|outreach)|( (this|it|that))\b)`)
	restrictionObject = regexp.MustCompile(`^( any| to)? (more than|over [0-9]|payment|pay|paying|money|dofollow|do-follow|nofollow|no-follow|affiliate|commercial|casino|gambling|crypto|adult|ai|ai-generated|duplicate|previously published|republished|links? (to|in|back)|anything too|miss|lose|pass (this|it) up|keep you waiting|delay|rush)\b`)
	// weakRefusalRules read as refusals alone, and as the conditions of an
	// acceptance beside one: "all set, send it over".
	weakRefusalRules = []phraseRule{
		rx(`\ball set\b`),
		rx(`\bwe only (publish|work with|accept) (content|writers|articles|posts)? ?(written|from|by|we've|we have|commissioned)`),
	}
	// notRefusalRules are phrases the refusals would read and that refuse
	// nothing, blanked out before the refusals are read: a confirmation
	// ("all set on our side").
	notRefusalRules = []phraseRule{
		rx(`\ball set (on|at|from) (our|my) (side|end)\b`),
	}
	payWordRules = []phraseRule{
		ruleWith(`\b(fee|fees|price|prices|pricing|rate|rates|cost|costs|charge|charges|charging|invoice|sponsored|sponsorship|media kit|rate card|price list|paypal|payment|payable|upfront|paid|pay)\b`,
			"fee", "pric", "rate", "cost", "charg", "invoice", "sponsor", "media kit", "upfront", "paid", "pay"),
		rx(`\bbudget([^-a-z]|$)`),
		rx(`\b(via|through|by|or) wise\b`),
	}
	payAmountRules = []phraseRule{
		ruleWith(`[$€£]\s?\d`, "$", "€", "£"),
		ruleWith(`\b\d[\d,.]*\s?(\$|€|£|usd|eur|euros?|gbp|dollars?|pounds?|bucks)`, "$", "€", "£", "usd", "eur", "gbp", "dollar", "pound", "buck"),
		rx(`\b(usd|eur|gbp)\s?\d`),
	}
	// Strong acceptances count 2, mild ones 1.
	interestedStrong = []phraseRule{
		rx(`\b(send|shoot|share|submit|email)( me| us)? (it|it over|over|the (draft|article|piece|post|text|outline)|your (draft|article|piece|post|text|outline|topic|ideas|pitch)|(two|three|a few|some|a couple of) (title |topic )?(ideas|topics|titles)|a (short )?(pitch|outline)|an outline|along|through)\b`),
		rx(`\bgo ahead\b`),
		rx(`\bgo for it\b`),
		rx(`\blet's (do it|go|go with|do this)\b`),
		rx(`\bcount me in\b`),
		rx(`\b(we'd|we would|i'd|i would) (love|be happy|be glad|be delighted|welcome|like to (run|publish|feature))\b`),
		rx(`\b(happy|glad|delighted|pleased) to (publish|have|take|feature|look|collaborate|accept|consider)\b`),
		rx(`\b(we are|we're|currently) (open to|accepting|happy to accept)\b`),
		rx(`\b(do |happily )?accept guest (posts|contributions|articles)\b`),
		rx(`\b(that|this|it) (works|would work|could work|sounds great|sounds good|sounds perfect)\b`),
		rx(`\bsounds (good|great|perfect|like a (great|good|nice) fit)\b`),
		rx(`\b(would be )?perfect for\b`),
		rx(`\byes please\b`),
		rx(`\b(can|could) you have it (ready|done)\b`),
		rx(`\bwhen (could|can|would) you (have|send|get)\b`),
		rx(`\bpick one\b`),
		rx(`\b(looking forward|look forward)\b`),
		rx(`\bwould (go down well|fit nicely|fit well|suit)\b`),
		rx(`\b(our|my) readers (would|will) (love|enjoy|like)\b`),
	}
	interestedMild = []phraseRule{
		rx(`(^|\n|[.!] )\s*(yes|yeah|yep|sure|absolutely|definitely|of course|ok|okay)\b`),
		rx(`\binterested\b`),
		rx(`\b(love|like) the (idea|topic|second|first|third)\b`),
		rx(`\blooks (great|good)\b`),
		rx(`\b(great|good|nice) fit\b`),
		rx(`\bsounds interesting\b`),
		rx(`\bopen to it\b`),
		rx(`\bwhat's your timeline\b`),
		rx(`\b(style guide|guidelines|contributor form|author bio|first draft|outline)\b`),
	}
	referralRules = []phraseRule{
		rx(`\b(forwarded|forwarding|forward)( on)? (this|it|your (email|message|note|pitch|request))( on| along)?\b`),
		rx(`\b(passed|passing|pass) (this|it|your (email|message|note|pitch|request))( on| along)?\b`),
		rx(`\b(passed|passing|pass) on ((this|it|that|the [a-z-]+|your [a-z-]+( [a-z-]+)?) (to|along)|your (email|message|note|request|details|info|contact details))\b`),
		rx(`\b(send|forward|direct|address) (your|the|this) (proposal|pitch|request|email|message) to\b`),
		rx(`\b(try|please) (reaching out|contact|contacting|write|writing|email|emailing) to? ?\S+@`),
		rx(`\bno longer the (editor|owner|contact|person)\b`),
		rx(`\b(i'm|i am) (the webmaster|not the editor|not the right person)\b`),
		rx(`\bdon't handle\b`),
	}
	hedgeRules = []phraseRule{
		rx(`\b(need to|have to|let me|i'll|i will|we'll) (check|run it by|discuss|ask|think|talk)\b`),
		rx(`\bhave a think\b`),
		rx(`\bnot sure( yet)?\b`),
		rx(`\bget back (in touch|to you)\b`),
		rx(`\bbefore i decide\b`),
	}
	oooRules = []phraseRule{
		rx(`\bout of (the )?office\b`),
		rx(`\bon (annual |parental |maternity |paternity |sick |medical |study )?leave\b`),
		rx(`\b(on|away on|currently on) (vacation|holiday|holidays)\b`),
		rx(`\baway from (the office|my desk|email|my email)\b`),
		rx(`\blimited (access|connectivity)\b`),
		rx(`\bno access to (my )?e-?mail`),
		rx(`\bout sick\b`),
		rx(`\bdigital detox\b`),
		rx(`\boffice is closed\b`),
		rx(`\bwon't be checking\b`),
		rx(`\b(no longer|not) check(ing)? (this|my) (inbox|email)\b`),
		rx(`\b(we've|we have) received your (message|email|request)\b`),
		rx(`\bhas been received\b`),
		rx(`\bauto(matic)?[- ]?(reply|response|responder)\b`),
		rx(`\b(will be|i'll be|i will be) back (on|in|at|after)\b`),
	}
	negationRe = regexp.MustCompile(negationPattern)
	// negationFinder runs negationRe at the starts of words only.
	negationFinder = newStartFinder(negationPattern)
)

const negationPattern = `\b(not|no|never|don't|dont|do not|doesn't|doesnt|won't|wont|cannot|can't|cant|isn't|isnt|aren't|arent|without|nor)\b[^.,;!?\n]{0,30}$`

// refusalNeg are the negations of the refusal rules' verbs ("we don't
// accept"), written with and without the apostrophe.
const refusalNeg = `(don't|dont|do not|doesn't|doesnt|does not|won't|wont|will not|cannot|can't|cant|can not|aren't|arent|are not|isn't|isnt|is not|not|no longer|never)`

// objectLen bounds the text offerObject and restrictionObject read: their
// longest match and the byte after it.
const objectLen = 64

// negatedTaking reads the negated verbs of taking (negatedTakingRule):
// offer when the object of one is the offer, condition when there is one
// whose object is neither the offer nor a restriction ("we don't want
// finance content").
func negatedTaking(text *scanned) (offer, condition bool) {
	for _, ix := range negatedTakingRule.FindAllStringIndex(text, 20) {
		object := text.text[ix[1]:min(len(text.text), ix[1]+objectLen)]
		switch {
		case offerObject.MatchString(object):
			return true, false
		case !restrictionObject.MatchString(object):
			condition = true
		}
	}
	return false, condition
}

// without blanks out the matches of rules and reports whether there was
// one.
func without(rules []phraseRule, text *scanned) (*scanned, bool) {
	found := false
	for _, re := range rules {
		if re.MatchString(text) {
			found = true
			text = scan(re.re.ReplaceAllStringFunc(text.text, func(s string) string { return strings.Repeat(" ", len(s)) }))
		}
	}
	return text, found
}

// interestScore weighs acceptances: strong ones count 2, mild ones 1.
func interestScore(text *scanned) int {
	n := 0
	for _, re := range interestedStrong {
		if matchUnnegated(re, text) {
			n += 2
		}
	}
	for _, re := range interestedMild {
		if matchUnnegated(re, text) {
			n++
		}
	}
	return n
}

func anyMatch(res []phraseRule, text *scanned) bool {
	for _, re := range res {
		if re.MatchString(text) {
			return true
		}
	}
	return false
}

func anyUnnegated(res []phraseRule, text *scanned) bool {
	for _, re := range res {
		if matchUnnegated(re, text) {
			return true
		}
	}
	return false
}

// matchUnnegated reports a match that is not governed by a negation earlier
// in the same clause ("we do not publish sponsored posts", "not a good
// fit").
//
// Most texts are decided by the first match, so the others (up to 20) are
// looked for only when it is negated.
func matchUnnegated(re phraseRule, text *scanned) bool {
	first := re.FindStringIndex(text)
	if first == nil {
		return false
	}
	if !negated(text.text, first[0]) {
		return true
	}
	for _, ix := range re.FindAllStringIndex(text, 20)[1:] {
		if !negated(text.text, ix[0]) {
			return true
		}
	}
	return false
}

// negated reports a negation in the clause before position at.
func negated(text string, at int) bool {
	return negationFinder.matchString(negationRe, text[max(0, at-40):at])
}
