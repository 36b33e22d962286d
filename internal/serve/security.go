package serve

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// On TCP, every request needs the server's token, and Host and Origin
// must name the server's own loopback address: a web page elsewhere can
// neither read the API (DNS rebinding makes its host resolve here, but
// its Host header stays foreign) nor make a logged-in browser act for it
// (its Origin is foreign, and the cookie is SameSite=Strict). The unix
// socket needs none of this: only its owner can open it (mode 0600), and
// browsers cannot.

// NewToken returns a new bearer token: 32 random bytes, hex.
func NewToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// CheckLoopback refuses a listen address that is not on loopback.
func CheckLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--listen %s: %v (want 127.0.0.1:PORT)", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("--listen %s: not a loopback address: pf serve listens on loopback only (127.0.0.1, ::1)", addr)
	}
	return nil
}

const tokenCookie = "pf_token"

// guard wraps the TCP listener's handler with the checks above. hosts are
// the Host values the server answers to (127.0.0.1:PORT, localhost:PORT).
func (s *Server) guard(h http.Handler, hosts []string) http.Handler {
	allowed := map[string]bool{}
	for _, host := range hosts {
		allowed[strings.ToLower(host)] = true
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !allowed[strings.ToLower(r.Host)] {
			httpError(w, http.StatusMisdirectedRequest, fmt.Sprintf("Host %q is not this server's (DNS rebinding?)", r.Host))
			return
		}
		if o := r.Header.Get("Origin"); o != "" {
			u, err := url.Parse(o)
			if err != nil || u.Scheme != "http" || !allowed[strings.ToLower(u.Host)] {
				httpError(w, http.StatusForbidden, fmt.Sprintf("Origin %q is not this server's", o))
				return
			}
		}
		if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
			httpError(w, http.StatusForbidden, "cross-site request")
			return
		}
		// The URL the server prints carries the token once: it becomes
		// a cookie, and the browser is sent on without it.
		if t := r.URL.Query().Get("token"); t != "" && r.Method == http.MethodGet && s.tokenOK(t) {
			http.SetCookie(w, &http.Cookie{Name: tokenCookie, Value: t, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
			q := r.URL.Query()
			q.Del("token")
			u := *r.URL
			u.RawQuery = q.Encode()
			http.Redirect(w, r, u.RequestURI(), http.StatusSeeOther)
			return
		}
		if !s.authorized(r) {
			if strings.HasPrefix(r.URL.Path, "/v2/") {
				// Registry clients answer a challenge with basic auth:
				// any user name, the token as password.
				w.Header().Set("WWW-Authenticate", `Basic realm="pf serve"`)
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusUnauthorized)
				fmt.Fprintln(w, `{"errors":[{"code":"UNAUTHORIZED","message":"pf serve wants its token"}]}`)
				return
			}
			w.Header().Set("WWW-Authenticate", `Bearer realm="pf serve"`)
			apiError(w, http.StatusUnauthorized, "pf serve wants its token: Authorization: Bearer TOKEN (printed at start, and in its token file)")
			return
		}
		h.ServeHTTP(w, r)
	})
}

func (s *Server) tokenOK(t string) bool {
	return s.Token != "" && subtle.ConstantTimeCompare([]byte(t), []byte(s.Token)) == 1
}

func (s *Server) authorized(r *http.Request) bool {
	if a := r.Header.Get("Authorization"); a != "" {
		if t, ok := strings.CutPrefix(a, "Bearer "); ok {
			return s.tokenOK(t)
		}
		if _, pass, ok := r.BasicAuth(); ok {
			return s.tokenOK(pass)
		}
		return false
	}
	if c, err := r.Cookie(tokenCookie); err == nil {
		return s.tokenOK(c.Value)
	}
	return false
}
