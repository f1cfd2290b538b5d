package webhooks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// ErrEndpoint marks a failure of the endpoint's configuration, its secret or its URL, which no
// retry changes.
var ErrEndpoint = errors.New("the endpoint cannot be used")

// Answer is what a receiving system answered: its status code and text, and the start of its body.
type Answer struct {
	Code   int
	Status string
	Body   []byte
}

// Post sends body to url as a JSON POST signed per the Standard Webhooks specification with
// secret: webhook-id id, webhook-timestamp at, webhook-signature; header adds headers. It returns
// the answer whatever its status (at most 64 KiB of its body); an error is an answer that did not
// come, or ErrEndpoint when the secret or the URL cannot be used.
func Post(ctx context.Context, client *http.Client, url, secret, id string, at time.Time, body []byte, header http.Header) (Answer, error) {
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		return Answer{}, fmt.Errorf("%w: secret: %v", ErrEndpoint, err)
	}
	signature, err := wh.Sign(id, at, body)
	if err != nil {
		return Answer{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return Answer{}, fmt.Errorf("%w: URL: %v", ErrEndpoint, err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(standardwebhooks.HeaderWebhookID, id)
	req.Header.Set(standardwebhooks.HeaderWebhookTimestamp, fmt.Sprint(at.Unix()))
	req.Header.Set(standardwebhooks.HeaderWebhookSignature, signature)
	resp, err := client.Do(req)
	if err != nil {
		return Answer{}, err
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return Answer{Code: resp.StatusCode, Status: resp.Status, Body: answer}, nil
}
