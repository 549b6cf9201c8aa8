package bot

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestAFencedInstanceSendsNothingButMayStillRead(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Method)
	}))
	defer srv.Close()
	var fence error
	client := &http.Client{Transport: &fencedTransport{fence: func() error { return fence }}}

	for _, method := range []string{http.MethodGet, http.MethodPut, http.MethodPost} {
		req, _ := http.NewRequest(method, srv.URL, strings.NewReader("{}"))
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s while active: %v", method, err)
		}
		_ = resp.Body.Close()
	}
	fence = errors.New("lost the lease")
	for _, method := range []string{http.MethodPut, http.MethodPost, http.MethodDelete} {
		req, _ := http.NewRequest(method, srv.URL, strings.NewReader("{}"))
		if _, err := client.Do(req); err == nil || !strings.Contains(err.Error(), "lost the lease") {
			t.Errorf("%s after losing the lease: %v, want refused", method, err)
		}
	}
	resp, err := client.Get(srv.URL)
	if err != nil {
		t.Fatalf("GET after losing the lease: %v", err)
	}
	_ = resp.Body.Close()
	if want := "GET PUT POST GET"; strings.Join(got, " ") != want {
		t.Errorf("the homeserver saw %q, want %q", strings.Join(got, " "), want)
	}
}
