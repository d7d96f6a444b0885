// Package secret seals stored secrets (marketplace credentials, webhook
// signing secrets) with AES-256-GCM under a key from the environment.
// Ciphertexts are bound to the row they belong to (associated data), so one
// row's sealed value cannot be swapped into another's.
package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
)

// version prefixes every ciphertext so the scheme can change later.
const version byte = 1

// Box seals and opens values.
type Box struct{ aead cipher.AEAD }

// ErrKey is returned for a key that is not 32 bytes of base64. The message
// never includes the key.
var ErrKey = errors.New("credentials key must be 32 bytes, base64-encoded")

// New builds a Box from a base64 (standard or URL, padded or not) 32-byte key.
func New(keyB64 string) (*Box, error) {
	var key []byte
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(keyB64); err == nil {
			key = k
			break
		}
	}
	if len(key) != 32 {
		return nil, ErrKey
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, ErrKey
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("gcm: %w", err)
	}
	return &Box{aead: aead}, nil
}

// Seal encrypts plaintext bound to ad: version || nonce || ciphertext+tag.
func (b *Box) Seal(plaintext, ad []byte) ([]byte, error) {
	nonce := make([]byte, b.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("nonce: %w", err)
	}
	out := append([]byte{version}, nonce...)
	return b.aead.Seal(out, nonce, plaintext, ad), nil
}

// ErrOpen means the ciphertext is corrupt, bound to other data, or sealed
// under another key.
var ErrOpen = errors.New("sealed value cannot be opened")

// Open decrypts a value made by Seal with the same ad.
func (b *Box) Open(sealed, ad []byte) ([]byte, error) {
	ns := b.aead.NonceSize()
	if len(sealed) < 1+ns+b.aead.Overhead() || sealed[0] != version {
		return nil, ErrOpen
	}
	pt, err := b.aead.Open(nil, sealed[1:1+ns], sealed[1+ns:], ad)
	if err != nil {
		return nil, ErrOpen
	}
	return pt, nil
}
