package models

import (
	"html"
	"sort"
	"strings"
)

// KnownPlaceholders are the names a template may use (SPEC §4 Email).
var KnownPlaceholders = []string{
	"name", "website", "website_title", "topic", "your_name", "your_site", "keyword", "keywords",
}

// RenderResult is a rendered text and what was wrong with its placeholders.
type RenderResult struct {
	Text string
	// Unknown placeholders are names outside KnownPlaceholders; they are
	// left in the text as written.
	Unknown []string
	// Unfilled placeholders are known names whose value is empty for this
	// lead; they render as nothing.
	Unfilled []string
}

// HTMLValues are values escaped for an HTML body: a lead's title or name
// is text ("Tom & Jerry <Reviews>"), and a scraped or imported one must not
// put markup (an image, a link) into the agency's e-mail.
func HTMLValues(values map[string]string) map[string]string {
	out := make(map[string]string, len(values))
	for k, v := range values {
		out[k] = html.EscapeString(v)
	}
	return out
}

// PlaceholderValues builds the values a lead and its campaign give to the
// known placeholders.
func PlaceholderValues(c Campaign, l Lead) map[string]string {
	topic := c.Settings.Topic
	if topic == "" && len(c.Keywords) > 0 {
		topic = c.Keywords[0]
	}
	keyword := ""
	if len(c.Keywords) > 0 {
		keyword = c.Keywords[0]
	}
	return map[string]string{
		"name":          l.ContactName,
		"website":       l.WebsiteURL,
		"website_title": l.WebsiteTitle,
		"topic":         topic,
		"your_name":     c.Settings.Sender.Name,
		"your_site":     c.Settings.Sender.Site,
		"keyword":       keyword,
		"keywords":      strings.Join(c.Keywords, ", "),
	}
}

// Render replaces {placeholder} names in text. A placeholder is "{" then
// lower-case letters, digits or "_" then "}"; anything else in braces is
// literal text, and "{{" / "}}" write a single brace.
func Render(text string, values map[string]string) RenderResult {
	var b strings.Builder
	b.Grow(len(text))
	unknown := map[string]bool{}
	unfilled := map[string]bool{}
	for i := 0; i < len(text); {
		c := text[i]
		if c == '{' && i+1 < len(text) && text[i+1] == '{' {
			b.WriteByte('{')
			i += 2
			continue
		}
		if c == '}' && i+1 < len(text) && text[i+1] == '}' {
			b.WriteByte('}')
			i += 2
			continue
		}
		if c == '{' {
			if end := placeholderEnd(text, i+1); end > 0 {
				name := text[i+1 : end]
				v, known := values[name]
				switch {
				case !known:
					unknown[name] = true
					b.WriteString(text[i : end+1])
				case strings.TrimSpace(v) == "":
					unfilled[name] = true
				default:
					b.WriteString(v)
				}
				i = end + 1
				continue
			}
		}
		b.WriteByte(c)
		i++
	}
	return RenderResult{Text: b.String(), Unknown: sortedKeys(unknown), Unfilled: sortedKeys(unfilled)}
}

// placeholderEnd returns the index of the "}" closing a placeholder name
// starting at i, or -1. Names are lower-case; a name in another case or
// with spaces ("{Name}", "{ name }") is read too, so that it is reported
// as unknown (it would go out as written) instead of passing unnoticed;
// "{{" writes a literal brace.
func placeholderEnd(text string, i int) int {
	letters := false
	for j := i; j < len(text) && j-i <= 64; j++ {
		c := text[j]
		switch {
		case c == '}':
			if !letters {
				return -1
			}
			return j
		case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9':
			letters = true
		case c == ' ':
		default:
			return -1
		}
	}
	return -1
}

func sortedKeys(m map[string]bool) []string {
	if len(m) == 0 {
		return nil
	}
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
