package app

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"time"

	"github.com/google/uuid"

	"github.com/printfleet/printfleet/platform/errs"
)

// PageTokens makes and checks opaque page tokens. A token is the keyset
// position (created_at, id) or a timeline seq, bound to the query it came
// from (whose orders, which status) and signed, so that a token edited by a
// client, or used with another filter, is refused as INVALID_ARGUMENT.
type PageTokens struct{ key []byte }

// NewPageTokens returns tokens signed with key.
func NewPageTokens(key []byte) *PageTokens {
	if len(key) == 0 {
		key = []byte("printfleet-orders-page-token-key")
	}
	return &PageTokens{key: key}
}

const (
	tokenVersion = 1
	macLen       = 16
)

func (p *PageTokens) mac(scope string, body []byte) []byte {
	m := hmac.New(sha256.New, p.key)
	m.Write([]byte(scope))
	m.Write([]byte{0})
	m.Write(body)
	return m.Sum(nil)[:macLen]
}

func (p *PageTokens) seal(scope string, body []byte) string {
	return base64.RawURLEncoding.EncodeToString(append(body, p.mac(scope, body)...))
}

func (p *PageTokens) open(scope, token string, bodyLen int) ([]byte, error) {
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(raw) != bodyLen+macLen || raw[0] != tokenVersion {
		return nil, errs.Field("page_token", "is not a valid page token")
	}
	body, sum := raw[:bodyLen], raw[bodyLen:]
	if !hmac.Equal(sum, p.mac(scope, body)) {
		return nil, errs.Field("page_token", "is not a valid page token")
	}
	return body, nil
}

// OrderPosition encodes a keyset position in a list of orders.
func (p *PageTokens) OrderPosition(scope string, createdAt time.Time, id string) string {
	u, _ := uuid.Parse(id)
	body := make([]byte, 1+8+16)
	body[0] = tokenVersion
	binary.BigEndian.PutUint64(body[1:9], uint64(createdAt.UnixMicro()))
	copy(body[9:], u[:])
	return p.seal(scope, body)
}

// ParseOrderPosition decodes a token made by OrderPosition for scope.
func (p *PageTokens) ParseOrderPosition(scope, token string) (time.Time, string, error) {
	body, err := p.open(scope, token, 1+8+16)
	if err != nil {
		return time.Time{}, "", err
	}
	var u uuid.UUID
	copy(u[:], body[9:])
	return time.UnixMicro(int64(binary.BigEndian.Uint64(body[1:9]))).UTC(), u.String(), nil
}

// Seq encodes a timeline position.
func (p *PageTokens) Seq(scope string, seq int64) string {
	body := make([]byte, 1+8)
	body[0] = tokenVersion
	binary.BigEndian.PutUint64(body[1:], uint64(seq))
	return p.seal(scope, body)
}

// ParseSeq decodes a token made by Seq for scope.
func (p *PageTokens) ParseSeq(scope, token string) (int64, error) {
	body, err := p.open(scope, token, 1+8)
	if err != nil {
		return 0, err
	}
	return int64(binary.BigEndian.Uint64(body[1:])), nil
}
