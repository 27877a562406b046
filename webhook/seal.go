package webhook

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
)

// Sealer encrypts signing secrets for storage (AES-256-GCM), with a key derived
// from the Manager's secret key, and binds each sealed secret to its endpoint: a
// sealed value copied onto another endpoint does not open. Whoever reads the
// database sees no secret; whoever holds the secret key can sign as any endpoint,
// as they could already mint any token.
type Sealer struct{ aead cipher.AEAD }

// ErrUnseal is returned for a sealed secret that does not open: another key, another
// endpoint, or damage.
var ErrUnseal = errors.New("webhook: sealed secret does not open")

// NewSealer derives the sealing key from key (at least 32 bytes).
func NewSealer(key []byte) (*Sealer, error) {
	if len(key) < 32 {
		return nil, fmt.Errorf("webhook: the sealing key needs at least 32 bytes, got %d", len(key))
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte("tenancy webhook secrets v1"))
	block, err := aes.NewCipher(mac.Sum(nil))
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Sealer{aead: aead}, nil
}

// Seal encrypts secret for the endpoint with ID endpointID: a random nonce, then
// the ciphertext.
func (s *Sealer) Seal(endpointID, secret string) ([]byte, error) {
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(secret)+s.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("webhook: read randomness: %w", err)
	}
	return s.aead.Seal(nonce, nonce, []byte(secret), []byte(endpointID)), nil
}

// Open decrypts a sealed secret of the endpoint with ID endpointID.
func (s *Sealer) Open(endpointID string, sealed []byte) (string, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n+s.aead.Overhead() {
		return "", ErrUnseal
	}
	plain, err := s.aead.Open(nil, sealed[:n], sealed[n:], []byte(endpointID))
	if err != nil {
		return "", ErrUnseal
	}
	return string(plain), nil
}
