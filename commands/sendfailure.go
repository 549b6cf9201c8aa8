package commands

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"go.mau.fi/util/retryafter"

	"maunium.net/go/mautrix"
)

// SendFailure is why the homeserver did not take a message, as far as trying
// again goes. ClassifySend tells it from the error of a send; replies
// (sendReliably) and alert delivery (bot) each decide what to do about it.
type SendFailure int

const (
	// SendNotSent: the request was never answered for a reason on this side:
	// the content could not be encrypted, the context ended.
	SendNotSent SendFailure = iota
	// SendNoAnswer: the connection failed; no HTTP answer came.
	SendNoAnswer
	// SendRateLimited: 429 or M_LIMIT_EXCEEDED.
	SendRateLimited
	// SendServerError: the homeserver failed (5xx).
	SendServerError
	// SendRefusedByRoom: 403 or 404 to the send itself: opsroom is not in
	// the room, or may not post there.
	SendRefusedByRoom
	// SendRefusedEvent: any other 4xx to the send itself: this event is too
	// large or malformed.
	SendRefusedEvent
	// SendFailedOther: the rest, such as a lost session (401), a timeout
	// (408), or the refusal of a request encryption made (keys, to-device).
	SendFailedOther
)

// ClassifySend says how a send failed and, for a rate limit, how long the
// homeserver asked to wait first (0: it did not say).
func ClassifySend(err error) (SendFailure, time.Duration) {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return SendNotSent, 0
	}
	var httpErr mautrix.HTTPError
	if !errors.As(err, &httpErr) {
		return SendNotSent, 0
	}
	if httpErr.Response == nil {
		return SendNoAnswer, 0
	}
	status := httpErr.Response.StatusCode
	if status == http.StatusTooManyRequests || httpErr.RespError != nil && httpErr.RespError.ErrCode == mautrix.MLimitExceeded.ErrCode {
		return SendRateLimited, retryAfter(httpErr)
	}
	switch {
	case status >= 500:
		return SendServerError, 0
	case httpErr.Request != nil && !strings.Contains(httpErr.Request.URL.Path, "/rooms/"):
		// Not the send itself: a request encryption made.
		return SendFailedOther, 0
	case status == http.StatusForbidden || status == http.StatusNotFound:
		return SendRefusedByRoom, 0
	case status >= 400 && status < 500 && status != http.StatusUnauthorized && status != http.StatusRequestTimeout:
		return SendRefusedEvent, 0
	}
	return SendFailedOther, 0
}

// retryAfter is how long a homeserver that rate-limited a request asked to
// wait: retry_after_ms in its answer, or else the Retry-After header; 0 if
// neither says.
func retryAfter(httpErr mautrix.HTTPError) time.Duration {
	if httpErr.RespError != nil {
		if ms, ok := httpErr.RespError.ExtraData["retry_after_ms"].(float64); ok {
			return time.Duration(ms) * time.Millisecond
		}
	}
	return max(retryafter.Parse(httpErr.Response.Header.Get("Retry-After"), 0), 0)
}
