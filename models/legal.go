package models

import "strings"

// consentTLDs are the recipient country domains whose law asks for consent
// before cold e-mail (SPEC §5): the EU and EEA member states, .eu, the United
// Kingdom and Canada. Australia and New Zealand are matched on their
// commercial second-level domains below, as the SPEC names them.
var consentTLDs = map[string]bool{
	// EU member states.
	"at": true, "be": true, "bg": true, "hr": true, "cy": true, "cz": true,
	"dk": true, "ee": true, "fi": true, "fr": true, "de": true, "gr": true,
	"hu": true, "ie": true, "it": true, "lv": true, "lt": true, "lu": true,
	"mt": true, "nl": true, "pl": true, "pt": true, "ro": true, "sk": true,
	"si": true, "es": true, "se": true, "eu": true,
	// EEA members outside the EU.
	"is": true, "li": true, "no": true,
	// United Kingdom and Canada.
	"uk": true, "ca": true,
}

// consentSuffixes are multi-label suffixes that need consent.
var consentSuffixes = []string{".com.au", ".co.nz"}

// LegalBasisFor answers the legal basis recorded for mail to addr (an
// address or a bare domain): consent for recipients under the EU/EEA
// country domains, .uk, .ca, .com.au and .co.nz, legitimate interest for
// every other domain. The decision is by domain only; the engine does not
// guess where a person lives.
func LegalBasisFor(addr string) string {
	domain := addr
	if at := strings.LastIndexByte(addr, '@'); at >= 0 {
		domain = addr[at+1:]
	}
	domain = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(domain)), ".")
	for _, s := range consentSuffixes {
		if strings.HasSuffix(domain, s) {
			return LegalBasisConsent
		}
	}
	tld := domain
	if dot := strings.LastIndexByte(domain, '.'); dot >= 0 {
		tld = domain[dot+1:]
	}
	if consentTLDs[tld] {
		return LegalBasisConsent
	}
	return LegalBasisLegitimateInterest
}
