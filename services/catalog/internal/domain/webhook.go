package domain

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"time"
)

// Webhook is one delivery of a marketplace's webhook to a store, as it
// arrived: the raw body is never parsed by the catalog.
type Webhook struct {
	StoreID     string
	Marketplace Marketplace
	// ID is the delivery's id (Shopify: X-Shopify-Webhook-Id); redeliveries
	// carry the same.
	ID          string
	Topic       string
	Signature   string
	Body        []byte
	ReceivedAt  time.Time
	TriggeredAt time.Time
}

// TopicAppUninstalled is Shopify's topic of a shop removing the app: the
// store's credentials no longer work.
const TopicAppUninstalled = "app/uninstalled"

// VerifyShopify reports whether signature is Shopify's signature of body
// under secret: the base64 of HMAC-SHA256(secret, body), compared in
// constant time. An empty secret or signature never verifies.
func VerifyShopify(secret, signature string, body []byte) bool {
	if secret == "" || signature == "" {
		return false
	}
	got, err := base64.StdEncoding.DecodeString(signature)
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return hmac.Equal(mac.Sum(nil), got)
}

// DerivedWebhookID names a delivery that came without an id by a digest of
// its topic and body, so that a retry of the same body is still recognised.
func DerivedWebhookID(topic string, body []byte) string {
	h := sha256.New()
	h.Write([]byte(topic))
	h.Write([]byte{0})
	h.Write(body)
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}
