package devmail

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	gomessage "github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"
)

// lazyRaw reads a message file the first time a criterion needs its
// content; most searches (UID ranges, dates, flags) never do.
type lazyRaw struct {
	path   string
	raw    []byte
	loaded bool
}

func (l *lazyRaw) bytes() []byte {
	if !l.loaded {
		l.raw, _ = os.ReadFile(l.path)
		l.loaded = true
	}
	return l.raw
}

func (l *lazyRaw) header() textproto.Header {
	h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(l.bytes())))
	if err != nil {
		return textproto.Header{}
	}
	return h
}

// matchMsg applies SEARCH criteria (RFC 9051 §6.4.4) to one message.
func matchMsg(m *imapMsg, seq uint32, c *imap.SearchCriteria, raw *lazyRaw) bool {
	for _, set := range c.SeqNum {
		if seq == 0 || !set.Contains(seq) {
			return false
		}
	}
	for _, set := range c.UID {
		if !set.Contains(m.uid) {
			return false
		}
	}
	if !matchDate(m.date, c.Since, c.Before) {
		return false
	}
	for _, f := range c.Flag {
		if !hasFlag(m.flags, f) {
			return false
		}
	}
	for _, f := range c.NotFlag {
		if hasFlag(m.flags, f) {
			return false
		}
	}
	if c.Larger != 0 && m.size <= c.Larger {
		return false
	}
	if c.Smaller != 0 && m.size >= c.Smaller {
		return false
	}
	if len(c.Header) > 0 || !c.SentSince.IsZero() || !c.SentBefore.IsZero() {
		h := mail.Header{Header: gomessage.Header{Header: raw.header()}}
		for _, hc := range c.Header {
			if !matchFields(h.FieldsByKey(hc.Key), hc.Value) {
				return false
			}
		}
		if !c.SentSince.IsZero() || !c.SentBefore.IsZero() {
			t, err := h.Date()
			if err != nil || !matchDate(t, c.SentSince, c.SentBefore) {
				return false
			}
		}
	}
	for _, text := range c.Text {
		if !matchEntity(entity(raw.bytes()), text, true) {
			return false
		}
	}
	for _, body := range c.Body {
		if !matchEntity(entity(raw.bytes()), body, false) {
			return false
		}
	}
	for i := range c.Not {
		if matchMsg(m, seq, &c.Not[i], raw) {
			return false
		}
	}
	for i := range c.Or {
		if !matchMsg(m, seq, &c.Or[i][0], raw) && !matchMsg(m, seq, &c.Or[i][1], raw) {
			return false
		}
	}
	return true
}

// matchDate compares dates only, ignoring time and zone, as SEARCH does.
func matchDate(t, since, before time.Time) bool {
	d := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	if !since.IsZero() && d.Before(since) {
		return false
	}
	if !before.IsZero() && !d.Before(before) {
		return false
	}
	return true
}

func matchFields(fields gomessage.HeaderFields, pattern string) bool {
	if pattern == "" {
		return fields.Len() > 0
	}
	pattern = strings.ToLower(pattern)
	for fields.Next() {
		v, err := fields.Text()
		if err != nil {
			v = fields.Value()
		}
		if strings.Contains(strings.ToLower(v), pattern) {
			return true
		}
	}
	return false
}

func entity(raw []byte) *gomessage.Entity {
	e, err := gomessage.Read(bytes.NewReader(raw))
	if e == nil || (err != nil && !gomessage.IsUnknownCharset(err) && !gomessage.IsUnknownEncoding(err)) {
		e, _ = gomessage.New(gomessage.Header{}, bytes.NewReader(raw))
	}
	return e
}

func matchEntity(e *gomessage.Entity, pattern string, withHeader bool) bool {
	if pattern == "" {
		return true
	}
	if withHeader && matchFields(e.Header.Fields(), pattern) {
		return true
	}
	if mr := e.MultipartReader(); mr != nil {
		for {
			part, err := mr.NextPart()
			if errors.Is(err, io.EOF) || err != nil && part == nil {
				return false
			}
			if matchEntity(part, pattern, withHeader) {
				return true
			}
		}
	}
	if t, _, err := e.Header.ContentType(); err == nil && t != "" && !strings.HasPrefix(t, "text/") && !strings.HasPrefix(t, "message/") {
		return false
	}
	body, _ := io.ReadAll(e.Body)
	return bytes.Contains(bytes.ToLower(body), bytes.ToLower([]byte(pattern)))
}
