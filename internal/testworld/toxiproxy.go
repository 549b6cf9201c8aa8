package testworld

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// ToxiproxyVersion is the fault injector the tests run, built from test/tools.
const ToxiproxyVersion = "v2.12.0"

// Toxiproxy is a toxiproxy-server on 127.0.0.1: TCP proxies whose connections
// it can slow down, stall or cut, for "slow host", "hung host" and
// "homeserver away" tests (this kernel has no netem).
type Toxiproxy struct {
	api  string
	proc *process
}

// Proxy is one TCP proxy: connections to Addr go on to the upstream.
type Proxy struct {
	Addr string
	name string
	tp   *Toxiproxy
}

// toxiproxyBin returns the toxiproxy-server binary, building it from
// test/tools when it is not there yet (OPSROOM_TOXIPROXY_BIN names a ready directory).
func toxiproxyBin(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(toolDir("OPSROOM_TOXIPROXY_BIN", "toxiproxy-"+ToxiproxyVersion, "tools"), "toxiproxy-server")
	buildTools(t, "tools", "Toxiproxy "+ToxiproxyVersion, bin, "-o", bin, "github.com/Shopify/toxiproxy/v2/cmd/server")
	return bin
}

// StartToxiproxy starts a toxiproxy-server; the test's cleanup stops it.
func StartToxiproxy(t testing.TB) *Toxiproxy {
	t.Helper()
	Short(t)
	port := strconv.Itoa(FreePort(t))
	proc, err := startProcess(toxiproxyBin(t), filepath.Join(t.TempDir(), "toxiproxy.log"), "-host", "127.0.0.1", "-port", port)
	if err != nil {
		t.Fatal(err)
	}
	tp := &Toxiproxy{api: "http://127.0.0.1:" + port, proc: proc}
	t.Cleanup(func() {
		proc.stop()
		if t.Failed() {
			t.Logf("toxiproxy log:\n%s", tail(proc.log(), 30))
		}
	})
	if err := waitTCP("127.0.0.1:"+port, 10*time.Second); err != nil {
		t.Fatalf("toxiproxy: %v\n%s", err, tail(proc.log(), 30))
	}
	return tp
}

// Proxy opens a proxy to upstream (host:port) on a free loopback port.
func (tp *Toxiproxy) Proxy(t testing.TB, name, upstream string) *Proxy {
	t.Helper()
	p := &Proxy{Addr: fmt.Sprintf("127.0.0.1:%d", FreePort(t)), name: name, tp: tp}
	tp.call(t, http.MethodPost, "/proxies", map[string]any{"name": name, "listen": p.Addr, "upstream": upstream, "enabled": true})
	return p
}

// Toxic adds a toxic to the connections' way back (downstream): "latency"
// with {"latency": ms}, or "timeout" with {"timeout": 0} to stall them, and so on.
func (p *Proxy) Toxic(t testing.TB, name, kind string, attributes map[string]any) {
	t.Helper()
	p.tp.call(t, http.MethodPost, "/proxies/"+p.name+"/toxics",
		map[string]any{"name": name, "type": kind, "stream": "downstream", "toxicity": 1.0, "attributes": attributes})
}

// Latency delays the proxy's connections by d each way (a "latency" toxic on
// both streams): a round trip then takes 2d more, as to a distant host.
func (p *Proxy) Latency(t testing.TB, d time.Duration) {
	t.Helper()
	for _, stream := range []string{"upstream", "downstream"} {
		p.tp.call(t, http.MethodPost, "/proxies/"+p.name+"/toxics",
			map[string]any{"name": "latency-" + stream, "type": "latency", "stream": stream, "toxicity": 1.0,
				"attributes": map[string]any{"latency": d.Milliseconds()}})
	}
}

// RemoveToxic takes a toxic away again.
func (p *Proxy) RemoveToxic(t testing.TB, name string) {
	t.Helper()
	p.tp.call(t, http.MethodDelete, "/proxies/"+p.name+"/toxics/"+name, nil)
}

// SetEnabled cuts the proxy (its connections are closed and new ones refused) or restores it.
func (p *Proxy) SetEnabled(t testing.TB, on bool) {
	t.Helper()
	p.tp.call(t, http.MethodPost, "/proxies/"+p.name, map[string]any{"enabled": on})
}

func (tp *Toxiproxy) call(t testing.TB, method, path string, body any) {
	t.Helper()
	var data []byte
	if body != nil {
		var err error
		if data, err = json.Marshal(body); err != nil {
			t.Fatal(err)
		}
	}
	req, err := http.NewRequest(method, tp.api+path, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("toxiproxy %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		var msg bytes.Buffer
		_, _ = msg.ReadFrom(resp.Body)
		t.Fatalf("toxiproxy %s %s: %s: %s", method, path, resp.Status, msg.String())
	}
}
