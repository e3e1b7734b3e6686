package inbox

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// qpLineBuffer is the size of the bufio.Reader that
// mime/quotedprintable.NewReader reads through: a line longer than this
// comes out of it in pieces, the first with bufio.ErrBufferFull.
const qpLineBuffer = 4096

// decodeQP decodes a quoted-printable body held in memory, up to limit
// bytes: the bytes and the error that reading
// quotedprintable.NewReader(bytes.NewReader(src)) through
// io.LimitReader(limit) would give (readHinted), without the reader's
// 4 KB buffer per part. It follows the reader's leniencies line by line:
// "=\n" is a soft break too, a bare CR or LF passes through, an "=" not
// followed by two hex digits is a literal "=" unless a line end follows,
// bytes of 0x80 and above pass through, and a final "=" is ignored. An
// error is reported only when met before limit, as the limited reader
// would stop first. FuzzDecodeQP holds it to the reader.
func decodeQP(src []byte, limit int) ([]byte, error) {
	out := make([]byte, 0, min(len(src), limit))
	var line []byte
	for {
		if len(out) >= limit {
			return out, nil
		}
		// One ReadSlice('\n') of the reader's bufio.Reader.
		var chunk []byte
		var rerr error
		switch i := bytes.IndexByte(src[:min(len(src), qpLineBuffer)], '\n'); {
		case i >= 0:
			chunk, src = src[:i+1], src[i+1:]
		case len(src) >= qpLineBuffer:
			chunk, src, rerr = src[:qpLineBuffer], src[qpLineBuffer:], bufio.ErrBufferFull
		default:
			chunk, src, rerr = src, nil, io.EOF
		}
		hasLF := bytes.HasSuffix(chunk, []byte("\n"))
		hasCR := bytes.HasSuffix(chunk, []byte("\r\n"))
		trimmed := bytes.TrimRight(chunk, "\n\r \t")
		line = append(line[:0], trimmed...)
		if bytes.HasSuffix(line, []byte("=")) {
			after := bytes.TrimLeft(chunk[len(trimmed):], " \t")
			line = line[:len(line)-1]
			if !bytes.HasPrefix(after, []byte("\n")) && !bytes.HasPrefix(after, []byte("\r\n")) &&
				(len(after) != 0 || len(line) == 0 || !errors.Is(rerr, io.EOF)) {
				rerr = fmt.Errorf("quotedprintable: invalid bytes after =: %q", after)
			}
		} else if hasLF {
			if hasCR {
				line = append(line, '\r', '\n')
			} else {
				line = append(line, '\n')
			}
		}
		for len(line) > 0 {
			if len(out) >= limit {
				return out, nil
			}
			c := line[0]
			switch {
			case c == '=':
				v, err := qpHexByte(line[1:])
				if err == nil {
					c = v
					line = line[2:]
					break
				}
				if len(line) < 2 || line[1] == '\r' || line[1] == '\n' {
					return out, err
				}
				// Otherwise the "=" is taken as it is.
			case c == '\t' || c == '\r' || c == '\n' || c >= 0x80:
			case c < ' ' || c > '~':
				return out, fmt.Errorf("quotedprintable: invalid unescaped byte 0x%02x in body", c)
			}
			out = append(out, c)
			line = line[1:]
		}
		if errors.Is(rerr, io.EOF) {
			return out, nil
		}
		if rerr != nil {
			if len(out) >= limit {
				return out, nil
			}
			return out, rerr
		}
	}
}

// qpHexByte reads an escape's two hex digits (either case, as the reader
// accepts).
func qpHexByte(v []byte) (byte, error) {
	if len(v) < 2 {
		return 0, io.ErrUnexpectedEOF
	}
	hi, err := qpHexDigit(v[0])
	if err != nil {
		return 0, err
	}
	lo, err := qpHexDigit(v[1])
	if err != nil {
		return 0, err
	}
	return hi<<4 | lo, nil
}

func qpHexDigit(c byte) (byte, error) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', nil
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, nil
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, nil
	}
	return 0, fmt.Errorf("quotedprintable: invalid hex byte 0x%02x", c)
}
