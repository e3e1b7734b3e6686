package devmail

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// maxMessageBytes bounds one captured message, like a real relay's limit.
const maxMessageBytes = 25 << 20

// smtpBackend captures every message into a SentBox. It accepts any
// envelope and any credentials: it exists so the engine's production
// sending path (including AUTH when SMTP_USERNAME is set) runs unchanged
// against it.
type smtpBackend struct {
	box *SentBox
	log *slog.Logger
	// inData counts sessions receiving a message, so Close can let them
	// finish.
	inData atomic.Int64
}

func (b *smtpBackend) NewSession(_ *smtp.Conn) (smtp.Session, error) {
	return &smtpSession{b: b}, nil
}

type smtpSession struct {
	b    *smtpBackend
	from string
	to   []string
}

var _ smtp.AuthSession = (*smtpSession)(nil)

// AuthMechanisms offers CRAM-MD5 besides PLAIN and LOGIN because go-mail's
// automatic choice refuses PLAIN and LOGIN on a connection without TLS.
func (s *smtpSession) AuthMechanisms() []string {
	return []string{sasl.Plain, sasl.Login, "CRAM-MD5"}
}

func (s *smtpSession) Auth(mech string) (sasl.Server, error) {
	switch strings.ToUpper(mech) {
	case sasl.Plain:
		return sasl.NewPlainServer(func(_, _, _ string) error { return nil }), nil
	case sasl.Login:
		return &loginServer{}, nil
	case "CRAM-MD5":
		return &cramMD5Server{}, nil
	default:
		return nil, smtp.ErrAuthUnknownMechanism
	}
}

func (s *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	s.from = from
	return nil
}

func (s *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}

func (s *smtpSession) Data(r io.Reader) error {
	s.b.inData.Add(1)
	defer s.b.inData.Add(-1)
	raw, err := io.ReadAll(r)
	if err != nil {
		// go-smtp answers 552 itself for an oversize message.
		return err
	}
	m, err := s.b.box.add(s.from, s.to, raw, time.Now())
	if err != nil {
		s.b.log.Error("dev mailbox: cannot store a captured message", "err", err)
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "cannot store the message; try again"}
	}
	s.b.log.Info("dev mailbox captured a message", "id", m.ID, "message_id", m.MessageID,
		"recipients", len(m.To), "bytes", m.Size)
	return nil
}

func (s *smtpSession) Reset() { s.from, s.to = "", nil }

func (s *smtpSession) Logout() error { return nil }

// loginServer is the server side of AUTH LOGIN (draft-murchison-sasl-login),
// which go-sasl only implements as a client. Any credentials pass.
type loginServer struct{ step int }

func (l *loginServer) Next(resp []byte) ([]byte, bool, error) {
	switch l.step {
	case 0:
		if resp != nil {
			// The username came as the initial response.
			l.step = 2
			return []byte("Password:"), false, nil
		}
		l.step = 1
		return []byte("Username:"), false, nil
	case 1:
		l.step = 2
		return []byte("Password:"), false, nil
	default:
		return nil, true, nil
	}
}

// cramMD5Server is the server side of CRAM-MD5 (RFC 2195). The digest is
// not checked (any credentials pass), only its shape.
type cramMD5Server struct{ challenged bool }

func (c *cramMD5Server) Next(resp []byte) ([]byte, bool, error) {
	if !c.challenged {
		c.challenged = true
		var nonce [12]byte
		_, _ = rand.Read(nonce[:])
		return fmt.Appendf(nil, "<%s.%d@devmail>", hex.EncodeToString(nonce[:]), time.Now().Unix()), false, nil
	}
	user, digest, ok := strings.Cut(string(resp), " ")
	if !ok || user == "" || len(digest) != 32 {
		return nil, false, errors.New("malformed CRAM-MD5 response")
	}
	return nil, true, nil
}
