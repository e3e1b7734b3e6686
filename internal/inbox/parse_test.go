package inbox

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/backlinkoutreach/outreach/models"
)

func crlf(s string) []byte { return []byte(strings.ReplaceAll(s, "\n", "\r\n")) }

func TestParseWindows1252(t *testing.T) {
	t.Parallel()
	// "we’d love – café" in Windows-1252, labelled as such, and the same
	// bytes mislabelled ISO-8859-1 (common in the wild), and unlabelled.
	body := []byte("Hi, we\x92d love a guest post \x96 send it to the caf\xe9 desk.\r\n")
	for _, label := range []string{`; charset="windows-1252"`, `; charset=iso-8859-1`, ``} {
		raw := append(crlf("From: Zoe <zoe@example.se>\nSubject: Re: pitch\nMessage-ID: <w1252@example.se>\nMIME-Version: 1.0\n"+
			"Content-Type: text/plain"+label+"\nContent-Transfer-Encoding: 8bit\n\n"), body...)
		m := Parse(raw)
		want := "Hi, we\u2019d love a guest post \u2013 send it to the caf\u00e9 desk."
		if !m.Parsed || m.Text != want {
			t.Errorf("label %q: parsed=%v text=%q, want %q (%s)", label, m.Parsed, m.Text, want, m.ParseError)
		}
	}
	// Quoted-printable Windows-1252 with an encoded-word subject.
	m := Parse(crlf("From: =?windows-1252?Q?Zo=EB?= <zoe@example.se>\nSubject: =?windows-1252?Q?R=E9ponse_=96_oui?=\n" +
		"MIME-Version: 1.0\nContent-Type: text/plain; charset=windows-1252\nContent-Transfer-Encoding: quoted-printable\n\n" +
		"That=92s a yes =96 send the draft.\n"))
	if m.Text != "That\u2019s a yes \u2013 send the draft." || m.Subject != "R\u00e9ponse \u2013 oui" || m.FromName != "Zo\u00eb" {
		t.Errorf("qp windows-1252: text=%q subject=%q name=%q", m.Text, m.Subject, m.FromName)
	}
	if got := ClassifyRules(m).Tag; got != models.ReplyInterested {
		t.Errorf("classified %s, want interested", got)
	}
}

func TestParseHTMLOnly(t *testing.T) {
	t.Parallel()
	html := `<html><head><style>p{color:red}</style><script>alert(1)</script></head><body>
<div dir="ltr"><p>Hi Dana,</p><p>Thanks &amp; sorry for the delay &ndash; we&#39;re <b>not</b>
interested right now.</p><div class="gmail_signature">--<br>Maria | Editor<br>Happy to help with anything!</div>
<div class="gmail_quote"><div class="gmail_attr">On Tue, Mar 4, 2025 Dana wrote:</div>
<blockquote class="gmail_quote"><p>Would you be interested in a guest post? Happy to send it over.</p></blockquote></div></div></body></html>`
	raw := crlf("From: maria@greenthumbweekly.com\nSubject: Re: Guest post\nMIME-Version: 1.0\n" +
		"Content-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n" +
		strings.ReplaceAll(html, "=", "=3D"))
	m := Parse(raw)
	if !m.FromHTML || !strings.Contains(m.Text, "Thanks & sorry for the delay \u2013 we're not interested right now.") {
		t.Fatalf("html text = %q (fromHTML %v)", m.Text, m.FromHTML)
	}
	if strings.Contains(m.Text, "alert") || strings.Contains(m.Text, "color:red") {
		t.Errorf("script or style leaked into text: %q", m.Text)
	}
	if strings.Contains(m.Reply, "Would you be interested") || strings.Contains(m.Reply, "Happy to help") {
		t.Errorf("quote or signature left in reply: %q", m.Reply)
	}
	if got := ClassifyRules(m).Tag; got != models.ReplyNotInterested {
		t.Errorf("classified %s, want not_interested (reply %q)", got, m.Reply)
	}
}

func TestParseMultipartAlternativePrefersPlain(t *testing.T) {
	t.Parallel()
	raw := crlf(`From: a@example.org
Subject: Re: hi
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="b1"

--b1
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: base64

` + base64.StdEncoding.EncodeToString([]byte("Plain: go ahead and send it over.")) + `
--b1
Content-Type: text/html; charset=utf-8

<p>HTML: different words</p>
--b1--
`)
	m := Parse(raw)
	if m.Text != "Plain: go ahead and send it over." || m.FromHTML {
		t.Fatalf("text = %q fromHTML=%v", m.Text, m.FromHTML)
	}
}

// A 10 MB attachment is skipped without being decoded, and the reply beside
// it is read and classified.
func TestParseLargeAttachment(t *testing.T) {
	t.Parallel()
	payload := make([]byte, 10<<20)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range payload {
		payload[i] = byte(r.Uint32())
	}
	var b bytes.Buffer
	b.Write(crlf("From: Alicia <alicia@weddingvibes.co>\nSubject: RE: pitch\nMessage-ID: <big@weddingvibes.co>\nMIME-Version: 1.0\n" +
		"Content-Type: multipart/mixed; boundary=\"outer\"\n\n--outer\nContent-Type: text/plain; charset=utf-8\n\n" +
		"We only accept paid placements. Our media kit with prices is attached.\n--outer\n" +
		"Content-Type: application/pdf; name=\"kit.pdf\"\nContent-Disposition: attachment; filename=\"kit.pdf\"\nContent-Transfer-Encoding: base64\n\n"))
	enc := base64.StdEncoding.EncodeToString(payload)
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\r\n--outer--\r\n")
	if b.Len() < 10<<20 {
		t.Fatalf("message is only %d bytes", b.Len())
	}
	start := time.Now()
	m := Parse(b.Bytes())
	if !m.Parsed || m.Attachments != 1 || m.MessageID != "big@weddingvibes.co" {
		t.Fatalf("parsed=%v attachments=%d id=%q err=%s", m.Parsed, m.Attachments, m.MessageID, m.ParseError)
	}
	if m.Text != "We only accept paid placements. Our media kit with prices is attached." {
		t.Fatalf("text = %q", m.Text)
	}
	if got := ClassifyRules(m).Tag; got != models.ReplyAsksPayment {
		t.Errorf("classified %s, want asks_payment", got)
	}
	t.Logf("parsed a %.1f MB message in %v", float64(b.Len())/(1<<20), time.Since(start))
}

func TestParseBrokenMIME(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		raw        []byte
		wantParsed bool
		wantText   string // substring
		wantID     string
	}{
		{
			name:       "binary garbage header",
			raw:        []byte("\x00\x01\x02 not a header\r\n\xff\xfe\r\n\r\nbody"),
			wantParsed: false,
		},
		{
			name: "header line without colon",
			raw: crlf("Message-ID: <bad-header@example.org>\nFrom: x@example.org\nthis line is not a header\n" +
				"In-Reply-To: <sent-1@outreach.test>\n\nHello, yes please."),
			wantParsed: false, wantText: "Hello, yes please.", wantID: "bad-header@example.org",
		},
		{
			name: "multipart without closing boundary",
			raw: crlf("From: x@example.org\nMessage-ID: <noclose@example.org>\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=zz\n\n" +
				"--zz\nContent-Type: text/plain\n\nSend it over, thanks.\n--zz\nContent-Type: application/octet-stream\n\nAAAA"),
			wantParsed: true, wantText: "Send it over, thanks.", wantID: "noclose@example.org",
		},
		{
			name: "multipart without boundary parameter",
			raw: crlf("From: x@example.org\nMIME-Version: 1.0\nContent-Type: multipart/alternative\n\n" +
				"Not interested, thanks."),
			wantParsed: true, wantText: "Not interested, thanks.",
		},
		{
			name: "corrupt base64",
			raw: crlf("From: x@example.org\nMIME-Version: 1.0\nContent-Type: text/plain\nContent-Transfer-Encoding: base64\n\n" +
				base64.StdEncoding.EncodeToString([]byte("No thanks, we are all set.")) + "!!!@@@###\n"),
			wantParsed: true, wantText: "No thanks, we are all set.",
		},
		{
			name: "unknown charset",
			raw: crlf("From: x@example.org\nMIME-Version: 1.0\nContent-Type: text/plain; charset=x-unknown-42\n\n" +
				"Please unsubscribe me."),
			wantParsed: true, wantText: "Please unsubscribe me.",
		},
		{
			name: "unknown transfer encoding",
			raw: crlf("From: x@example.org\nMIME-Version: 1.0\nContent-Type: text/plain\nContent-Transfer-Encoding: x-uuencode-ish\n\n" +
				"Who is this?"),
			wantParsed: true, wantText: "Who is this?",
		},
		{
			name:       "empty",
			raw:        nil,
			wantParsed: true,
		},
		{
			name:       "deep nesting",
			raw:        nested(40),
			wantParsed: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := Parse(tt.raw)
			if m.Parsed != tt.wantParsed {
				t.Errorf("parsed = %v (%s), want %v", m.Parsed, m.ParseError, tt.wantParsed)
			}
			if !strings.Contains(m.Text, tt.wantText) {
				t.Errorf("text = %q, want it to contain %q", m.Text, tt.wantText)
			}
			if tt.wantID != "" && m.MessageID != tt.wantID {
				t.Errorf("message id = %q, want %q", m.MessageID, tt.wantID)
			}
			if m.DedupeKey() == "" || m.MessageID == "" && len(m.Hash) != 64 {
				t.Error("a message without a key cannot be deduplicated")
			}
			// Classification never fails, whatever came out.
			if tag := ClassifyRules(m).Tag; tag == "" {
				t.Error("no tag")
			}
		})
	}
}

func nested(depth int) []byte {
	var b strings.Builder
	b.WriteString("From: x@example.org\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b0\n\n")
	for i := range depth {
		fmt.Fprintf(&b, "--b%d\nContent-Type: multipart/mixed; boundary=b%d\n\n", i, i+1)
	}
	fmt.Fprintf(&b, "--b%d\nContent-Type: text/plain\n\ndeep\n", depth)
	for i := depth; i >= 0; i-- {
		fmt.Fprintf(&b, "--b%d--\n", i)
	}
	return crlf(b.String())
}

func TestParseDSN(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file, kind, code, rcpt, origID string
	}{
		{"bnc-01-postfix-user-unknown.eml", BounceHard, "5.1.1", "info@oldgardenblog.com", ""},
		{"bnc-02-gmail-address-not-found.eml", BounceHard, "5.1.1", "editor@wanderlustdiaries.net", ""},
		{"bnc-04-postfix-delayed.eml", BounceSoft, "4.4.1", "hello@islandhoppingguide.gr", ""},
		{"bnc-06-exim-plain-permanent.eml", BounceHard, "5.1.1", "hello@tinytravelnotes.com", ""},
		{"bnc-10-exim-delay-warning.eml", BounceSoft, "4.7.1", "editor@greeklifestyle.gr", ""},
		{"bnc-18-mixed-recipients.eml", BounceHard, "5.1.1", "bookings@harbourviewhostel.ie", ""},
		{"bnc-25-icloud-global-dsn.eml", BounceHard, "5.1.1", "crafty.mum@icloud.com", ""},
	}
	for _, tt := range tests {
		m := Parse(readCorpus(t, tt.file))
		r := ClassifyRules(m)
		if r.Tag != models.ReplyBounce || r.BounceKind != tt.kind || r.BounceCode != tt.code || r.BounceRecipient != tt.rcpt {
			t.Errorf("%s: got %s/%s code %q rcpt %q, want bounce/%s %q %q", tt.file, r.Tag, r.BounceKind, r.BounceCode, r.BounceRecipient, tt.kind, tt.code, tt.rcpt)
		}
	}
	// The returned headers name the original message, which is how a
	// bounce is matched to the e-mail that caused it.
	m := Parse(readCorpus(t, "bnc-01-postfix-user-unknown.eml"))
	if len(m.EmbeddedIDs) != 1 || !strings.HasSuffix(m.EmbeddedIDs[0], ".s0@brightlinkmedia.com") {
		t.Errorf("embedded ids = %v", m.EmbeddedIDs)
	}
	// A report that every recipient got the message is not a failure.
	ok := Parse(crlf("From: MAILER-DAEMON@example.org\nSubject: Delivery Status Notification (Success)\nMIME-Version: 1.0\n" +
		"Content-Type: multipart/report; report-type=delivery-status; boundary=r\n\n--r\nContent-Type: text/plain\n\nDelivered.\n" +
		"--r\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; example.org\n\nFinal-Recipient: rfc822; a@example.com\nAction: delivered\nStatus: 2.0.0\n--r--\n"))
	if r := ClassifyRules(ok); r.Tag != models.ReplyBounce || r.BounceKind != "" {
		t.Errorf("success DSN: %s/%q, want bounce with no kind", r.Tag, r.BounceKind)
	}
}

func TestStripQuoted(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, in, want string }{
		{"gmail attribution", "Sounds good.\n\nOn Tue, Mar 4, 2025 at 10:12 AM Dana <d@x.com> wrote:\n> Interested?\n> Dana", "Sounds good."},
		{"wrapped attribution", "No thanks.\n\nOn Tue, 4 Mar 2025 at 10:12, Dana Whitfield <\ndana@x.com> wrote:\n> pitch", "No thanks."},
		{"outlook block", "Who is this?\n\n________________________________\nFrom: Dana <d@x.com>\nSent: Tuesday\nTo: me\nSubject: pitch\n\nWould you be interested?", "Who is this?"},
		{"original message", "Stop emailing me.\n-----Original Message-----\nFrom: Dana\nSent: today\n\nInterested?", "Stop emailing me."},
		{"signature", "Go ahead.\n\n-- \nMaria | Not interested in SEO spam", "Go ahead."},
		{"mobile footer", "Yes please!\n\nSent from my iPhone\n\n> On 4 Mar, Dana wrote:", "Yes please!"},
		{"bottom posted", "> Would you be interested?\n> Dana\n\nThat works for me.", "That works for me."},
		{"bottom posted with attribution", "On Mon, Dana <d@x.com> wrote:\n> Interested?\n\nNot for us, sorry.", "Not for us, sorry."},
		{"german", "Gerne!\n\nAm 04.03.2025 um 10:12 schrieb Dana <d@x.com>:\n> Interesse?", "Gerne!"},
		// Nothing of the sender's own: nothing to classify (the quote is
		// our e-mail).
		{"all quoted", "> only a quote", ""},
		{"attribution and quote only", "\n\nOn Tue, Mar 3, 2026 at 10:12 AM Dana <d@x.com> wrote:\n> If you're not interested, say so.", ""},
		{"signature only", "-- \nMaria Rossi | Editor\n\nOn Tue, Mar 3, 2026 at 10:12 AM Dana <d@x.com> wrote:\n> If you're not interested, say so.", ""},
		{"outlook block only", "\n\n________________________________\nFrom: Dana <d@x.com>\nSent: Tuesday\nTo: me\nSubject: pitch\n\nIf you're not interested, say so.", ""},
		{"mobile footer only", "Sent from my iPhone", ""},
		{"answer between quoted lines", "On Mon, Dana <d@x.com> wrote:\n> Interested?\nYes, send it.\n> Dana", "Yes, send it."},
	}
	for _, tt := range tests {
		if got := StripQuoted(tt.in); got != tt.want {
			t.Errorf("%s: StripQuoted = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestReturnDate(t *testing.T) {
	t.Parallel()
	// Wednesday 12 March 2025, 09:00 in New York.
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	ref := time.Date(2025, 3, 12, 9, 0, 0, 0, ny)
	tests := []struct {
		text string
		want string // YYYY-MM-DD, "" for none
	}{
		{"I'm out of the office until Friday, March 14th.", "2025-03-15"},
		{"I will be back on 17 March.", "2025-03-17"},
		{"Returning 2025-03-20.", "2025-03-20"},
		{"I'm away until tomorrow.", "2025-03-14"},
		{"Back next Monday.", "2025-03-17"},
		{"I'm back Monday.", "2025-03-17"},
		{"Back in 3 days.", "2025-03-15"},
		{"I am on leave 13-21 March.", "2025-03-22"},
		{"Out from March 13 to March 18, back on the 19th.", "2025-03-19"},
		{"I'll return on 3/24.", "2025-03-24"},
		{"Back on 24/03.", "2025-03-24"},
		{"Back on Jan 5th.", ""}, // two months back: not a return date
		{"I'm out until the end of the month.", "2025-04-01"},
		{"I'm on parental leave until September.", "2025-09-01"},
		{"Back at 9.30 tomorrow morning.", "2025-03-13"},
		{"I am currently out of the office.", ""},
		{"I was away until 2 March.", ""},
		{"Back on 31 February.", ""},
	}
	for _, tt := range tests {
		got, ok := ReturnDate(tt.text, ref)
		s := ""
		if ok {
			s = got.Format("2006-01-02")
			if got.Location() != ny || got.Hour() != 0 {
				t.Errorf("%q: %v is not midnight in the message's zone", tt.text, got)
			}
		}
		if s != tt.want {
			t.Errorf("ReturnDate(%q) = %q, want %q", tt.text, s, tt.want)
		}
	}
	// Written in December, January is next year.
	if got, ok := ReturnDate("Back on Jan 5th.", time.Date(2025, 12, 19, 8, 0, 0, 0, time.UTC)); !ok || got.Format("2006-01-02") != "2026-01-05" {
		t.Errorf("year rollover: %v %v", got, ok)
	}
	if _, ok := ReturnDate("back on 17 March", time.Time{}); ok {
		t.Error("a message without a date cannot resolve a return date")
	}
}

func TestClassifyHeaderSignals(t *testing.T) {
	t.Parallel()
	base := "From: ed@example.org\nSubject: Re: Guest post\nDate: Wed, 12 Mar 2025 09:00:00 +0000\nMIME-Version: 1.0\nContent-Type: text/plain\n"
	tests := []struct {
		name, headers, body, want string
	}{
		{"auto-submitted", "Auto-Submitted: auto-replied\n", "Thanks for your email.", models.ReplyOutOfOffice},
		{"auto-submitted no", "Auto-Submitted: no\n", "Thanks for your email, send it over.", models.ReplyInterested},
		{"x-autoreply", "X-Autoreply: yes\n", "I will get back to you.", models.ReplyOutOfOffice},
		{"precedence auto_reply", "Precedence: auto_reply\n", "Received.", models.ReplyOutOfOffice},
		{"read receipt", "", "", models.ReplyOutOfOffice},
	}
	for _, tt := range tests {
		raw := base + tt.headers + "\n" + tt.body
		if tt.name == "read receipt" {
			raw = strings.Replace(base, "Content-Type: text/plain\n",
				"Content-Type: multipart/report; report-type=disposition-notification; boundary=m\n", 1) +
				"\n--m\nContent-Type: text/plain\n\nYour message was displayed.\n--m\nContent-Type: message/disposition-notification\n\nDisposition: manual-action/MDN-sent-manually; displayed\n--m--\n"
		}
		if got := ClassifyRules(Parse(crlf(raw))).Tag; got != tt.want {
			t.Errorf("%s: got %s, want %s", tt.name, got, tt.want)
		}
	}
	// The return date of an automatic reply is read from its text.
	m := Parse(crlf(base + "Auto-Submitted: auto-replied\n\nI am out of the office until Monday 17 March."))
	r := ClassifyRules(m)
	if r.Until == nil || r.Until.Format("2006-01-02") != "2025-03-18" {
		t.Errorf("until = %v, want 2025-03-18", r.Until)
	}
}

// oooRef is Monday 2 March 2026, 09:00 UTC: the reference time of the
// return-date cases below.
var oooRef = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

type returnDateCase struct {
	text string
	want string // YYYY-MM-DD, "" for none
}

func checkReturnDates(t *testing.T, tests []returnDateCase) {
	t.Helper()
	for _, tt := range tests {
		s := ""
		if got, ok := ReturnDate(tt.text, oooRef); ok {
			s = got.Format("2006-01-02")
		}
		if s != tt.want {
			t.Errorf("ReturnDate(%q) = %q, want %q", tt.text, s, tt.want)
		}
	}
}

// A weekday next to an explicit date names that date: the explicit day
// decides, the weekday only chooses between the readings the day allows.
func TestReturnDateWeekdayWithDate(t *testing.T) {
	t.Parallel()
	checkReturnDates(t, []returnDateCase{
		{"I'm out of the office until Thursday the 12th.", "2026-03-13"},
		{"I am away until Monday 16/03.", "2026-03-17"},
		{"I am away until Monday 16.03.", "2026-03-17"},
		{"Away until Monday, 2026-03-16.", "2026-03-17"},
		{"I'm back Thursday 12th.", "2026-03-12"},
		{"Back on Thursday the 12th.", "2026-03-12"},
		{"Out until Monday 16.", "2026-03-17"},
		{"Returning next Monday 16/03.", "2026-03-16"},
		{"Back on 16/03 (Monday).", "2026-03-16"},
		{"Away until the 12th (Thursday).", "2026-03-13"},
		{"Away until 12 March, Thursday.", "2026-03-13"},
		{"I'm away Monday 16/03 to Friday 20/03.", "2026-03-21"},
		// A weekday that contradicts the date does not move it.
		{"Away until Friday 12 March.", "2026-03-13"},
		{"I'm away until Wednesday the 12th.", "2026-03-13"},
		{"Away until Friday 12/03.", "2026-03-13"},
		// The weekday chooses between the readings of an ambiguous date.
		{"Back Friday 03/04.", "2026-04-03"},
		{"Back Wednesday 03/04.", "2026-03-04"},
		{"Back 03/04.", "2026-03-04"},
		{"Back Friday the 3rd.", "2026-04-03"},
		// A weekday with a time, or a number that is no day, is the weekday.
		{"Back Monday 10 am.", "2026-03-09"},
		{"Away until Friday 3 pm.", "2026-03-07"},
		{"Back Monday 9 to 5 as usual.", "2026-03-09"},
		{"Back Monday 10:30.", "2026-03-09"},
		{"Away until Friday. 12 colleagues can help meanwhile.", "2026-03-07"},
	})
}

// A time is not a date, with or without the full stop that ends its
// sentence; a day and month written with dots still are.
func TestReturnDateTimesAreNotDates(t *testing.T) {
	t.Parallel()
	checkReturnDates(t, []returnDateCase{
		{"I'm on leave until Friday. I will be back in the office at 8.30.", "2026-03-07"},
		{"I'm on leave until Friday. I will be back in the office at 8.30", "2026-03-07"},
		{"Back Monday at 9.30.", "2026-03-09"},
		{"Back Monday 10.30.", "2026-03-09"},
		{"Back on Monday, from 8.30.", "2026-03-09"},
		{"Back Monday 8.30am.", "2026-03-09"},
		{"Back Monday, 8.30 a.m.", "2026-03-09"},
		{"Away until Friday, back at 14.00.", "2026-03-07"},
		{"Back Tuesday at 9.10.", "2026-03-03"},
		{"Back Monday @ 11.11.", "2026-03-09"},
		{"Away until Friday, reachable again around 10.15.", "2026-03-07"},
		{"I'm out. Office hours: 8.30. to 17.00.", ""},
		{"I'm out. I'll be back in the office at 11.11.", ""},
		{"I'm out, returning at 9.10.", ""},
		{"Away today, back around 10.12.", ""},
		// Dates in European style.
		{"Back on 16.03.", "2026-03-16"},
		{"Away until 3.4.", "2026-04-04"},
		{"Away until 20.3.", "2026-03-21"},
		{"Back on 16.03.2026 at 8.30.", "2026-03-16"},
		{"I return on 1.4. at 8.30.", "2026-04-01"},
		{"Back 5.03. from 8.30.", "2026-03-05"},
	})
}

// Two numbers of a longer run joined by dots or slashes are not a date:
// SMTP status codes, versions, addresses, "24/7/365".
func TestReturnDateNumberRuns(t *testing.T) {
	t.Parallel()
	checkReturnDates(t, []returnDateCase{
		{"550 5.1.1 user unknown; back on 16 March? no.", "2026-03-16"},
		{"Delivery failed: 550 5.1.1 user unknown.", ""},
		{"Delay: 451 4.7.1 greylisted, please try again later.", ""},
		{"We run v1.2.3 now.", ""},
		{"Server 10.0.0.1 is down.", ""},
		{"Pages 1/2/3.", ""},
		{"Our support runs 24/7/365.", ""},
		{"Support: 365/24/7.", ""},
		{"Back on 24/7/2026.", "2026-07-24"},
		{"Away until 12/3/26.", "2026-03-13"},
		{"Back on 16.03.2026.", "2026-03-16"},
	})
}

// "24/7" is never a date.
func TestReturnDateIdioms(t *testing.T) {
	t.Parallel()
	checkReturnDates(t, []returnDateCase{
		{"I'm away.\n\nAutomatic reply: Your 24/7 support article", ""},
		{"We offer 24/7 support.", ""},
		{"Our 24/7 team will help; I'm back on 16 March.", "2026-03-16"},
		{"Away until Friday; our 24/7 desk can help.", "2026-03-07"},
		{"Support (24/7): call us.", ""},
		{"Back on 24/07.", "2026-07-24"},
		{"Back on 24/7/26.", "2026-07-24"},
		{"Back on 24.7.", "2026-07-24"},
	})
}

// Dates in the subject, most often our own subject quoted by the
// automatic reply, count only when a word there says what they are.
func TestMessageReturnDateSubject(t *testing.T) {
	t.Parallel()
	tests := []struct{ reply, subject, want string }{
		{"I'm out of the office.", "Automatic reply: Your 24/7 support article", ""},
		{"I'm out of the office.", "Automatic reply: Your 12/11 post", ""},
		{"I'm out of the office.", "Re: our March 10 webinar", ""},
		{"I'm out of the office.", "Out of office until 16 March", "2026-03-17"},
		{"I'm out of the office.", "Out of office 16/03 - 20/03", "2026-03-21"},
		{"I'm out of the office.", "Back on 23/3", "2026-03-23"},
		{"Back on 20 March.", "Out until 16 March", "2026-03-20"},
		{"I'm away until Friday.", "Automatic reply: 2/3 ideas for May 30", "2026-03-07"},
		{"I'm away, back on 10/03.", "Automatic reply: 12/11 post", "2026-03-10"},
		// Without a cue the body's own bare date still counts.
		{"Out of office. 10/03.", "Automatic reply: Guest post", "2026-03-11"},
	}
	for _, tt := range tests {
		s := ""
		if got, ok := MessageReturnDate(&Message{Reply: tt.reply, Subject: tt.subject, Date: oooRef}); ok {
			s = got.Format("2006-01-02")
		}
		if s != tt.want {
			t.Errorf("MessageReturnDate(%q, subject %q) = %q, want %q", tt.reply, tt.subject, s, tt.want)
		}
	}
	// The classifier reads the return date the same way.
	m := &Message{Subject: "Automatic reply: Your 24/7 support article", Reply: "I am out of the office until further notice.", Date: oooRef}
	if r := ClassifyRules(m); r.Tag != models.ReplyOutOfOffice || r.Until != nil {
		t.Errorf("ClassifyRules = %s until %v, want out_of_office with no return date", r.Tag, r.Until)
	}
	m.Subject = "Automatic reply: Your 12/11 post"
	if r := ClassifyRules(m); r.Tag != models.ReplyOutOfOffice || r.Until != nil {
		t.Errorf("ClassifyRules = %s until %v, want out_of_office with no return date", r.Tag, r.Until)
	}
}
