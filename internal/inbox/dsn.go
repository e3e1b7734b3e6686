package inbox

import (
	"bufio"
	"bytes"
	"net/textproto"
	"regexp"
	"strings"
)

// DSN is a delivery status notification (RFC 3464).
type DSN struct {
	ReportingMTA string
	// OriginalEnvelopeID is the Original-Envelope-Id per-message field.
	OriginalEnvelopeID string
	Recipients         []DSNRecipient
}

// DSNRecipient is one per-recipient block of a DSN.
type DSNRecipient struct {
	// Recipient is the Final-Recipient (or Original-Recipient) address.
	Recipient string
	// Action: failed, delayed, delivered, relayed or expanded.
	Action string
	// Status is the enhanced status code, e.g. 5.1.1.
	Status     string
	Diagnostic string
}

// Bounce kinds.
const (
	BounceHard = "hard"
	BounceSoft = "soft"
)

var (
	// statusAt matches an enhanced status code (RFC 3463) at the start of
	// a text; statusCode says where one may stand.
	statusAt = regexp.MustCompile(`^[245]\.\d{1,3}\.\d{1,3}`)
	smtpRe   = regexp.MustCompile(`\b([45])\d\d\b`)
)

// parseDSN reads the fields of a message/delivery-status body: one
// per-message block, then one block per recipient, separated by blank
// lines. It merges into prev when a report has several status parts.
func parseDSN(b []byte, prev *DSN) *DSN {
	d := prev
	if d == nil {
		d = &DSN{}
	}
	b = bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n"))
	blocks := bytes.Split(b, []byte("\n\n"))
	for i, blk := range blocks {
		blk = bytes.TrimSpace(blk)
		if len(blk) == 0 {
			continue
		}
		// A block is a few hundred bytes: a reader buffer of its size (a
		// default one is 4 KB per block).
		blk = append(blk, '\n', '\n')
		h, _ := textproto.NewReader(bufio.NewReaderSize(bytes.NewReader(blk), len(blk))).ReadMIMEHeader()
		if len(h) == 0 {
			continue
		}
		if v := h.Get("Reporting-Mta"); v != "" {
			d.ReportingMTA = typedValue(v)
		}
		if v := h.Get("Original-Envelope-Id"); v != "" {
			d.OriginalEnvelopeID = strings.TrimSpace(v)
		}
		// Original-Recipient is the address as we sent to it;
		// Final-Recipient may be where it was forwarded (an alias's
		// target), which no attempt names. Some MTAs bracket it.
		rcpt := typedValue(h.Get("Original-Recipient"))
		if rcpt == "" {
			rcpt = typedValue(h.Get("Final-Recipient"))
		}
		rcpt = strings.TrimSuffix(strings.TrimPrefix(rcpt, "<"), ">")
		action := strings.ToLower(strings.TrimSpace(h.Get("Action")))
		if rcpt == "" && action == "" && i == 0 {
			continue
		}
		if rcpt == "" && action == "" {
			continue
		}
		r := DSNRecipient{
			Recipient:  normalAddress(rcpt),
			Action:     action,
			Diagnostic: cleanLine(typedValue(h.Get("Diagnostic-Code"))),
		}
		if m := statusCode(h.Get("Status")); m != "" {
			r.Status = m
		} else if m := statusCode(r.Diagnostic); m != "" {
			r.Status = m
		}
		d.Recipients = append(d.Recipients, r)
	}
	return d
}

// statusCode answers the first enhanced status code in text: a class (2,
// 4 or 5), a subject and a detail, standing alone. Part of a longer dotted
// number is not one: qmail and Exim name the remote host by its IPv4
// address before its answer ("4.31.198.44 does not like recipient ...
// 550 5.1.1"), and that host is no status. So the code must not follow a
// word character or a dot, nor be followed by a word character or a dot
// and a digit. The search goes from dot to dot (a bounce can quote a whole
// message; every code has a class digit before its first dot).
func statusCode(text string) string {
	for i := 1; i < len(text); i++ {
		j := strings.IndexByte(text[i:], '.')
		if j < 0 {
			return ""
		}
		i += j
		start := i - 1
		if c := text[start]; c != '2' && c != '4' && c != '5' {
			continue
		}
		if start > 0 && (isWordByte(text[start-1]) || text[start-1] == '.') {
			continue
		}
		m := statusAt.FindString(text[start:])
		if m == "" {
			continue
		}
		end := start + len(m)
		if end < len(text) && (isWordByte(text[end]) || text[end] == '.' && end+1 < len(text) && '0' <= text[end+1] && text[end+1] <= '9') {
			continue
		}
		return m
	}
	return ""
}

// typedValue strips the address-type or diagnostic-type prefix
// ("rfc822; a@b.c", "smtp; 550 ...").
func typedValue(v string) string {
	v = strings.TrimSpace(v)
	if t, rest, ok := strings.Cut(v, ";"); ok && !strings.ContainsAny(t, " @") {
		return strings.TrimSpace(rest)
	}
	return v
}

// Failure is the recipient a report is about and how bad it is: hard for a
// permanent failure (5.x.x), soft for a delay or a temporary failure
// (4.x.x). ok is false when the report says every message was delivered.
func (d *DSN) Failure() (r DSNRecipient, kind string, ok bool) {
	if d == nil {
		return DSNRecipient{}, "", false
	}
	var soft *DSNRecipient
	for i := range d.Recipients {
		x := d.Recipients[i]
		switch {
		case x.Action == "failed" && !strings.HasPrefix(x.Status, "4"):
			return x, BounceHard, true
		case x.Action == "" && strings.HasPrefix(x.Status, "5"):
			return x, BounceHard, true
		case x.Action == "delayed" || strings.HasPrefix(x.Status, "4") || x.Action == "failed":
			if soft == nil {
				soft = &d.Recipients[i]
			}
		}
	}
	if soft != nil {
		return *soft, BounceSoft, true
	}
	return DSNRecipient{}, "", false
}

// Non-standard bounces (qmail, old Exim and Postfix setups, some hosted
// services) send plain text. They are recognised by sender, subject and
// wording, and read for a status code and the failed address.
var (
	bounceSender  = regexp.MustCompile(`(?i)^(mailer-daemon|postmaster|mail-daemon|mailerdaemon|bounce|bounces|mdaemon|nobody)@`)
	bounceSubject = foldRuleOf(`(?i)(undeliver|undelivered mail|delivery status notification|delivery (has )?failed|mail delivery (failed|failure|subsystem)|returned mail|failure notice|non[- ]?delivery|delivery failure|could not be delivered|message not delivered|delivery notification|warning: message .* delayed|delayed mail|delivery delayed|unzustellbar|nicht zustellbar|non remis|rapport de non-remise)`)
	bounceBody    = foldRuleOf(`(?i)(could not be delivered|couldn'?t be delivered|wasn'?t delivered|was not delivered|delivery (to the following recipients? )?(has )?failed|permanent(ly)? (error|failure|fatal)|undeliverable|user unknown|no such user|mailbox (unavailable|not found|does not exist|full)|address rejected|recipient address rejected|does not exist|unable to deliver|delivery to .* failed|message delayed|will (keep|continue) trying|will retry|has not yet been delivered|temporary failure|delivery incomplete|quota exceeded|over quota|couldn't be found|address couldn'?t be found)`)
	softWording   = foldRuleOf(`(?i)(delayed|will (keep|continue) (trying|to try)|will retry|has not yet been delivered|not been delivered yet|temporary (failure|problem)|try again later|delivery incomplete|mailbox (is )?full|over quota|quota exceeded|greylist)`)
)

// plainBounce recognises a bounce without a delivery-status part. It returns
// the kind, the status code found (enhanced when present, else the SMTP
// reply code) and the failed recipient when one is named.
func plainBounce(m *Message) (kind, code, rcpt string, ok bool) {
	fromDaemon := bounceSender.MatchString(m.From) || strings.Contains(strings.ToLower(m.FromName), "mail delivery")
	subject := foldString(m.Subject)
	subj := bounceSubject.MatchString(m.Subject, subject)
	failed := len(m.Signals.FailedRecipients) > 0
	if !fromDaemon && !subj && !failed {
		// A person's reply: the body scan below is the costly part.
		return "", "", "", false
	}
	text := m.Text
	folded := foldString(text)
	body := bounceBody.MatchString(text, folded)
	bounced := (subj && (fromDaemon || body || m.Signals.ReturnPathNull)) || (fromDaemon && body) || (failed && (body || subj))
	if !bounced {
		return "", "", "", false
	}
	code = statusCode(text)
	if code == "" {
		code = smtpRe.FindString(text)
	}
	switch {
	case strings.HasPrefix(code, "5"):
		kind = BounceHard
	case strings.HasPrefix(code, "4"):
		kind = BounceSoft
	case softWording.MatchString(text, folded) || softWording.MatchString(m.Subject, subject):
		kind = BounceSoft
	default:
		kind = BounceHard
	}
	if kind == BounceHard && softWording.MatchString(m.Subject, subject) {
		kind = BounceSoft
	}
	if len(m.Signals.FailedRecipients) > 0 {
		rcpt = m.Signals.FailedRecipients[0]
	} else {
		rcpt = failedAddress(m)
	}
	return kind, code, rcpt, true
}

// failedAddress picks the failed address from a bounce text: the first
// address that is neither the daemon nor one of the message's own
// recipients (our sending mailbox).
func failedAddress(m *Message) string {
	skip := map[string]bool{m.From: true}
	for _, t := range m.To {
		skip[t] = true
	}
	// Stop at the returned message's headers: past them the addresses are
	// ours.
	text := m.Text
	for _, marker := range []string{"\nReceived:", "\nReturn-Path:", "------ This is a copy", "--- Below this line is a copy", "Original message headers:"} {
		if i := strings.Index(text, marker); i > 0 {
			text = text[:i]
		}
	}
	found := ""
	eachAddress(text, 50, func(a string) bool {
		a = normalAddress(a)
		if !skip[a] && !bounceSender.MatchString(a) {
			found = a
			return true
		}
		return false
	})
	return found
}

// Bounds of an addrRe match around its one "@": the local part, and the
// domain with its dot and top-level label.
const (
	addrMaxLocal  = 64
	addrMaxDomain = 253 + 1 + 63
)

// eachAddress calls f with the matches addrRe.FindAllString(text, n)
// answers, in order, until f returns true. addrRe has no literal prefix, so
// the regexp package would step its automaton over every byte of the text
// (a bounce quotes the whole message); a match holds exactly one "@" (its
// character classes exclude it) within the bounds above, so the regexp
// runs on the few hundred bytes around each "@" instead. The pattern has
// no assertions, so a window matches as the whole text would.
func eachAddress(text string, n int, f func(string) bool) {
	pos := 0
	for count := 0; count < n; {
		at := strings.IndexByte(text[pos:], '@')
		if at < 0 {
			return
		}
		at += pos
		// The leftmost match from pos, if it uses this "@", starts at most
		// addrMaxLocal bytes before it: no "@" lies between pos and it.
		lo, hi := max(pos, at-addrMaxLocal), min(len(text), at+1+addrMaxDomain)
		loc := addrRe.FindStringIndex(text[lo:hi])
		if loc == nil || lo+loc[0] > at {
			// No match uses this "@"; one starting after it uses a later
			// one.
			pos = at + 1
			continue
		}
		count++
		if f(text[lo+loc[0] : lo+loc[1]]) {
			return
		}
		pos = lo + loc[1]
	}
}
