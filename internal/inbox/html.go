package inbox

import (
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// HTMLToText renders an HTML mail body as plain text for classification.
// Quoted history (blockquote, Gmail/Outlook/Thunderbird reply containers)
// comes out as "> " lines, which StripQuoted then removes, and signature
// containers are dropped, so an HTML reply strips like a plain one.
func HTMLToText(src string) string {
	z := html.NewTokenizer(strings.NewReader(src))
	r := &htmlRenderer{}
	// Depth of elements whose content is skipped (script, style, head,
	// signatures) and of quoting elements, tracked by tag so that unclosed
	// tags in sloppy mail HTML cannot swallow the rest of the body.
	var stack []htmlFrame
	// rest is set once Outlook on the web's reply header block has ended:
	// the message it introduces follows it, outside it.
	rest := false
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			return r.String()
		case html.TextToken:
			text := z.Text()
			if n := len(stack); n > 0 && stack[n-1].tag == atom.Head && strings.TrimFunc(string(text), isHTMLSpace) != "" {
				// Text ends the head (its end tag is optional).
				stack = stack[:n-1]
			}
			if skipping(stack) {
				continue
			}
			r.text(string(text))
		case html.StartTagToken, html.SelfClosingTagToken:
			name, hasAttr := z.TagName()
			a := atom.Lookup(name)
			if !headContent(a) {
				// So does any element that cannot be in it (<body>, <p>).
				stack = closeHead(stack)
			}
			var class, id, typ string
			for hasAttr {
				var k, v []byte
				k, v, hasAttr = z.TagAttr()
				switch string(k) {
				case "class":
					class = string(v)
				case "id":
					id = string(v)
				case "type":
					typ = string(v)
				}
			}
			if voidElement(a) || tt == html.SelfClosingTagToken {
				if a == atom.Br || a == atom.Hr {
					r.newline()
				}
				if a == atom.Img {
					continue
				}
				continue
			}
			f := htmlFrame{tag: a, name: string(name)}
			switch {
			case a == atom.Script || a == atom.Style || a == atom.Head || a == atom.Title || a == atom.Template:
				f.skip = true
			case signatureContainer(class, id):
				f.skip = true
			case a == atom.Blockquote || typ == "cite" || quoteContainer(class, id):
				f.quote = true
				// Outlook on the web puts only the From/Sent/To/Subject
				// lines in its container, the quoted message after it.
				f.quoteAfter = strings.Contains(strings.ToLower(class+" "+id), "divrplyfwdmsg")
				r.newline()
			}
			if blockElement(a) {
				r.newline()
			}
			if a == atom.Li {
				r.text("- ")
			}
			stack = append(stack, f)
			r.quote = rest || quoting(stack)
		case html.EndTagToken:
			name, _ := z.TagName()
			a := atom.Lookup(name)
			// Pop to the matching open element, closing any left open.
			for i := len(stack) - 1; i >= 0; i-- {
				if stack[i].tag == a && stack[i].name == string(name) {
					for _, f := range stack[i:] {
						rest = rest || f.quoteAfter
					}
					stack = stack[:i]
					break
				}
			}
			r.quote = rest || quoting(stack)
			if blockElement(a) || a == atom.Blockquote {
				r.newline()
			}
		}
	}
}

type htmlFrame struct {
	tag   atom.Atom
	name  string
	skip  bool
	quote bool
	// quoteAfter: what follows the element is quoted too.
	quoteAfter bool
}

// headContent reports whether an element may stand in <head>; any other
// start tag closes a head left open, as an HTML parser would.
func headContent(a atom.Atom) bool {
	switch a {
	case atom.Head, atom.Base, atom.Link, atom.Meta, atom.Script, atom.Style, atom.Title, atom.Noscript, atom.Template,
		atom.Basefont, atom.Bgsound:
		return true
	}
	return false
}

// closeHead pops an open head element and what is open inside it.
func closeHead(stack []htmlFrame) []htmlFrame {
	for i, f := range stack {
		if f.tag == atom.Head {
			return stack[:i]
		}
	}
	return stack
}

func skipping(stack []htmlFrame) bool {
	for _, f := range stack {
		if f.skip {
			return true
		}
	}
	return false
}

func quoting(stack []htmlFrame) bool {
	for _, f := range stack {
		if f.quote {
			return true
		}
	}
	return false
}

func signatureContainer(class, id string) bool {
	c := strings.ToLower(class + " " + id)
	return strings.Contains(c, "gmail_signature") || strings.Contains(c, "moz-signature") ||
		strings.EqualFold(id, "signature") || strings.Contains(c, "x_signature") ||
		strings.Contains(c, "applesignature")
}

func quoteContainer(class, id string) bool {
	c := strings.ToLower(class + " " + id)
	return strings.Contains(c, "gmail_quote") || strings.Contains(c, "yahoo_quoted") ||
		strings.Contains(c, "divrplyfwdmsg") || strings.Contains(c, "protonmail_quote") ||
		strings.Contains(c, "moz-forward-container") || strings.Contains(c, "zmail_extra")
}

func voidElement(a atom.Atom) bool {
	switch a {
	case atom.Br, atom.Hr, atom.Img, atom.Meta, atom.Link, atom.Input, atom.Col, atom.Area, atom.Base, atom.Wbr, atom.Source:
		return true
	}
	return false
}

func blockElement(a atom.Atom) bool {
	switch a {
	case atom.P, atom.Div, atom.Tr, atom.Li, atom.Ul, atom.Ol, atom.Table, atom.H1, atom.H2, atom.H3,
		atom.H4, atom.H5, atom.H6, atom.Pre, atom.Section, atom.Article, atom.Header, atom.Footer,
		atom.Body, atom.Center, atom.Dl, atom.Dt, atom.Dd:
		return true
	}
	return false
}

// htmlRenderer accumulates text with collapsed whitespace, line by line, and
// prefixes lines inside quotes with "> ".
type htmlRenderer struct {
	lines []string
	cur   strings.Builder
	quote bool
	// lineQuoted records whether the current line started inside a quote.
	lineQuoted bool
	space      bool
}

func (r *htmlRenderer) text(s string) {
	if s == "" {
		return
	}
	if isHTMLSpace(rune(s[0])) {
		r.space = true
	}
	for i, f := range strings.FieldsFunc(s, isHTMLSpace) {
		if r.cur.Len() == 0 {
			r.lineQuoted = r.quote
		} else if r.space || i > 0 {
			r.cur.WriteByte(' ')
		}
		r.cur.WriteString(f)
		r.space = false
	}
	// Inline text split by tags ("<b>Hi</b>there") stays joined unless the
	// source had a space there.
	r.space = isHTMLSpace(rune(s[len(s)-1]))
}

func isHTMLSpace(r rune) bool {
	return r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '\f' || r == '\u00a0'
}

func (r *htmlRenderer) newline() {
	line := r.cur.String()
	if r.lineQuoted && line != "" {
		line = "> " + line
	}
	r.lines = append(r.lines, line)
	r.cur.Reset()
	r.space = false
	r.lineQuoted = false
}

func (r *htmlRenderer) String() string {
	if r.cur.Len() > 0 {
		r.newline()
	}
	return normalizeText(strings.Join(r.lines, "\n"))
}
