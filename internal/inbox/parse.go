package inbox

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	netmail "net/mail"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/charset"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"
	"golang.org/x/text/encoding/charmap"

	"github.com/backlinkoutreach/outreach/models"
)

// Size limits. Mail is attacker-controlled input: every read is bounded.
const (
	// MaxRawBytes is the most of one message the poller reads; the rest of a
	// larger message (its attachments, in practice) is discarded.
	MaxRawBytes = 32 << 20
	// maxTextBytes bounds one decoded text part; maxTotalText all of them.
	maxTextBytes = 1 << 20
	maxTotalText = 2 << 20
	// maxParts and maxDepth bound the MIME tree walk.
	maxParts = 256
	maxDepth = 12
	// maxReportBytes bounds a delivery-status part or embedded headers.
	maxReportBytes = 256 << 10
	// maxStoredRaw is how much of an unparsable message is kept as its body
	// so a person can read it.
	maxStoredRaw = 64 << 10
)

// Message is an inbound message reduced to what matching and classification
// need.
type Message struct {
	// MessageID, InReplyTo and References carry message ids without angle
	// brackets.
	MessageID  string
	InReplyTo  []string
	References []string
	// From is the sender's bare address, domain lower-cased; FromName its
	// display name.
	From     string
	FromName string
	To       []string
	Subject  string
	// Date is the Date header; zero when missing or unreadable.
	Date time.Time
	// Text is the whole readable body: text/plain parts, or the HTML
	// rendered as text when there is no plain part.
	Text string
	// Reply is Text without quoted history and signature: what the sender
	// wrote now, the input of classification.
	Reply string
	// FromHTML is set when Text was rendered from HTML.
	FromHTML bool
	// Signals are the header facts that mark automatic mail.
	Signals Signals
	// DSN is the parsed delivery status notification (RFC 3464), nil for
	// other mail.
	DSN *DSN
	// EmbeddedIDs are the Message-IDs of messages attached or quoted as
	// headers (the original of a bounce).
	EmbeddedIDs []string
	// Attachments counts parts skipped as attachments.
	Attachments int
	// Parsed is false when the message could not be read as MIME at all;
	// ParseError then says why (and is also set for lesser damage, such as
	// a corrupt part, when Parsed stays true).
	Parsed     bool
	ParseError string
	// Hash is the SHA-256 of the raw bytes, the dedupe key of a message
	// without a Message-ID; empty when it has one.
	Hash string
}

// Signals are header fields set by automatic senders.
type Signals struct {
	// AutoSubmitted is the Auto-Submitted value (RFC 3834): auto-replied,
	// auto-generated, or empty (also for "no").
	AutoSubmitted string
	// XAutoreply is set by X-Autoreply / X-Autorespond headers.
	XAutoreply bool
	// Precedence is bulk, junk, list or auto_reply when present.
	Precedence string
	// ReportType is the report-type of a multipart/report body.
	ReportType string
	// ReturnPathNull is set for a null Return-Path (<>), the envelope of
	// bounces and other automatic notices.
	ReturnPathNull bool
	// FailedRecipients is X-Failed-Recipients, set by Exim bounces.
	FailedRecipients []string
}

// Automatic reports whether the headers say no person wrote the message.
func (s Signals) Automatic() bool {
	return s.AutoSubmitted != "" || s.XAutoreply || s.Precedence == "auto_reply"
}

// DedupeKey is what makes a message unique: its Message-ID, or the hash of
// its bytes when it has none.
func (m *Message) DedupeKey() string {
	if m.MessageID != "" {
		return "mid:" + m.MessageID
	}
	return "sha256:" + m.Hash
}

// Windows-1252 is what "ISO-8859-1" and "US-ASCII" labels mean in real mail
// (the WHATWG encoding standard maps them so): bytes 0x80-0x9F are curly
// quotes and dashes, not C1 controls.
func init() {
	for _, name := range []string{"iso-8859-1", "iso8859-1", "latin1", "l1", "us-ascii", "ascii", "cp819", "ibm819"} {
		charset.RegisterEncoding(name, charmap.Windows1252)
	}
}

// Parse reads a raw RFC 5322 message. It never fails: whatever cannot be
// read is reported in Parsed and ParseError, and a message that is not MIME
// at all keeps its first bytes as Text so a person can read it.
func Parse(raw []byte) *Message {
	m, err := parse(raw, true)
	if err != nil {
		m, _ = parse(raw, false)
	}
	return m
}

// parse reads raw in place (inPlace, see fastparse.go), which answers
// errSlowPath for a message it does not take, or with go-message's
// streaming reader, which never fails.
func parse(raw []byte, inPlace bool) (*Message, error) {
	m := &Message{Parsed: true}
	var (
		top *part
		err error
	)
	if inPlace {
		h, body, herr := splitHeader(raw)
		if herr != nil {
			return nil, herr
		}
		top, err = partInPlace(message.Header{Header: h}, body)
	} else {
		var e *message.Entity
		if e, err = message.Read(bytes.NewReader(raw)); e != nil {
			top = streamedPart(e)
		}
	}
	if err != nil && (top == nil || !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err)) {
		m.Parsed = false
		m.ParseError = "header: " + err.Error()
		salvageHeaders(m, raw)
		m.Text = rawText(raw)
		// What is classified is the body (after the first blank line, if
		// any) without its quoted history, as for any message: the header
		// and the quoted e-mail of ours are not the sender's words.
		m.Reply = StripQuoted(normalizeText(rawText(bodyOf(raw))))
		m.setHash(raw)
		return m, nil
	}
	readHeaders(m, mail.Header{Header: top.h})
	p := &walker{m: m}
	if err != nil {
		// A top-level body with an unknown charset or encoding: read it as
		// it is rather than losing it.
		p.note(err)
	}
	if werr := p.walk(top, 0, false); werr != nil {
		if errors.Is(werr, errSlowPath) {
			return nil, werr
		}
		p.note(werr)
	}
	p.finish()
	if m.Text == "" && m.DSN == nil && m.ParseError != "" && p.partsSeen == 0 {
		// Nothing readable came out of a broken body: keep the bytes.
		m.Parsed = false
		m.Text = rawText(bodyOf(raw))
	}
	m.Reply = StripQuoted(m.Text)
	m.setHash(raw)
	return m, nil
}

// setHash sets Hash, the dedupe key of a message without a Message-ID
// (hashing every message cost more than some steps of parsing it).
func (m *Message) setHash(raw []byte) {
	if m.MessageID == "" {
		sum := sha256.Sum256(raw)
		m.Hash = hex.EncodeToString(sum[:])
	}
}

func readHeaders(m *Message, h mail.Header) {
	if id, err := h.MessageID(); err == nil {
		m.MessageID = id
	} else {
		m.MessageID = looseID(h.Get("Message-Id"))
	}
	m.InReplyTo = msgIDs(h, "In-Reply-To")
	m.References = msgIDs(h, "References")
	if addrs, err := h.AddressList("From"); err == nil && len(addrs) > 0 {
		m.From = normalAddress(addrs[0].Address)
		m.FromName = addrs[0].Name
	} else if a := firstAddress(h.Get("From")); a != "" {
		m.From = a
	}
	if addrs, err := h.AddressList("To"); err == nil {
		for _, a := range addrs {
			m.To = append(m.To, normalAddress(a.Address))
		}
	}
	if s, err := h.Subject(); err == nil {
		m.Subject = cleanLine(s)
	} else {
		m.Subject = cleanLine(h.Get("Subject"))
	}
	if d, err := parseDate(h.Get("Date")); err == nil {
		m.Date = d
	}
	s := &m.Signals
	if v := strings.ToLower(strings.TrimSpace(h.Get("Auto-Submitted"))); v != "" && !strings.HasPrefix(v, "no") {
		s.AutoSubmitted = strings.TrimSpace(strings.SplitN(v, ";", 2)[0])
	}
	if h.Get("X-Autoreply") != "" || h.Get("X-Autorespond") != "" || h.Get("X-Autoresponder") != "" {
		s.XAutoreply = true
	}
	s.Precedence = strings.ToLower(strings.TrimSpace(h.Get("Precedence")))
	rp := strings.TrimSpace(h.Get("Return-Path"))
	s.ReturnPathNull = rp == "<>"
	for _, v := range strings.Split(h.Get("X-Failed-Recipients"), ",") {
		if a := firstAddress(v); a != "" {
			s.FailedRecipients = append(s.FailedRecipients, a)
		}
	}
	if mt, params, err := h.ContentType(); err == nil && mt == "multipart/report" {
		s.ReportType = strings.ToLower(params["report-type"])
	}
}

// rfc5322Date is the layout nearly every mail client writes.
const rfc5322Date = "Mon, 2 Jan 2006 15:04:05 -0700"

// parseDate is net/mail.ParseDate (as mail.Header.Date calls it), with the
// usual form read first: ParseDate tries its 48 layouts in an order that
// puts this one 25th, and each failure costs a formatted error. A value
// that is exactly this form (nothing after the zone) is parsed by the same
// time.Parse call as ParseDate's first success would be; anything else goes
// to ParseDate.
func parseDate(v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	s := strings.TrimLeft(v, " \t")
	if i := strings.IndexAny(s, "+-"); i >= 0 && i+5 == len(s) && !strings.ContainsAny(s, "\r\n") {
		if t, err := time.Parse(rfc5322Date, s); err == nil {
			return t, nil
		}
	}
	return netmail.ParseDate(v)
}

func msgIDs(h mail.Header, key string) []string {
	ids, err := h.MsgIDList(key)
	if err == nil {
		return ids
	}
	return looseIDs(h.Get(key))
}

var idRe = regexp.MustCompile(`<([^<>\s]{1,250})>`)

// looseIDs reads message ids from a header that does not follow RFC 5322,
// which is common: bare ids, odd characters, missing brackets.
func looseIDs(v string) []string {
	var out []string
	for _, m := range idRe.FindAllStringSubmatch(v, 50) {
		out = append(out, m[1])
	}
	if len(out) == 0 {
		for _, f := range strings.Fields(v) {
			if strings.Contains(f, "@") && len(f) <= 250 {
				out = append(out, strings.Trim(f, "<>,;"))
			}
		}
	}
	return out
}

func looseID(v string) string {
	if ids := looseIDs(v); len(ids) > 0 {
		return ids[0]
	}
	return ""
}

var addrRe = regexp.MustCompile(`[A-Za-z0-9._%+\-=']{1,64}@[A-Za-z0-9.\-]{1,253}\.[A-Za-z]{2,63}`)

// firstAddress finds an address in text that does not parse as an address
// list.
func firstAddress(v string) string {
	if a := addrRe.FindString(v); a != "" {
		return normalAddress(a)
	}
	return ""
}

// normalAddress lower-cases the domain as models.NormalizeEmail does, and
// keeps a malformed address as it is (lower-cased) so it can still be shown.
func normalAddress(a string) string {
	if n, err := models.NormalizeEmail(a); err == nil {
		return n
	}
	return strings.ToLower(cleanLine(a))
}

// cleanLine makes a header value one line of valid UTF-8 without control
// characters (a NUL cannot be stored in PostgreSQL text).
func cleanLine(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}

// salvageHeaders pulls the fields matching needs out of a header block the
// MIME reader refused, line by line.
func salvageHeaders(m *Message, raw []byte) {
	head, _ := splitAtBlankLine(raw)
	if len(head) > maxReportBytes {
		head = head[:maxReportBytes]
	}
	for _, line := range strings.Split(string(head), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "message-id":
			m.MessageID = looseID(v)
		case "in-reply-to":
			m.InReplyTo = looseIDs(v)
		case "references":
			m.References = looseIDs(v)
		case "from":
			m.From = firstAddress(v)
		case "subject":
			m.Subject = cleanLine(v)
		case "date":
			if d, err := netmail.ParseDate(v); err == nil {
				m.Date = d
			}
		}
	}
}

// splitAtBlankLine cuts raw at its first blank line (CRLF or LF) into the
// header and the body; without one, all of raw is the header.
func splitAtBlankLine(raw []byte) (head, body []byte) {
	lf, crlf := bytes.Index(raw, []byte("\n\n")), bytes.Index(raw, []byte("\r\n\r\n"))
	switch {
	case crlf >= 0 && (lf < 0 || crlf < lf):
		return raw[:crlf], raw[crlf+4:]
	case lf >= 0:
		return raw[:lf], raw[lf+2:]
	}
	return raw, nil
}

// bodyOf is what follows the first blank line of raw, or raw when it has
// none.
func bodyOf(raw []byte) []byte {
	if _, body := splitAtBlankLine(raw); body != nil {
		return body
	}
	return raw
}

// rawText keeps the first bytes of an unreadable message as valid UTF-8.
func rawText(raw []byte) string {
	if len(raw) > maxStoredRaw {
		raw = raw[:maxStoredRaw]
	}
	return toUTF8(raw)
}

// toUTF8 returns b as text: as it is when it is valid UTF-8, else read as
// Windows-1252, the usual charset of unlabelled 8-bit mail.
func toUTF8(b []byte) string {
	if utf8.Valid(b) {
		return strings.ReplaceAll(string(b), "\x00", "")
	}
	out, err := charmap.Windows1252.NewDecoder().Bytes(b)
	if err != nil {
		return strings.ToValidUTF8(string(b), "\uFFFD")
	}
	return strings.ReplaceAll(string(out), "\x00", "")
}

// walker collects the readable parts of a MIME tree.
type walker struct {
	m         *Message
	plain     []string
	html      []string
	textBytes int
	partsSeen int
	errs      []string
}

var errTooDeep = errors.New("MIME nesting too deep")

func (w *walker) note(err error) {
	if len(w.errs) < 5 {
		w.errs = append(w.errs, err.Error())
	}
}

// walk visits p; inReport is set below a multipart/report, whose embedded
// message is the bounced original rather than an attachment.
func (w *walker) walk(p *part, depth int, inReport bool) error {
	mt, params := p.mt, p.params
	if p.cterr != nil {
		// An unreadable Content-Type means text/plain (RFC 2045 §5.2).
		mt, params = "text/plain", map[string]string{}
	}
	if strings.HasPrefix(mt, "multipart/") {
		if depth >= maxDepth {
			return errTooDeep
		}
		if params["boundary"] == "" {
			// A multipart without a boundary cannot be split; read it as
			// text so its words are not lost.
			return w.text(p, "text/plain")
		}
		next := p.parts(params["boundary"])
		report := inReport || mt == "multipart/report"
		for {
			part, err := next()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if errors.Is(err, errSlowPath) {
				return err
			}
			if err != nil && part == nil {
				return fmt.Errorf("multipart: %w", err)
			}
			if err != nil {
				w.note(err)
			}
			w.partsSeen++
			if w.partsSeen > maxParts {
				return fmt.Errorf("more than %d MIME parts", maxParts)
			}
			if err := w.walk(part, depth+1, report); err != nil {
				return err
			}
		}
	}
	disp, dparams, err := p.h.ContentDisposition()
	if err != nil {
		// A value whose parameters do not parse (an unquoted file name
		// with spaces, as some mailers write it) still says what the part
		// is: go-message answers it whole.
		t, _, _ := strings.Cut(disp, ";")
		disp = strings.ToLower(strings.TrimSpace(t))
	}
	attachment := disp == "attachment" || (dparams["filename"] != "" && !strings.HasPrefix(mt, "text/"))
	switch {
	case mt == "message/delivery-status" || mt == "message/global-delivery-status":
		b, err := io.ReadAll(io.LimitReader(p.body(), maxReportBytes))
		if err != nil {
			w.note(err)
		}
		w.m.DSN = parseDSN(b, w.m.DSN)
		return nil
	case mt == "message/rfc822" || mt == "message/global" || mt == "text/rfc822-headers" ||
		mt == "message/rfc822-headers" || mt == "message/global-headers":
		w.embedded(p.body())
		if !inReport {
			w.m.Attachments++
		}
		return nil
	case attachment:
		w.m.Attachments++
		return nil
	case mt == "text/plain" || mt == "text/html" || mt == "text/enriched":
		return w.text(p, mt)
	default:
		w.m.Attachments++
		return nil
	}
}

// embedded reads the header of an attached message: the original of a
// bounce names itself there.
func (w *walker) embedded(body io.Reader) {
	// The header is all that is read: a small buffer (ReadHeader reads
	// longer lines in several pieces).
	br := bufio.NewReaderSize(io.LimitReader(body, maxReportBytes), 1024)
	h, err := textproto.ReadHeader(br)
	if err != nil && h.Len() == 0 {
		return
	}
	mh := mail.Header{Header: message.Header{Header: h}}
	if id, err := mh.MessageID(); err == nil && id != "" {
		w.m.EmbeddedIDs = append(w.m.EmbeddedIDs, id)
	} else if id := looseID(mh.Get("Message-Id")); id != "" {
		w.m.EmbeddedIDs = append(w.m.EmbeddedIDs, id)
	}
}

func (w *walker) text(p *part, mt string) error {
	if mt == "text/html" && len(w.plain) > 0 {
		// The plain alternative is what is read; rendering the HTML one too
		// would be wasted work.
		return nil
	}
	room := maxTotalText - w.textBytes
	if room <= 0 {
		return nil
	}
	b, err := p.text(min(room, maxTextBytes))
	if err != nil {
		// Keep what was decoded before the damage (bad base64, cut message).
		w.note(fmt.Errorf("%s part: %w", mt, err))
	}
	w.textBytes += len(b)
	s := toUTF8(b)
	if mt == "text/html" {
		w.html = append(w.html, s)
	} else {
		w.plain = append(w.plain, s)
	}
	return nil
}

func (w *walker) finish() {
	m := w.m
	plain := strings.TrimSpace(strings.Join(w.plain, "\n\n"))
	switch {
	case plain != "":
		m.Text = normalizeText(plain)
	case len(w.html) > 0:
		m.Text = normalizeText(HTMLToText(strings.Join(w.html, "\n")))
		m.FromHTML = true
	}
	if len(w.errs) > 0 {
		m.ParseError = strings.Join(w.errs, "; ")
	}
}

// normalizeText makes line ends \n and no-break spaces plain spaces, drops
// trailing spaces and runs of more than one blank line, and trims the
// result: in one pass and one allocation (it runs on every message's text).
func normalizeText(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	blank, lines := 0, 0
	for {
		line, rest, more := s, "", false
		if end := strings.IndexAny(s, "\r\n"); end >= 0 {
			line, rest, more = s[:end], s[end+1:], true
			if s[end] == '\r' && strings.HasPrefix(rest, "\n") {
				rest = rest[1:]
			}
		}
		line = trimRightBlank(line)
		if line == "" {
			blank++
		} else {
			blank = 0
		}
		if blank <= 1 {
			if lines > 0 {
				b.WriteByte('\n')
			}
			lines++
			for {
				i := strings.Index(line, "\u00a0")
				if i < 0 {
					break
				}
				b.WriteString(line[:i])
				b.WriteByte(' ')
				line = line[i+len("\u00a0"):]
			}
			b.WriteString(line)
		}
		if !more {
			break
		}
		s = rest
	}
	return strings.TrimSpace(b.String())
}

// trimRightBlank drops the spaces, tabs and no-break spaces ending s.
func trimRightBlank(s string) string {
	for {
		switch {
		case strings.HasSuffix(s, " "), strings.HasSuffix(s, "\t"):
			s = s[:len(s)-1]
		case strings.HasSuffix(s, "\u00a0"):
			s = s[:len(s)-len("\u00a0")]
		default:
			return s
		}
	}
}
