package marketplace

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"time"

	"github.com/printfleet/printfleet/workers/marketplace/internal/domain"
)

// RefreshOAuth returns a RefreshFunc for an OAuth 2 token endpoint taking
// grant_type=refresh_token as a form (Etsy and Login with Amazon both do). extra adds
// form fields such as client_id and client_secret. The exchange is traced without
// its bodies.
func RefreshOAuth(c *Client, tr *Trace, tokenURL string, extra url.Values) RefreshFunc {
	return func(ctx context.Context, refreshToken string) (Token, error) {
		form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken}}
		for k, v := range extra {
			form[k] = v
		}
		resp, err := c.Send(ctx, tr, Request{Op: "refresh token", Method: "POST", URL: tokenURL,
			ContentType: "application/x-www-form-urlencoded", Body: []byte(form.Encode()), Secret: true})
		if err != nil {
			return Token{}, err
		}
		if resp.Status != 200 {
			e := Classify(c.Marketplace, "refresh token", resp)
			e.Message = oauthError(resp.Body)
			if e.Kind == domain.KindPermanent {
				e.Reason = domain.ReasonAuth
			}
			return Token{}, e
		}
		var tok struct {
			AccessToken  string `json:"access_token"`
			RefreshToken string `json:"refresh_token"`
			ExpiresIn    int    `json:"expires_in"`
		}
		if err := json.Unmarshal(resp.Body, &tok); err != nil || tok.AccessToken == "" {
			return Token{}, &domain.Error{Kind: domain.KindRetryable, Reason: domain.ReasonUnavailable, Marketplace: c.Marketplace,
				Op: "refresh token", Status: resp.Status, Message: "token answer without an access token"}
		}
		t := Token{Access: tok.AccessToken, Refresh: tok.RefreshToken}
		if tok.ExpiresIn > 0 {
			t.Expiry = time.Now().Add(time.Duration(tok.ExpiresIn) * time.Second)
		}
		return t, nil
	}
}

// oauthError keeps only the error code and description of a token endpoint's
// answer, never anything else it echoes.
func oauthError(body []byte) string {
	var e struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if json.Unmarshal(body, &e) != nil || e.Error == "" {
		return "token endpoint refused the refresh"
	}
	return strings.TrimSpace(e.Error + " " + e.Description)
}
