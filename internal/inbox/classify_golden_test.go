package inbox

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// The golden file pins what stripping, classification and return-date
// extraction answer today, so work on their speed cannot change an answer
// unnoticed: the labelled tests only check the tag (and a few dates and
// bounce kinds), while the golden file holds every field, the stripped text
// and inputs the labels do not reach (unstripped and upper-cased texts,
// synthetic edge cases). After a deliberate change of answers, rewrite it
// with
//
//	go test ./internal/inbox -run TestClassifyGolden -update-classify-golden
//
// and review the diff.
var updateClassifyGolden = flag.Bool("update-classify-golden", false, "rewrite testdata/classify_golden.json from the current code")

const classifyGoldenFile = "testdata/classify_golden.json"

// goldenResult is a classification with every field except By (always
// rules here).
type goldenResult struct {
	Tag             string `json:"tag"`
	BounceKind      string `json:"bounce_kind,omitempty"`
	BounceCode      string `json:"bounce_code,omitempty"`
	BounceRecipient string `json:"bounce_recipient,omitempty"`
	Until           string `json:"until,omitempty"`
	Rule            string `json:"rule"`
}

// goldenCase is the answers for one input; fields that do not apply to the
// input stay empty.
type goldenCase struct {
	Name string `json:"name"`
	// Reply is Parse(raw).Reply, for mail files.
	Reply string `json:"reply,omitempty"`
	// Strip is StripQuoted of the text: Parse(raw).Text for mail files.
	Strip string `json:"strip"`
	// Class is ClassifyRules of the message.
	Class *goldenResult `json:"classify,omitempty"`
	// ReturnDate is MessageReturnDate of the message (reply, then
	// subject), or ReturnDate of the synthetic text at several reference
	// times.
	ReturnDate []string `json:"return_date,omitempty"`
	// TextClass classifies the message as if nothing had been stripped
	// (Reply = Text), which runs the phrase rules over quoted history too.
	TextClass *goldenResult `json:"text_classify,omitempty"`
	// TextDate is ReturnDate of the whole text at the reference times.
	TextDate []string `json:"text_date,omitempty"`
	// UpperStrip is StripQuoted of the upper-cased text (case folding of
	// the history and signature lines).
	UpperStrip string `json:"upper_strip,omitempty"`
}

func goldenOf(r Result) *goldenResult {
	g := &goldenResult{Tag: r.Tag, BounceKind: r.BounceKind, BounceCode: goldenText(r.BounceCode), BounceRecipient: goldenText(r.BounceRecipient), Rule: r.Rule}
	if r.Until != nil {
		g.Until = goldenTime(*r.Until)
	}
	return g
}

// goldenText keeps text that is not valid UTF-8 byte for byte: JSON would
// turn its invalid bytes into U+FFFD.
func goldenText(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return "invalid UTF-8: " + strconv.Quote(s)
}

func goldenTime(t time.Time) string {
	name, off := t.Zone()
	return fmt.Sprintf("%s %s %d", t.Format("2006-01-02T15:04:05"), name, off)
}

// goldenRefs are the reference times synthetic texts are read at: mid
// March in New York, December (year rollover) and a zone far east of UTC.
var goldenRefs = []time.Time{
	time.Date(2025, 3, 12, 9, 0, 0, 0, time.FixedZone("EDT", -4*3600)),
	time.Date(2025, 12, 19, 8, 0, 0, 0, time.UTC),
	time.Date(2026, 2, 27, 23, 30, 0, 0, time.FixedZone("LINT", 14*3600)),
}

func messageReturnDate(m *Message) []string {
	if t, ok := MessageReturnDate(m); ok {
		return []string{goldenTime(t)}
	}
	return []string{"none"}
}

func returnDates(text string, refs ...time.Time) []string {
	out := make([]string, 0, len(refs))
	for _, ref := range refs {
		s := "none"
		if t, ok := ReturnDate(text, ref); ok {
			s = goldenTime(t)
		}
		out = append(out, s)
	}
	return out
}

// TestClassifyGolden compares the answers for the corpus, the holdout and
// the synthetic inputs with testdata/classify_golden.json.
func TestClassifyGolden(t *testing.T) {
	t.Parallel()
	got := classifyGoldenCases(t)
	if *updateClassifyGolden {
		b, err := json.MarshalIndent(got, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(classifyGoldenFile, append(b, '\n'), 0o600); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %d cases to %s", len(got), classifyGoldenFile)
		return
	}
	var want []goldenCase
	if err := json.Unmarshal(readFile(t, classifyGoldenFile), &want); err != nil {
		t.Fatalf("%s: %v", classifyGoldenFile, err)
	}
	wantBy := map[string]goldenCase{}
	for _, c := range want {
		wantBy[c.Name] = c
	}
	if len(got) != len(want) {
		t.Errorf("%d cases, the golden file has %d", len(got), len(want))
	}
	for _, g := range got {
		w, ok := wantBy[g.Name]
		if !ok {
			t.Errorf("%s: not in the golden file", g.Name)
			continue
		}
		if !reflect.DeepEqual(g, w) {
			gj, _ := json.Marshal(g)
			wj, _ := json.Marshal(w)
			t.Errorf("%s: answers changed\n got  %s\n want %s", g.Name, clip(string(gj), 2000), clip(string(wj), 2000))
		}
	}
}

func classifyGoldenCases(t *testing.T) []goldenCase {
	t.Helper()
	var cases []goldenCase
	var all []string
	for _, dir := range []string{"corpus", "holdout"} {
		files, err := filepath.Glob(filepath.Join("testdata", dir, "*.eml"))
		if err != nil || len(files) == 0 {
			t.Fatalf("%s: no mail files (%v)", dir, err)
		}
		for _, f := range files {
			m := Parse(readFile(t, f))
			all = append(all, m.Text)
			tm := *m
			tm.Reply = m.Text
			cases = append(cases, goldenCase{
				Name:       dir + "/" + filepath.Base(f),
				Reply:      goldenText(m.Reply),
				Strip:      goldenText(StripQuoted(m.Text)),
				Class:      goldenOf(ClassifyRules(m)),
				ReturnDate: messageReturnDate(m),
				TextClass:  goldenOf(ClassifyRules(&tm)),
				TextDate:   returnDates(m.Text, goldenRefs...),
				UpperStrip: goldenText(StripQuoted(strings.ToUpper(m.Text))),
			})
		}
	}
	// Every text of the corpus in one: long input, many history lines.
	long := strings.Join(all, "\n\n")
	for name, in := range syntheticInputs(long) {
		m := &Message{
			From: in.from, Subject: in.subject, Date: goldenRefs[0], Text: in.text,
			Reply: StripQuoted(in.text),
		}
		cases = append(cases, goldenCase{
			Name:       "synthetic/" + name,
			Strip:      goldenText(m.Reply),
			Class:      goldenOf(ClassifyRules(m)),
			ReturnDate: returnDates(in.text, goldenRefs...),
			UpperStrip: goldenText(StripQuoted(strings.ToUpper(in.text))),
		})
	}
	// A map iterates in random order: the file is sorted by name.
	slices.SortFunc(cases, func(a, b goldenCase) int { return strings.Compare(a.Name, b.Name) })
	return cases
}

type syntheticInput struct {
	text, subject, from string
}

// syntheticInputs are edge cases the mail files do not hold: texts at the
// length limits of the attribution patterns, many attribution-like lines,
// case folding beyond ASCII (the Kelvin sign, the long s, the dotted
// capital I, whose lower case is shorter), invalid UTF-8, HTML-ish text,
// long texts and texts cut by the 8 KiB limit of ReturnDate, and phrases
// near the limits of the negation and match-count windows.
func syntheticInputs(long string) map[string]syntheticInput {
	in := map[string]syntheticInput{}
	add := func(name, text string) { in[name] = syntheticInput{text: text} }

	// Attribution lines of every length around the 4 and 250 limits, one
	// line and wrapped over two.
	for _, n := range []int{0, 1, 2, 3, 4, 5, 100, 238, 239, 240, 241, 242, 243, 244, 245, 246, 247, 248, 249, 250, 251, 252, 260, 300} {
		add(fmt.Sprintf("attribution-%03d", n), "Yes.\n\nOn "+strings.Repeat("x", n)+" wrote:\n> q")
		add(fmt.Sprintf("attribution-wrapped-%03d", n), "Sure.\n\nOn "+strings.Repeat("y", n)+" <\nd@x.com> wrote:\n> q")
		add(fmt.Sprintf("attribution-accented-%03d", n), "Oui.\n\nLe "+strings.Repeat("é", n/2)+" a écrit :\n> q")
		add(fmt.Sprintf("attribution-schrieb-%03d", n), "Ja.\n\nAm "+strings.Repeat("z", n)+" schrieb Dana "+strings.Repeat("w", n/2)+":\n> q")
	}
	// Many lines that look like attributions and are not, then one that is.
	var many, manyEnd strings.Builder
	for i := range 300 {
		fmt.Fprintf(&many, "On day %d we wrote about it\n", i)
		fmt.Fprintf(&manyEnd, "On day %d, Dana wrote\n", i)
		if i%7 == 0 {
			fmt.Fprintf(&many, "on %d wrote: and more\nFrom the desk of %d\n", i, i)
		}
	}
	add("many-on-lines", many.String()+"Final answer: not interested.")
	add("many-on-lines-then-history", many.String()+"Final answer: yes.\nOn Tue, Dana <d@x.com> wrote:\n> pitch")
	add("many-wrote-lines", "We'd love it.\n"+manyEnd.String())
	add("many-quoted-then-answer", strings.Repeat("> quoted line\n", 400)+"\nThat works for me.")
	// History starts in every form, cased and folded every way.
	for i, l := range []string{
		"On Tue, Mar 4, 2025 at 10:12 AM Dana <d@x.com> wrote:",
		"ON TUE, MAR 4, 2025 AT 10:12 AM DANA <D@X.COM> WROTE:",
		"on tue dana wrote",
		"On Tue, \u212aelvin <k@x.com> wrote:",
		"On Tue, Dana <d@x.com> \u212aROTE:",
		"\u0130n Tue, Dana wrote:",
		"On Tue, Dana <d@x.com> wrote:   \t",
		"   On Tue, Dana wrote:",
		"On\tTue, Dana wrote:",
		"-----Original Message-----",
		"---- ORIGINAL MESSAGE ----",
		"-- Original Message --",
		"- Original Message -",
		"---------- Forwarded message ---------",
		"-- Reply Message --",
		"Begin forwarded message:",
		"BEGIN FORWARDED MESSAGE:",
		"__________",
		"_________",
		"________________________________  ",
		"Le mar. 4 mars 2025 à 10:12, Dana <d@x.com> a écrit :",
		"LE MAR. 4 MARS 2025 À 10:12, DANA <D@X.COM> A ÉCRIT :",
		"Le 4 mars, Dana a e\u0301crit :",
		"Am 04.03.2025 um 10:12 schrieb Dana <d@x.com>:",
		"AM 04.03.2025 UM 10:12 SCHRIEB DANA <D@X.COM>:",
		"Am 04.03.2025 um 10:12 \u017fchrieb Dana <d@x.com>:",
		"Am 04.03.2025 um 10:12 SCHR\u0130EB Dana <d@x.com>:",
		"El mar, 4 mar 2025 a las 10:12, Dana (<d@x.com>) escribió:",
		"EL MAR, 4 MAR 2025 A LAS 10:12, DANA ESCRIBIÓ:",
		"Op di 4 mrt 2025 om 10:12 schreef Dana <d@x.com>:",
		"Il giorno mar 4 mar 2025 alle ore 10:12 Dana <d@x.com> ha scritto:",
		"IL GIORNO MAR 4 MAR 2025 DANA HA SCRITTO:",
		"<div>On Tue, Dana wrote:</div>",
		"On Tue, Dana <d@x.com> wrote:\xff",
		"On \xff\xfe\xfd\xfc Dana wrote:",
	} {
		add(fmt.Sprintf("history-%02d", i), "Answer here, send it over.\n\n"+l+"\n> Would you be interested?\n> Dana")
		add(fmt.Sprintf("history-bottom-%02d", i), l+"\n> Would you be interested?\n\nNot for us, sorry.")
	}
	// Outlook header blocks: From then Sent/Date within four lines.
	for i, b := range []string{
		"From: Dana <d@x.com>\nSent: Tuesday\nTo: me",
		"From: Dana <d@x.com>\n\n\n\nSent: Tuesday",
		"From: Dana <d@x.com>\n\n\n\n\nSent: Tuesday",
		"*From:* Dana <d@x.com>\n*Sent:* Tuesday",
		"FROM: Dana\nDATE: Tuesday",
		"Von: Dana <d@x.com>\nGesendet: Dienstag",
		"De : Dana <d@x.com>\nEnvoyé : mardi",
		"DE: Dana\nENVOYÉ: mardi",
		"De: Dana\nEnviado: martes",
		"Van: Dana\nVerzonden: dinsdag",
		"from:Dana\nTo: x",
		"From:  \nSent: x",
		"From: Dana",
		"  From: Dana\n  Subject: pitch",
		"Fro\u212a: Dana\nSent: x",
		"From the team: Dana\nSent: x",
		"Made in Holland van: x\nSent: x",
	} {
		add(fmt.Sprintf("outlook-%02d", i), "Who is this?\n\n"+b+"\n\nWould you be interested?")
	}
	// Signatures and mobile footers.
	for i, s := range []string{
		"-- \nMaria", "--\nMaria", "—\nMaria", "__\nMaria", "  -- \nMaria", "-- x\nMaria", "---\nMaria",
		"Sent from my iPhone", "sent from my iPhone", "SENT FROM MY IPHONE", "  Sent from Outlook",
		"Sent from Mail for Windows", "Sent from Yahoo Mail on Android", "Sent from Gmail", "Sent from my",
		"Get Outlook for iOS", "Sent via Superhuman", "Envoyé de mon iPhone", "ENVOYÉ DE MON IPHONE",
		"Von meinem iPhone gesendet", "Sent from my \u212aindle",
	} {
		add(fmt.Sprintf("signature-%02d", i), "Go ahead, we'd love it.\n\n"+s+"\n\nNot interested in SEO spam.")
		add(fmt.Sprintf("signature-only-%02d", i), s)
	}
	// Degenerate texts.
	for i, s := range []string{
		"", " ", "\n\n\n", ">", "> only a quote", "> a\n> b\n", ">\n>\n", "-- ", "On Tue, Dana wrote:",
		"Yes\r\nOn Tue, Dana wrote:\r\n> q\r\n", "Yes\rNo", "\t\tyes\t\t", "yes\u00a0please", "\u2028yes\u2029",
		"\xff\xfe", "a\x00b", strings.Repeat("\n", 100) + "ok",
	} {
		add(fmt.Sprintf("degenerate-%02d", i), s)
	}
	// HTML-ish text as a client might leave it, and HTML rendered by
	// HTMLToText.
	for i, h := range []string{
		"<p>Yes, send it over!</p><blockquote>On Tue, Dana wrote: would you be interested?</blockquote>",
		`<div dir="ltr">Not for us.<div class="gmail_quote"><div>On Tue, Dana wrote:</div><blockquote>pitch</blockquote></div></div>`,
		`<div>Sounds good.</div><div id="signature">-- <br>Maria, editor</div><p>PS: our fee is $50</p>`,
		`<html><head><style>p{}</style></head><body><p>I'm out of the office until <b>March 17th</b>.</p></body></html>`,
		`<div>Gerne!<br><br>Am 04.03.2025 um 10:12 schrieb Dana:<br><blockquote type="cite">Interesse?</blockquote></div>`,
		`<p>We&rsquo;d love a guest post &ndash; go ahead.</p><div class="moz-signature">Jo</div>`,
		"<ul><li>yes</li><li>no</li></ul><hr><p>From: Dana<br>Sent: Tuesday</p><p>pitch</p>",
		"<p>Unclosed <b>bold <i>and <blockquote>quote",
	} {
		add(fmt.Sprintf("html-raw-%02d", i), h)
		add(fmt.Sprintf("html-text-%02d", i), HTMLToText(h))
	}
	// Phrases: non-ASCII case folding, the negation window, more matches
	// than the 20 a rule reads, referrals next to refusals.
	for i, s := range []string{
		"NOT \u0130NTERESTED.", "Not \u0130nterested, thanks \u212aindly.", "We \u2019d love it \u2013 go ahead.",
		"We don\u2019t accept guest posts.", "We don't accept guest posts, but send it over.",
		"I'll pass this on to our editor.", "I'll pass.", "Pass.", "Please contact editor@site.example instead.",
		"Our fee is $50.", "50 usd", "usd 50", "It costs 50 €.", "We never charge a fee.", "No budget-related posts.",
		"Not sure yet, let me check with the team.", "Go ahead" + strings.Repeat(", not", 12) + " really.",
		strings.Repeat("We do not send it over. ", 25) + "Send it over.",
		strings.Repeat("We are not interested. ", 30),
		strings.Repeat("Never share your draft, ", 30) + "please share your draft.",
		"Yes!\n\nYes.\n\nok", "Nope", "no", "stop", "  STOP!!  ", "Remove me from your list.",
		"Sounds great\u00a0\u2014 when could you send it?", "ÇA ME VA, go for it", "\u0130\u0130\u0130 yes please \u0130\u0130\u0130",
		"I am on parental leave until September.", "Automatic reply: I'm away.",
		"I will be back on 17 March. Out from March 13 to March 18, back on the 19th.",
		"Back on 31 February, or 2025-13-45, or 99/99/9999, or the 99th.",
		"Out 3-10 March, 3rd to 10th of March 2026, March 3\u201310, 2026, back Monday 10/03 or 10.03. or 9.30 tomorrow.",
		"Back in two weeks, or in a couple of days, or in 3 weeks, end of the month or end of week, next week.",
		"Returning after the 15th, until the 3rd, through 5 April, til 6/4, thru Friday, up to 7 May, from 8 May.",
		"BACK ON MARCH 10TH, 2026. RETURNING 2026-03-10.", "Zurück am 10. März. Back on 10 März.",
		"\u0130'm back on 17 March \u0130\u0130.", "Back on 1\u20133 March", "Away 1 - 3 March and 5 and 6 April.",
	} {
		add(fmt.Sprintf("phrase-%02d", i), s)
	}
	// Dates beyond the 20 matches a rule reads, and around the 8 KiB cut.
	var dates strings.Builder
	for d := range 28 {
		fmt.Fprintf(&dates, "Away on %d March, back %d April. ", d+1, d+1)
	}
	add("dates-many", dates.String())
	for _, pad := range []int{8150, 8170, 8180, 8184, 8185, 8186, 8187, 8188, 8189, 8190, 8191, 8192, 8193, 8200} {
		add(fmt.Sprintf("dates-cut-%d", pad), strings.Repeat("a", pad)+" back on 17 March 2025.")
		add(fmt.Sprintf("dates-cut-wide-%d", pad), strings.Repeat("\u00e9", pad/2)+"\u0130 back on 17 March.")
	}
	add("long-corpus", long)
	add("long-corpus-upper", strings.ToUpper(long))
	add("long-corpus-crlf", strings.ReplaceAll(long, "\n", "\r\n"))
	add("long-paragraph", strings.Repeat("we would love to publish it but our fee is high and ", 400))

	// Headers that decide before the body: bounce and automatic subjects
	// and senders.
	for i, s := range []syntheticInput{
		{subject: "Automatic reply: Guest post", text: "I am out of the office until Monday 17 March."},
		{subject: "AUTO: away", text: "Back on the 20th."},
		{subject: "Out of Office", text: "Thanks."},
		{subject: "Réponse automatique : absent", text: "De retour le 17 mars."},
		{subject: "ooo", text: "back tomorrow"},
		{subject: "Undeliverable: Guest post", from: "postmaster@mail.example", text: "Delivery has failed to these recipients: a@b.example 550 5.1.1 user unknown"},
		{subject: "DELIVERY STATUS NOTIFICATION (FAILURE)", from: "mailer-daemon@googlemail.com", text: "Address not found. Your message wasn't delivered to x@y.example"},
		{subject: "Warning: message 1abc delayed 24 hours", from: "MAILER-DAEMON@mx.example", text: "This is a warning message only. We will keep trying."},
		{subject: "Mail delivery failed", text: "Mailbox full: quota exceeded for bob@site.example"},
		{subject: "Re: pitch", from: "bounce@lists.example", text: "The message could not be delivered: 452 4.2.2 over quota"},
		{subject: "Re: pitch", from: "MAILER-DAEMON@x.example", text: "Hi, yes please."},
		{subject: "Unzustellbar: pitch", from: "postmaster@x.de", text: "Die Nachricht konnte nicht zugestellt werden."},
		{subject: "Returned mail: see transcript", from: "mailer-daemon@x.example", text: "----- The following addresses had permanent fatal errors -----\n<ann@site.example>\n\nReceived: from x\n<me@agency.example>"},
	} {
		in[fmt.Sprintf("headers-%02d", i)] = s
	}
	return in
}
