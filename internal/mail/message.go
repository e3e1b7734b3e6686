// Package mail builds and sends the engine's outreach messages over SMTP
// with go-mail: deterministic Message-IDs, threading headers on follow-ups,
// RFC 8058 one-click List-Unsubscribe, a plain-text body always and an HTML
// alternative when the step has one. Send classifies every failure as
// permanent (5xx), temporary (4xx, network) or ambiguous (the connection
// broke after the message was handed over), because the caller's ledger
// must never send a message twice.
package mail

import (
	"errors"
	"fmt"
	netmail "net/mail"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// Message is one outgoing e-mail.
type Message struct {
	// MessageID, InReplyTo and References are without angle brackets.
	MessageID  string
	InReplyTo  string
	References []string
	From       string
	FromName   string
	To         string
	ToName     string
	Subject    string
	Text       string
	HTML       string
	// UnsubscribeURL is the https one-click link; UnsubscribeMailto the
	// address of the mailto alternative.
	UnsubscribeURL    string
	UnsubscribeMailto string
	Date              time.Time
}

// MessageID is the deterministic id of step of the lead's sequence in a
// campaign: a retried send carries the same id, so the receiving side and
// the reply matcher recognise it. Ids are UUIDs: no personal data.
func MessageID(campaignID, leadID string, step int, domain string) string {
	if domain == "" {
		domain = "localhost"
	}
	return fmt.Sprintf("outreach.%s.%s.s%d@%s", campaignID, leadID, step, domain)
}

// FollowUpSubject is the subject of a follow-up in the thread started by
// subject: "Re: " once, however often it is applied.
func FollowUpSubject(subject string) string {
	s := strings.TrimSpace(subject)
	if strings.HasPrefix(strings.ToLower(s), "re:") {
		return s
	}
	return "Re: " + s
}

// oneLine keeps user text from adding header lines.
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.NewReplacer("\r", " ", "\n", " ").Replace(s)), " ")
}

func bracket(id string) string { return "<" + oneLine(id) + ">" }

// ErrSender marks a message that cannot be built because of the sender's
// side (SMTP_FROM, the Message-ID's domain): the recipient is not at fault
// and no lead may be bounced for it.
var ErrSender = errors.New("the sender address is not usable")

// formatAddress is name <addr> as RFC 5322 writes it (the name quoted and
// escaped, or encoded when it is not ASCII).
// addr must parse on its own: net/mail would quote a malformed local part
// ("a@@example.com" as "a@"@example.com) rather than refuse it.
func formatAddress(name, addr string) (string, error) {
	if _, err := netmail.ParseAddress(addr); err != nil {
		return "", err
	}
	return (&netmail.Address{Name: oneLine(name), Address: addr}).String(), nil
}

// Build turns m into a go-mail message.
func Build(m Message) (*gomail.Msg, error) {
	if m.MessageID == "" || m.To == "" || m.From == "" {
		return nil, fmt.Errorf("build message: Message-ID, From and To are required")
	}
	if !plainASCII(m.MessageID) {
		// go-mail would encode it as a whole (=?UTF-8?q?...?=): no longer
		// a msg-id, and replies could not be matched.
		return nil, fmt.Errorf("build message: Message-ID %q is not printable ASCII (a non-ASCII SMTP_FROM domain?): %w", m.MessageID, ErrSender)
	}
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	// Names go through net/mail, which quotes and escapes them: go-mail's
	// *Format helpers wrap the name in quotes as it is, so a contact named
	// O"Brien or "Ed \" made the address unparsable, and the lead was
	// bounced and suppressed for a message never sent.
	from, err := formatAddress(m.FromName, m.From)
	if err == nil {
		err = msg.From(from)
	}
	if err != nil {
		return nil, fmt.Errorf("build message: from: %w: %w", ErrSender, err)
	}
	to, err := formatAddress(m.ToName, m.To)
	if err == nil {
		err = msg.AddTo(to)
	}
	if err != nil {
		return nil, fmt.Errorf("build message: to: %w", err)
	}
	msg.Subject(oneLine(m.Subject))
	msg.SetMessageIDWithValue(oneLine(m.MessageID))
	date := m.Date
	if date.IsZero() {
		date = time.Now()
	}
	msg.SetDateWithValue(date)
	if m.InReplyTo != "" {
		msg.SetGenHeaderPreformatted(gomail.HeaderInReplyTo, bracket(m.InReplyTo))
	}
	if len(m.References) > 0 {
		// One id per line (folded): ten steps of long ids on one line would
		// pass the 998-octet limit of RFC 5322.
		refs := make([]string, len(m.References))
		for i, r := range m.References {
			refs[i] = bracket(r)
		}
		msg.SetGenHeaderPreformatted(gomail.HeaderReferences, strings.Join(refs, "\r\n "))
	}
	var unsub []string
	if m.UnsubscribeMailto != "" {
		unsub = append(unsub, "<mailto:"+oneLine(m.UnsubscribeMailto)+"?subject=unsubscribe>")
	}
	if m.UnsubscribeURL != "" {
		unsub = append(unsub, "<"+oneLine(m.UnsubscribeURL)+">")
	}
	if len(unsub) > 0 {
		msg.SetGenHeaderPreformatted(gomail.HeaderListUnsubscribe, strings.Join(unsub, ", "))
	}
	if strings.HasPrefix(strings.ToLower(m.UnsubscribeURL), "https://") {
		// RFC 8058: one-click is announced only with an https link.
		msg.SetGenHeaderPreformatted(gomail.HeaderListUnsubscribePost, "List-Unsubscribe=One-Click")
	}
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	if strings.TrimSpace(m.HTML) != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	}
	return msg, nil
}

// plainASCII reports whether s is printable ASCII.
func plainASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}
