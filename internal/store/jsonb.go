package store

import "time"

// SQLite's binary JSON (JSONB, https://sqlite.org/jsonb.html), written here
// for the lists and rows a statement expands with jsonb_each: SQLite reads it without
// parsing text (a page of replies as text JSON cost it a conversion to
// JSONB, then unescaping every body on the way out), and strings need no
// escaping (TEXTRAW holds them as they are).
//
// Every element is a header, then a payload: the header's first byte holds
// the type (low 4 bits) and the payload size (high 4 bits, 0-11), or says
// that the size follows in 1, 2, 4 or 8 big-endian bytes (12-15).
const (
	jsonbNull    = 0x0
	jsonbInt     = 0x3
	jsonbTextRaw = 0xa
	jsonbArray   = 0xb
)

// appendJSONBHeader appends the header of an element of type typ with an
// n-byte payload, in the fewest bytes.
func appendJSONBHeader(b []byte, typ byte, n int) []byte {
	u := uint64(n) //nolint:gosec // a payload size: never negative
	switch {
	case u <= 11:
		return append(b, byte(u)<<4|typ)
	case u <= 0xff:
		return append(b, 12<<4|typ, byte(u))
	case u <= 0xffff:
		return append(b, 13<<4|typ, byte(u>>8), byte(u&0xff))
	case u <= 0xffffffff:
		return append(b, 14<<4|typ, byte(u>>24), byte(u>>16&0xff), byte(u>>8&0xff), byte(u&0xff))
	}
	b = append(b, 15<<4|typ)
	for shift := 56; shift >= 0; shift -= 8 {
		b = append(b, byte(u>>shift&0xff))
	}
	return b
}

// appendJSONBText appends s as a string, read back as the same bytes.
func appendJSONBText(b []byte, s string) []byte {
	return append(appendJSONBHeader(b, jsonbTextRaw, len(s)), s...)
}

// appendJSONBTextPtr appends *p, or null for nil.
func appendJSONBTextPtr(b []byte, p *string) []byte {
	if p == nil {
		return append(b, jsonbNull)
	}
	return appendJSONBText(b, *p)
}

// appendJSONBTime appends t as text in the SQLite driver's format.
func appendJSONBTime(b []byte, t time.Time) []byte {
	var buf [48]byte
	f := t.AppendFormat(buf[:0], sqliteTime)
	return append(appendJSONBHeader(b, jsonbTextRaw, len(f)), f...)
}

// appendJSONBBool appends v as the integer 1 or 0, as the driver binds a
// bool.
func appendJSONBBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1<<4|jsonbInt, '1')
	}
	return append(b, 1<<4|jsonbInt, '0')
}

// jsonbMaxHeader is the longest header.
const jsonbMaxHeader = 9

// prependJSONBArrayHeader makes buf, whose first jsonbMaxHeader bytes are
// room left for it and the rest encoded elements, an array: it writes the
// header just before the elements and answers the array.
func prependJSONBArrayHeader(buf []byte) []byte {
	var h [jsonbMaxHeader]byte
	hdr := appendJSONBHeader(h[:0], jsonbArray, len(buf)-jsonbMaxHeader)
	start := jsonbMaxHeader - len(hdr)
	copy(buf[start:], hdr)
	return buf[start:]
}

// appendJSONBArray appends the elements already encoded in elems as an
// array.
func appendJSONBArray(b, elems []byte) []byte {
	return append(appendJSONBHeader(b, jsonbArray, len(elems)), elems...)
}

// jsonbStrings is ss as a JSONB array of strings.
func jsonbStrings(ss []string) []byte {
	n := jsonbMaxHeader
	for _, s := range ss {
		n += jsonbMaxHeader + len(s)
	}
	buf := make([]byte, jsonbMaxHeader, n)
	for _, s := range ss {
		buf = appendJSONBText(buf, s)
	}
	return prependJSONBArrayHeader(buf)
}
