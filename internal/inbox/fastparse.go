package inbox

import (
	"bytes"
	"errors"
	"io"
	"strings"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/textproto"
)

// go-message reads a message as a stream: a 4 KB bufio reader for the
// message and another for every MIME part, and every header line copied
// into its own buffer. For a poll that was most of the parsing time and
// most of the garbage. A message fetched from IMAP is already in memory, so
// Parse cuts it in place instead: splitHeader finds the header fields and
// where the body starts, partSplitter the parts of a multipart body, both by
// the rules of go-message's readers (textproto.ReadHeader and
// textproto.MultipartReader), and only the fields Parse reads are handed to
// go-message (Header.AddRaw). Decoding (transfer encodings, charsets) and
// everything after it is go-message and this package's code either way.
//
// The in-place reader takes only the well-formed shapes; anything else (a
// header that does not end in a blank line, a folded first line, a field
// without a name, a multipart without its closing delimiter) answers
// errSlowPath and the message is parsed again by go-message's reader, which
// decides how to read the damage. TestFastParseMatchesReader and FuzzParse
// hold the two readers to the same answer.

// errSlowPath says a message is not in a shape the in-place reader takes.
var errSlowPath = errors.New("message needs the streaming reader")

// maxFastHeader bounds a header block read in place; go-message's own
// limit is 1 MB, and a larger block than this is left to it.
const maxFastHeader = 256 << 10

// parsedFields are the header fields Parse reads (lower-case), by length,
// so a field is checked against the few names of its length.
var parsedFields = func() map[int][]string {
	m := map[int][]string{}
	for _, f := range []string{
		"message-id", "in-reply-to", "references", "from", "to", "subject", "date",
		"auto-submitted", "x-autoreply", "x-autorespond", "x-autoresponder", "precedence", "return-path",
		"x-failed-recipients", "content-type", "content-disposition", "content-transfer-encoding",
	} {
		m[len(f)] = append(m[len(f)], f)
	}
	return m
}()

func isParsedField(key []byte) bool {
	for _, f := range parsedFields[len(key)] {
		if bytes.EqualFold(key, []byte(f)) {
			return true
		}
	}
	return false
}

func isSpaceTab(c byte) bool { return c == ' ' || c == '\t' }

// trimSpaceTab is bytes.Trim(b, " \t") without building its byte set.
func trimSpaceTab(b []byte) []byte {
	for len(b) > 0 && isSpaceTab(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isSpaceTab(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

// splitHeader reads the header block at the start of b as
// textproto.ReadHeader would, keeping the fields Parse reads, and answers
// the body after the blank line. The fields keep their order for Get (the
// first of a repeated field wins, as with ReadHeader).
func splitHeader(b []byte) (textproto.Header, []byte, error) {
	var h textproto.Header
	if len(b) > 0 && isSpaceTab(b[0]) {
		return h, nil, errSlowPath // ReadHeader refuses a folded first line
	}
	var keptBuf [24][]byte // a message's parsed fields, without allocating
	kept := keptBuf[:0]
	pos := 0
	for {
		if pos > maxFastHeader {
			return h, nil, errSlowPath
		}
		n := bytes.IndexByte(b[pos:], '\n')
		if n < 0 {
			return h, nil, errSlowPath // no blank line: the header runs to the end
		}
		if line := b[pos : pos+n]; len(line) == 0 || len(line) == 1 && line[0] == '\r' {
			pos += n + 1
			break
		}
		start := pos
		pos += n + 1
		// Continuation lines begin with a space or a tab.
		for pos < len(b) && isSpaceTab(b[pos]) {
			n := bytes.IndexByte(b[pos:], '\n')
			if n < 0 {
				return h, nil, errSlowPath
			}
			pos += n + 1
		}
		kv := b[start:pos]
		colon := bytes.IndexByte(kv, ':')
		if colon < 0 {
			return h, nil, errSlowPath
		}
		key := trimSpaceTab(kv[:colon])
		if len(key) == 0 {
			return h, nil, errSlowPath
		}
		for _, c := range key {
			if c < 33 || c > 126 {
				return h, nil, errSlowPath
			}
		}
		if isParsedField(key) {
			kept = append(kept, kv)
		}
	}
	// Get answers the field added last; ReadHeader's header answers the
	// first in the message.
	for i := len(kept) - 1; i >= 0; i-- {
		h.AddRaw(kept[i])
	}
	return h, b[pos:], nil
}

// partSplitter walks the parts of a multipart body held in memory, by the
// rules of textproto.MultipartReader: delimiter lines are "--boundary" with
// optional spaces and the line end of the first delimiter (CRLF, or LF
// for mail written with bare line feeds), a part ends before the line end
// preceding the next delimiter, and "--boundary--" ends the body.
type partSplitter struct {
	data  []byte
	pos   int
	parts int
	// nl is "\r\n" until the first delimiter line says "\n".
	nl, nlDash, dash, dashDash []byte
}

func newPartSplitter(data []byte, boundary string) *partSplitter {
	b := []byte("\r\n--" + boundary + "--")
	return &partSplitter{data: data, nl: b[:2], nlDash: b[:len(b)-2], dash: b[2 : len(b)-2], dashDash: b[2:]}
}

// line is the next line with its line feed; eof is set when it has none.
func (s *partSplitter) line() (line []byte, eof bool) {
	rest := s.data[s.pos:]
	n := bytes.IndexByte(rest, '\n')
	if n < 0 {
		s.pos = len(s.data)
		return rest, true
	}
	s.pos += n + 1
	return rest[:n+1], false
}

func (s *partSplitter) isFinal(line []byte) bool {
	rest, ok := bytes.CutPrefix(line, s.dashDash)
	if !ok {
		return false
	}
	rest = bytes.TrimLeft(rest, " \t")
	return len(rest) == 0 || bytes.Equal(rest, s.nl)
}

func (s *partSplitter) isDelimiter(line []byte) bool {
	rest, ok := bytes.CutPrefix(line, s.dash)
	if !ok {
		return false
	}
	rest = bytes.TrimLeft(rest, " \t")
	if s.parts == 0 && len(rest) == 1 && rest[0] == '\n' {
		s.nl, s.nlDash = s.nl[1:], s.nlDash[1:]
	}
	return bytes.Equal(rest, s.nl)
}

// next answers the next part's bytes (header and body), or done after the
// final delimiter. A body that does not follow the rules answers
// errSlowPath.
func (s *partSplitter) next() (part []byte, done bool, err error) {
	if len(s.dash) == 2 {
		return nil, false, errSlowPath // an empty boundary
	}
	expectPart := false
	for {
		line, eof := s.line()
		if eof {
			if s.isFinal(line) {
				return nil, true, nil
			}
			return nil, false, errSlowPath
		}
		switch {
		case s.isDelimiter(line):
			s.parts++
			return s.data[s.pos:], false, nil
		case s.isFinal(line):
			return nil, true, nil
		case expectPart:
			return nil, false, errSlowPath
		case s.parts == 0:
			continue // the preamble
		case bytes.Equal(line, s.nl):
			expectPart = true // the line end before a delimiter
		default:
			return nil, false, errSlowPath
		}
	}
}

// endBody answers the body of the current part, which starts at body (a
// suffix of the data), and moves past it.
func (s *partSplitter) endBody(body []byte) ([]byte, error) {
	start := len(s.data) - len(body)
	// A delimiter ends a part when followed by a dash, a space, a tab, a
	// line end or the end of the data; "--boundary" at the very start of a
	// body counts too.
	ends := func(at int) bool {
		if at == len(s.data) {
			return true
		}
		switch s.data[at] {
		case '-', ' ', '\t', '\r', '\n':
			return true
		}
		return false
	}
	from := start
	if bytes.HasPrefix(body, s.dash) {
		if ends(start + len(s.dash)) {
			s.pos = start
			return body[:0], nil
		}
		from = start + len(s.dash)
	}
	for {
		i := bytes.Index(s.data[from:], s.nlDash)
		if i < 0 {
			return nil, errSlowPath // the data ends inside the part
		}
		at := from + i
		if ends(at + len(s.nlDash)) {
			s.pos = at
			return s.data[start:at], nil
		}
		from = at + len(s.nlDash)
	}
}

// part is one MIME entity on its way through walk: its header, its
// Content-Type read once (as go-message reads it: the raw value when it
// does not parse, and cterr), and its body. Read in place, the body is the
// undecoded bytes, decoded by text without a reader where go-message would
// do no more than the transfer encoding; go-message's entity is built only
// when a step needs its reader (and at once when it has an unknown
// encoding or charset to report). Streamed, the body is go-message's.
type part struct {
	h       message.Header
	mt      string
	params  map[string]string
	cterr   error
	inPlace bool
	raw     []byte
	// enc is the transfer encoding go-message decodes, lower-case: none
	// for a multipart (go-message leaves its body as it is).
	enc string
	e   *message.Entity
}

// partInPlace is a part read in place, answering the error message.New
// gives it.
func partInPlace(h message.Header, raw []byte) (*part, error) {
	p := &part{h: h, raw: raw, inPlace: true}
	p.mt, p.params, p.cterr = h.ContentType()
	// message.New decodes the transfer encoding of all but multiparts, and
	// the charset of text/* when one is named.
	if !strings.HasPrefix(p.mt, "multipart/") {
		p.enc = strings.ToLower(h.Get("Content-Transfer-Encoding"))
	}
	if !knownEncoding(p.enc) || strings.HasPrefix(p.mt, "text/") && !plainCharset(p.params) {
		var err error
		p.e, err = message.New(h, bytes.NewReader(raw))
		return p, err
	}
	return p, nil
}

func streamedPart(e *message.Entity) *part {
	p := &part{h: e.Header, e: e}
	p.mt, p.params, p.cterr = e.Header.ContentType()
	return p
}

// knownEncoding reports whether go-message decodes enc (lower-case).
func knownEncoding(enc string) bool {
	switch enc {
	case "quoted-printable", "base64", "7bit", "8bit", "binary", "":
		return true
	}
	return false
}

// plainCharset reports whether go-message reads the charset named in
// params as it is.
func plainCharset(params map[string]string) bool {
	ch, ok := params["charset"]
	if !ok {
		return true
	}
	ch = strings.ToLower(ch)
	return ch == "utf-8" || ch == "us-ascii"
}

// body is the decoding reader of the part.
func (p *part) body() io.Reader {
	if p.e == nil {
		// partInPlace built every part message.New reports on: this one
		// has no error to give.
		p.e, _ = message.New(p.h, bytes.NewReader(p.raw))
	}
	return p.e.Body
}

// text reads the decoded body, up to limit bytes, as readHinted reads
// go-message's reader: in place without it for the usual encodings.
func (p *part) text(limit int) ([]byte, error) {
	if p.inPlace && p.e == nil {
		switch p.enc {
		case "quoted-printable":
			return decodeQP(p.raw, limit)
		case "7bit", "8bit", "binary", "":
			return p.raw[:min(len(p.raw), limit)], nil
		}
	}
	return readHinted(p.body(), limit, len(p.raw))
}

// parts iterates over the parts of a multipart: in place over its body,
// or with go-message's reader. The end is io.EOF.
func (p *part) parts(boundary string) func() (*part, error) {
	if !p.inPlace {
		mr := p.e.MultipartReader()
		return func() (*part, error) {
			e, err := mr.NextPart()
			if e == nil {
				return nil, err
			}
			return streamedPart(e), err
		}
	}
	sp := newPartSplitter(p.raw, boundary)
	return func() (*part, error) {
		b, done, err := sp.next()
		if done {
			return nil, io.EOF
		}
		if err != nil {
			return nil, err
		}
		h, body, err := splitHeader(b)
		if err != nil {
			return nil, err
		}
		if body, err = sp.endBody(body); err != nil {
			return nil, err
		}
		return partInPlace(message.Header{Header: h}, body)
	}
}

// readHinted reads r to the end or to limit bytes, like io.ReadAll with a
// limit, into a buffer sized for hint bytes (the encoded body, which its
// decoding rarely outgrows) rather than grown from 512.
func readHinted(r io.Reader, limit, hint int) ([]byte, error) {
	buf := bytes.NewBuffer(make([]byte, 0, min(limit, hint)+bytes.MinRead))
	_, err := buf.ReadFrom(io.LimitReader(r, int64(limit)))
	return buf.Bytes(), err
}
