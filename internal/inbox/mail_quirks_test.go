package inbox

import (
	"strings"
	"testing"

	"github.com/backlinkoutreach/outreach/models"
)

// Mail as real servers and clients write it, found by review: each case
// once suppressed a lead who said yes, lost what they wrote, or misread a
// bounce.

// quirkPitch is our e-mail as replies quote it back: its "not interested"
// line is what a classifier reading the quote would act on.
const quirkPitch = "Hi Maria,\n\nI loved your post on composting. Would you be interested in a guest post?\n" +
	"If you're not interested, just let me know and I won't follow up.\n\nBest,\nDana"

func quirkQuote(s string) string {
	var b strings.Builder
	for _, l := range strings.Split(s, "\n") {
		b.WriteString("> " + l + "\n")
	}
	return b.String()
}

// Outlook on the web (and Outlook.com, new Outlook) puts only the From /
// Sent / To / Subject lines in div#divRplyFwdMsg; the message they
// introduce follows that div, outside it.
func TestParseOutlookWebReplyQuotesWhatFollowsItsHeader(t *testing.T) {
	html := `<html><body dir="ltr">
<div class="elementToProof">Who is the client you are writing for?</div>
<div id="appendonsend"></div>
<hr style="display:inline-block;width:98%" tabindex="-1">
<div id="divRplyFwdMsg" dir="ltr"><font face="Calibri, sans-serif" style="font-size:11pt" color="#000000"><b>From:</b> Dana Whitfield &lt;dana@agency.example&gt;<br>
<b>Sent:</b> Tuesday, March 3, 2026 10:12 AM<br><b>To:</b> Maria &lt;maria@site.example&gt;<br><b>Subject:</b> Guest post</font>
<div>&nbsp;</div></div>
<div><div dir="ltr">Hi Maria,<br><br>Would you be interested in a guest post? If you're not interested, just let me know and I won't follow up.<br><br>Best,<br>Dana</div></div>
</body></html>`
	m := Parse(crlf("From: maria@site.example\nSubject: RE: Guest post\nDate: Wed, 4 Mar 2026 09:00:00 +0000\nMIME-Version: 1.0\nContent-Type: text/html; charset=utf-8\n\n" + html))
	if m.Reply != "Who is the client you are writing for?" {
		t.Errorf("reply %q, want only the question above the quoted message", m.Reply)
	}
	if got := ClassifyRules(m).Tag; got != models.ReplyNeutral {
		t.Errorf("tag %s, want replied (a question)", got)
	}
}

// The end tag of <head> is optional: <body> (or any element that cannot
// be in the head, or text) ends it.
func TestParseHTMLWithoutHeadEndTag(t *testing.T) {
	for _, body := range []string{
		`<html><head><meta charset="utf-8"><body><p>Yes please, send it over.</p></body></html>`,
		`<html><head><title>Re: x</title><style>p{}</style><p>Yes please, send it over.</p>`,
		`<head><meta charset="utf-8">Yes please, send it over.`,
	} {
		m := Parse(crlf("From: maria@site.example\nSubject: Re: x\nMIME-Version: 1.0\nContent-Type: text/html; charset=utf-8\n\n" + body))
		if m.Text != "Yes please, send it over." {
			t.Errorf("%s: text %q", body, m.Text)
		}
	}
}

// qmail names the remote host by its IPv4 address before the host's
// answer; that address is no status code.
func TestPlainBounceWithHostAddress(t *testing.T) {
	raw := crlf("From: MAILER-DAEMON@mail.agency.example\nTo: dana@agency.example\nSubject: failure notice\nMIME-Version: 1.0\nContent-Type: text/plain\n\n" +
		"Hi. This is the qmail-send program at mail.agency.example.\nI'm afraid I wasn't able to deliver your message to the following addresses.\n" +
		"This is a permanent error; I've given up. Sorry it didn't work out.\n\n<editor@site.example>:\n" +
		"4.31.198.44 does not like recipient.\nRemote host said: 550 5.1.1 <editor@site.example>: Recipient address rejected: User unknown\nGiving up on 4.31.198.44.\n")
	r := ClassifyRules(Parse(raw))
	if r.Tag != models.ReplyBounce || r.BounceKind != BounceHard || r.BounceCode != "5.1.1" {
		t.Errorf("got %s/%s code %q, want bounce/hard 5.1.1", r.Tag, r.BounceKind, r.BounceCode)
	}
}

// A report's recipient is the address we sent to (Original-Recipient, not
// the alias target of Final-Recipient), without the brackets some MTAs
// put around it: the bounce is matched by it when no Message-ID came back.
func TestDSNRecipientAsSent(t *testing.T) {
	report := func(fields string) []byte {
		return crlf("From: MAILER-DAEMON@mx.agency.example\nTo: dana@agency.example\nSubject: Undelivered Mail Returned to Sender\nMIME-Version: 1.0\n" +
			"Content-Type: multipart/report; report-type=delivery-status; boundary=r\n\n--r\nContent-Type: text/plain\n\nbounced\n--r\n" +
			"Content-Type: message/delivery-status\n\nReporting-MTA: dns; mx.site.example\n\n" + fields + "Action: failed\nStatus: 5.1.1\n--r--\n")
	}
	for fields, want := range map[string]string{
		"Final-Recipient: rfc822; <Editor@Site.example>\n":                                                      "Editor@site.example",
		"Final-Recipient: rfc822;maria@mailhost.site.example\nOriginal-Recipient: rfc822;editor@site.example\n": "editor@site.example",
		"Original-Recipient: rfc822; <editor@site.example>\n":                                                   "editor@site.example",
	} {
		if r := ClassifyRules(Parse(report(fields))); r.BounceRecipient != want || r.BounceKind != BounceHard {
			t.Errorf("%q: recipient %q kind %q, want %q hard", fields, r.BounceRecipient, r.BounceKind, want)
		}
	}
}

// A text attachment whose Content-Disposition does not parse (an unquoted
// file name with spaces) is still an attachment, not the reply's text.
func TestParseAttachmentWithUnparsableDisposition(t *testing.T) {
	raw := crlf("From: maria@site.example\nSubject: Re: x\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=o\n\n" +
		"--o\nContent-Type: text/plain; charset=utf-8\n\nSounds good, see the list attached.\n" +
		"--o\nContent-Type: text/plain; charset=utf-8; name=\"data.csv\"\nContent-Disposition: attachment; filename=my data 2026.csv\n\nemail,unsubscribe\n--o--\n")
	m := Parse(raw)
	if m.Text != "Sounds good, see the list attached." || m.Attachments != 1 {
		t.Errorf("text %q with %d attachments; want the first part's text and one attachment", m.Text, m.Attachments)
	}
}

// Outlook's header block above the quoted message, in the languages it is
// set to.
func TestStripOutlookHeaderBlocks(t *testing.T) {
	for lang, head := range map[string]string{
		"es": "De: Dana <dana@agency.example>\nEnviado el: martes, 3 de marzo de 2026 10:12\nPara: Maria <maria@x.es>\nAsunto: Guest post",
		"it": "Da: Dana <dana@agency.example>\nInviato: martedì 3 marzo 2026 10:12\nA: Maria <maria@x.it>\nOggetto: Guest post",
		"pt": "De: Dana <dana@agency.example>\nEnviada em: terça-feira, 3 de março de 2026 10:12\nPara: Maria <maria@x.pt>\nAssunto: Guest post",
		"de": "Von: Dana <dana@agency.example>\nGesendet: Dienstag, 3. März 2026 10:12\nAn: Maria <maria@x.de>\nBetreff: Guest post",
		"fr": "De : Dana <dana@agency.example>\nEnvoyé : mardi 3 mars 2026 10:12\nÀ : Maria <maria@x.fr>\nObjet : Guest post",
	} {
		text := "Va bene, grazie.\n\n" + head + "\n\n" + quirkPitch
		if got := StripQuoted(text); got != "Va bene, grazie." {
			t.Errorf("%s: stripped to %q", lang, got)
		}
	}
	// "Da:" in an answer of one's own is no header block.
	if got := StripQuoted("Da: Maria, thanks.\nYes, send it."); got != "Da: Maria, thanks.\nYes, send it." {
		t.Errorf("an answer starting with Da: stripped to %q", got)
	}
}

// A message whose header does not parse is kept unparsed, and what is
// classified is its body's own words: not the header, not the e-mail of
// ours it quotes (whose unsubscribe line made an acceptance an
// unsubscribe).
func TestParseUnparsedMessageClassifiesItsOwnWords(t *testing.T) {
	raw := crlf("Message-ID: <bad@site.example>\nFrom: maria@site.example\nSubject: Re: Guest post\nthis line is not a header\n" +
		"In-Reply-To: <x.s0@agency.example>\n\nSounds good, send it over.\n\n" +
		"On Tue, Mar 3, 2026 at 10:12 AM Dana <dana@agency.example> wrote:\n> Would you be interested in a guest post?\n> To unsubscribe, reply \"unsubscribe\".\n")
	m := Parse(raw)
	if m.Parsed || m.Reply != "Sounds good, send it over." || !strings.Contains(m.Text, "this line is not a header") {
		t.Fatalf("parsed %v, reply %q, text %q", m.Parsed, m.Reply, m.Text)
	}
	if got := ClassifyRules(m).Tag; got != models.ReplyInterested {
		t.Errorf("tag %s, want interested", got)
	}
}

// A reply with nothing of the sender's own above the quoted e-mail (one
// that only carries an attachment, or only a signature) is not classified
// from our quoted pitch: its "if you're not interested" would suppress
// the lead.
func TestClassifyNothingAboveTheQuote(t *testing.T) {
	date := "On Tue, Mar 3, 2026 at 10:12 AM Dana <dana@agency.example> wrote:\n"
	for name, text := range map[string]string{
		"gmail quote":    "\n\n" + date + quirkQuote(quirkPitch),
		"signature only": "-- \nMaria Rossi | Editor\n\n" + date + quirkQuote(quirkPitch),
		"outlook block":  "\n\n________________________________\nFrom: Dana <dana@agency.example>\nSent: Tuesday, March 3, 2026 10:12 AM\nTo: Maria\nSubject: Guest post\n\n" + quirkPitch,
	} {
		m := &Message{Text: text, Reply: StripQuoted(text)}
		if got := ClassifyRules(m); m.Reply != "" || got.Tag != models.ReplyNeutral {
			t.Errorf("%s: reply %q classified %s, want nothing to classify (replied)", name, m.Reply, got.Tag)
		}
	}
}
