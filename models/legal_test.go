package models

import "testing"

func TestLegalBasisFor(t *testing.T) {
	t.Parallel()
	tests := []struct {
		addr string
		want string
	}{
		{"editor@blog.de", LegalBasisConsent},
		{"editor@blog.fr", LegalBasisConsent},
		{"editor@news.co.uk", LegalBasisConsent},
		{"editor@site.uk", LegalBasisConsent},
		{"editor@site.ca", LegalBasisConsent},
		{"editor@site.com.au", LegalBasisConsent},
		{"editor@site.co.nz", LegalBasisConsent},
		{"editor@site.no", LegalBasisConsent},
		{"editor@site.is", LegalBasisConsent},
		{"editor@site.li", LegalBasisConsent},
		{"editor@site.eu", LegalBasisConsent},
		{"editor@site.gr", LegalBasisConsent},
		{"Editor@SITE.IE", LegalBasisConsent},
		{"editor@site.de.", LegalBasisConsent},
		{"blog.pl", LegalBasisConsent},
		{"editor@site.com", LegalBasisLegitimateInterest},
		{"editor@site.io", LegalBasisLegitimateInterest},
		{"editor@site.us", LegalBasisLegitimateInterest},
		{"editor@site.ch", LegalBasisLegitimateInterest},
		{"editor@site.au", LegalBasisLegitimateInterest},
		{"editor@site.org.nz", LegalBasisLegitimateInterest},
		{"editor@de.example.com", LegalBasisLegitimateInterest},
		{"editor@uk-news.com", LegalBasisLegitimateInterest},
		{"", LegalBasisLegitimateInterest},
	}
	for _, tt := range tests {
		if got := LegalBasisFor(tt.addr); got != tt.want {
			t.Errorf("LegalBasisFor(%q) = %s, want %s", tt.addr, got, tt.want)
		}
	}
}
