package testworld

import (
	"io"
	"net/http"
	"strings"
	"sync"
)

// Recorder is an HTTP receiver that keeps every request it is sent, as
// "METHOD /path" or "METHOD /path: body", and answers 200 OK: a stand-in
// for a dead-man's switch such as Healthchecks.io.
type Recorder struct {
	mu   sync.Mutex
	reqs []string
}

func (r *Recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.reqs = append(r.reqs, strings.TrimSuffix(req.Method+" "+req.URL.Path+": "+string(body), ": "))
	r.mu.Unlock()
	_, _ = w.Write([]byte("OK"))
}

// Since returns the requests from the n-th on (all of them from 0).
func (r *Recorder) Since(n int) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.reqs[min(n, len(r.reqs)):]...)
}
