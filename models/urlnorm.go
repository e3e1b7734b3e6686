package models

import (
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"sort"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// ErrInvalidURL is returned for anything that is not an http(s) URL with a host.
var ErrInvalidURL = errors.New("invalid website url")

// trackingParams are query parameters that never change the page a URL
// names; prefixes end in "_".
var trackingParams = []string{
	"utm_", "fbclid", "gclid", "dclid", "gbraid", "wbraid", "msclkid", "mc_cid", "mc_eid",
	"yclid", "igshid", "_hsenc", "_hsmi", "mkt_tok", "ref_src", "oly_anon_id", "oly_enc_id",
	"vero_id", "_ga", "_gl", "spm", "s_cid",
}

func isTrackingParam(name string) bool {
	n := strings.ToLower(name)
	for _, p := range trackingParams {
		if strings.HasSuffix(p, "_") && strings.HasPrefix(n, p) {
			return true
		}
		if n == p {
			return true
		}
	}
	return false
}

// CheckWebsiteURL accepts only absolute http(s) URLs with a host and returns
// the trimmed URL as it should be stored and shown.
func CheckWebsiteURL(raw string) (string, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return "", fmt.Errorf("%w: empty", ErrInvalidURL)
	}
	if len(s) > 2048 {
		return "", fmt.Errorf("%w: longer than 2048 characters", ErrInvalidURL)
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("%w: %s", ErrInvalidURL, "cannot be parsed")
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return "", fmt.Errorf("%w: only http and https URLs are accepted", ErrInvalidURL)
	}
	host := u.Hostname()
	if host == "" || u.Opaque != "" {
		return "", fmt.Errorf("%w: the URL has no host", ErrInvalidURL)
	}
	if !validHost(host) {
		return "", fmt.Errorf("%w: the host is not a valid domain name or IP address", ErrInvalidURL)
	}
	if p := u.Port(); p != "" {
		var n int
		if _, err := fmt.Sscanf(p, "%d", &n); err != nil || n < 1 || n > 65535 {
			return "", fmt.Errorf("%w: invalid port", ErrInvalidURL)
		}
	}
	return s, nil
}

// validHost accepts IP addresses and domain names whose labels are non-empty
// and made of letters, digits, hyphens (or non-ASCII letters of an IDN).
func validHost(host string) bool {
	if net.ParseIP(host) != nil {
		return true
	}
	h := strings.TrimSuffix(host, ".")
	// Bytes that are not UTF-8 would be turned into U+FFFD by lower-casing:
	// a host no resolver knows, and a key that changes when normalised again.
	if h == "" || len(h) > 253 || !utf8.ValidString(h) {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !hostLabelRune(r) {
				return false
			}
		}
	}
	// "www." alone would normalise to nothing.
	return !strings.EqualFold(h, "www")
}

// maxNormalizedURL bounds a lead's key (NormalizeURL).
const maxNormalizedURL = 2048

// NormalizeURL gives the key under which two URLs of the same page collide:
// lower-case scheme and host, no "www.", no default port, no fragment, no
// tracking parameters, the remaining query sorted, no trailing slash. The
// scheme is kept out of the key so http and https of one site collide.
func NormalizeURL(raw string) (string, error) {
	s, err := CheckWebsiteURL(raw)
	if err != nil {
		return "", err
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("%w: cannot be parsed", ErrInvalidURL)
	}
	scheme := strings.ToLower(u.Scheme)
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	// An internationalised name in its ASCII form (IDNA's lookup mapping:
	// bücher.example, its decomposed spelling, full-width letters and
	// xn--bcher-kva.example are one site). A host IDNA refuses (an
	// underscore) stays as written.
	if ascii, err := idna.Lookup.ToASCII(host); err == nil && ascii != "" {
		host = ascii
	}
	host = strings.TrimPrefix(host, "www.")
	port := u.Port()
	if (scheme == "http" && port == "80") || (scheme == "https" && port == "443") || port == "" {
		port = ""
	}
	if port != "" {
		host = net.JoinHostPort(host, port)
	} else if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	// The path escaped afresh, not as sent: %c3%a9 and %C3%A9, ~ and %7E
	// are the same path (RFC 3986 §6.2.2).
	path := (&url.URL{Path: u.Path}).EscapedPath()
	path = strings.TrimRight(path, "/")
	q := u.Query()
	keys := make([]string, 0, len(q))
	for k := range q {
		if !isTrackingParam(k) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var qs strings.Builder
	for _, k := range keys {
		vals := append([]string(nil), q[k]...)
		sort.Strings(vals)
		for _, v := range vals {
			if qs.Len() > 0 {
				qs.WriteByte('&')
			}
			qs.WriteString(url.QueryEscape(k))
			qs.WriteByte('=')
			qs.WriteString(url.QueryEscape(v))
		}
	}
	out := host + path
	if qs.Len() > 0 {
		out += "?" + qs.String()
	}
	if len(out) > maxNormalizedURL {
		// Percent-encoding grows a non-ASCII path threefold: a URL within
		// the 2048-character limit can make a key PostgreSQL's unique
		// index cannot hold (an index row is at most ~2.7 KB).
		return "", fmt.Errorf("%w: longer than %d characters once normalised (characters outside ASCII count three times over)", ErrInvalidURL, maxNormalizedURL)
	}
	return out, nil
}

// ErrInvalidEmail is returned for an address that cannot receive mail.
var ErrInvalidEmail = errors.New("invalid email address")

// NormalizeEmail validates a bare address (no display name) and returns it
// with the domain lower-cased.
func NormalizeEmail(raw string) (string, error) {
	s := strings.TrimSpace(raw)
	if s == "" || len(s) > 254 {
		return "", ErrInvalidEmail
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s {
		return "", ErrInvalidEmail
	}
	at := strings.LastIndexByte(s, '@')
	local, domain := s[:at], strings.ToLower(s[at+1:])
	if local == "" || len(local) > 64 || !strings.Contains(domain, ".") ||
		strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") ||
		strings.HasPrefix(domain, "[") || strings.Contains(domain, "..") {
		return "", ErrInvalidEmail
	}
	for _, r := range domain {
		if !emailDomainRune(r) {
			return "", ErrInvalidEmail
		}
	}
	return local + "@" + domain, nil
}

// EmailDomain returns the lower-case domain of a normalised address.
func EmailDomain(addr string) string {
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return ""
	}
	return strings.ToLower(addr[at+1:])
}

// hostLabelRune reports whether r may appear in a host name label: letters,
// digits, '-', '_' (seen in real hosts) and any non-ASCII (IDN) rune.
func hostLabelRune(r rune) bool {
	return r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r > 127
}

// emailDomainRune reports whether r may appear in a lower-cased e-mail
// domain: letters, digits, '-', '.' and any non-ASCII (IDN) rune.
func emailDomainRune(r rune) bool {
	return r == '-' || r == '.' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r > 127
}
