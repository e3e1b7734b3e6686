package inbox

import (
	"bytes"
	"mime/quotedprintable"
	"strings"
	"testing"
)

// FuzzDecodeQP holds decodeQP to mime/quotedprintable's reader read as
// parts are read (readHinted): the same bytes and the same error, whatever
// the limit.
func FuzzDecodeQP(f *testing.F) {
	long := strings.Repeat("a", qpLineBuffer-1)
	for _, s := range []string{
		"", "plain text\r\nsecond line\r\n", "caf=C3=A9 =\r\nsoft break=\nbare lf", "trailing  \t\r\n",
		"bad =ZZ escape", "=4", "x=", "=", "=\r\n", "a=\rb\n", "a= \t\r\nb", "a=  x\r\n", "lower =c3=a9",
		"ctrl \x01 byte", "high \xff byte", "tab\there", "=0D=0A", long + "b\n", long + "bc", long + "=\n", long + "b=\r\nc",
		strings.Repeat("x", 3*qpLineBuffer+7),
	} {
		for _, limit := range []int{0, 1, 5, 1 << 20} {
			f.Add([]byte(s), limit)
		}
	}
	f.Fuzz(func(t *testing.T, src []byte, limit int) {
		if limit < 0 || limit > 1<<20 {
			return
		}
		want, wantErr := readHinted(quotedprintable.NewReader(bytes.NewReader(src)), limit, len(src))
		got, gotErr := decodeQP(src, limit)
		if !bytes.Equal(got, want) {
			t.Fatalf("decodeQP(%q, %d) = %q, the reader %q", src, limit, got, want)
		}
		if (gotErr == nil) != (wantErr == nil) || gotErr != nil && gotErr.Error() != wantErr.Error() {
			t.Fatalf("decodeQP(%q, %d) error %v, the reader's %v", src, limit, gotErr, wantErr)
		}
	})
}
