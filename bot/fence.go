package bot

import (
	"fmt"
	"net/http"
)

// fencedTransport refuses every request that would change something on the
// homeserver once this process is not the active instance: only reads
// (GET, and /sync is one) go through. It is the one gate every send, edit,
// redaction, reaction and join passes, whichever part of opsroom makes it.
type fencedTransport struct {
	base  http.RoundTripper
	fence func() error
}

func (t *fencedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		if err := t.fence(); err != nil {
			if req.Body != nil {
				_ = req.Body.Close()
			}
			return nil, fmt.Errorf("not sent: %w", err)
		}
	}
	base := t.base
	if base == nil {
		base = http.DefaultTransport
	}
	return base.RoundTrip(req)
}
