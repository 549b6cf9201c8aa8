package testworld

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// RateLimiter is a reverse proxy in front of the real homeserver that limits
// message sends the way a busy Synapse does, which Dendrite does not (its
// limiter leaves /send alone): at most one send per interval; the others are
// answered 429 M_LIMIT_EXCEEDED with retry_after_ms. Everything else passes.
type RateLimiter struct {
	URL string

	every   time.Duration
	mu      sync.Mutex
	next    time.Time // when the next send may pass
	limited int
}

// StartRateLimiter proxies to the homeserver at upstream; the test's cleanup stops it.
func StartRateLimiter(t testing.TB, upstream string, every time.Duration) *RateLimiter {
	t.Helper()
	target, err := url.Parse(upstream)
	if err != nil {
		t.Fatal(err)
	}
	rl := &RateLimiter{every: every}
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/send/") {
			if wait := rl.admit(); wait > 0 {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusTooManyRequests)
				_, _ = w.Write([]byte(`{"errcode":"M_LIMIT_EXCEEDED","error":"Too many requests","retry_after_ms":` +
					strconv.FormatInt(wait.Milliseconds()+1, 10) + `}`))
				return
			}
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	rl.URL = srv.URL
	return rl
}

// admit lets a send pass (0) or says how long until one may.
func (rl *RateLimiter) admit() time.Duration {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	now := time.Now()
	if wait := rl.next.Sub(now); wait > 0 {
		rl.limited++
		return wait
	}
	rl.next = now.Add(rl.every)
	return 0
}

// Limited is how many sends were refused.
func (rl *RateLimiter) Limited() int {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	return rl.limited
}
