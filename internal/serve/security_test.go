package serve

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"
)

// TestTCP_Guard: on TCP, no token no answer; a foreign Host (DNS
// rebinding) or Origin is refused even with it; the printed URL's token
// becomes a cookie the browser goes on with.
func TestTCP_Guard(t *testing.T) {
	ts := startTestServer(t)
	host := strings.TrimPrefix(ts.tcp, "http://")
	send := func(method, path string, header ...string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, ts.tcp+path, nil)
		for i := 0; i+1 < len(header); i += 2 {
			if header[i] == "Host" {
				req.Host = header[i+1]
				continue
			}
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	bearer := "Bearer test-token"
	for _, tc := range []struct {
		name   string
		header []string
		path   string
		want   int
	}{
		{"no token", nil, "/api/v1/images", 401},
		{"wrong token", []string{"Authorization", "Bearer nope"}, "/api/v1/images", 401},
		{"token", []string{"Authorization", bearer}, "/api/v1/images", 200},
		{"basic auth, token as password", []string{"Authorization", "Basic cGY6dGVzdC10b2tlbg=="}, "/api/v1/images", 200},
		{"rebinding", []string{"Authorization", bearer, "Host", "evil.example:" + strings.Split(host, ":")[1]}, "/api/v1/images", 421},
		{"foreign origin", []string{"Authorization", bearer, "Origin", "http://evil.example"}, "/api/v1/images", 403},
		{"own origin", []string{"Authorization", bearer, "Origin", ts.tcp}, "/api/v1/images", 200},
		{"cross-site fetch", []string{"Authorization", bearer, "Sec-Fetch-Site", "cross-site"}, "/api/v1/images", 403},
		{"no token for the UI", nil, "/", 401},
		{"registry challenge", nil, "/v2/", 401},
		{"no CLI route on TCP", []string{"Authorization", bearer}, "/cli", 404},
	} {
		if code, body := send("GET", tc.path, tc.header...); code != tc.want {
			t.Errorf("%s: %d %s, want %d", tc.name, code, body, tc.want)
		}
	}

	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	resp, err := browser.Get(ts.tcp + "/?token=test-token")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Request.URL.RawQuery != "" || !strings.Contains(string(page), "/ui/app.js") {
		t.Fatalf("the printed URL: %d at %s", resp.StatusCode, resp.Request.URL)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
		t.Fatalf("UI policy: %q", csp)
	}
	resp, err = browser.Get(ts.tcp + "/api/v1/tags")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("the API with the cookie: %d", resp.StatusCode)
	}
}

func TestCheckLoopback(t *testing.T) {
	for addr, ok := range map[string]bool{
		"127.0.0.1:0": true, "localhost:8484": true, "[::1]:9": true, "127.8.9.1:80": true,
		"0.0.0.0:8484": false, ":8484": false, "192.168.1.2:80": false, "example.com:80": false, "nonsense": false,
	} {
		if err := CheckLoopback(addr); (err == nil) != ok {
			t.Errorf("CheckLoopback(%q) = %v", addr, err)
		}
	}
}
