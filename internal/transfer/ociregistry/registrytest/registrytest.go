// Package registrytest runs a real OCI registry for tests and pf-bench: CNCF
// distribution's registry binary (github.com/distribution/distribution/v3,
// v3.1.2), on 127.0.0.1 at a free port, with its storage in a temporary
// directory; with htpasswd auth or TLS when asked. The binary is
// $PF_TEST_REGISTRY, which .ci/run builds, or else it is built here once
// with go install into the user's cache directory.
package registrytest

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"time"
)

// Module is the registry's module and version, as go install takes it.
const Module = "github.com/distribution/distribution/v3/cmd/registry@v3.1.2"

// User and Password are the credentials of a registry started with Auth;
// hash is Password's bcrypt, as the registry's htpasswd file holds it.
const (
	User     = "pf-test"
	Password = "s3cret-pw"
	hash     = "$2a$04$cJYCERS8EgvdnagzQeRcvOnqUqXsdUqlzVD8H37XoIfO5O8UJX9Ly"
)

// TB is what Start needs of a test: testing.TB has it, and so can a
// testscript command.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	Cleanup(func())
	TempDir() string
}

var (
	buildOnce sync.Once
	binary    string
	buildErr  error
)

// cachedBinary is where Binary builds the registry: the user's cache
// directory, as .ci/run does.
func cachedBinary() string {
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	return filepath.Join(cache, "pf-test", "registry-v3.1.2", "registry")
}

// Installed returns the registry binary if there is one, without
// building it: $PF_TEST_REGISTRY, or the one Binary or .ci/run built into
// the user's cache directory. Else it says why there is none.
func Installed() (path, why string) {
	if p := os.Getenv("PF_TEST_REGISTRY"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Sprintf("$PF_TEST_REGISTRY: %v", err)
		}
		return p, ""
	}
	p := cachedBinary()
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Sprintf("no registry binary: set $PF_TEST_REGISTRY, or build one with GOBIN=%s go install %s", filepath.Dir(p), Module)
	}
	return p, ""
}

// Binary returns the registry binary, building it if need be.
func Binary(t TB) string {
	t.Helper()
	buildOnce.Do(func() {
		if p := os.Getenv("PF_TEST_REGISTRY"); p != "" {
			binary = p
			return
		}
		binary = cachedBinary()
		dir := filepath.Dir(binary)
		if _, err := os.Stat(binary); err == nil {
			return
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			buildErr = err
			return
		}
		tmp, err := os.MkdirTemp(dir, "build-")
		if err != nil {
			buildErr = err
			return
		}
		defer os.RemoveAll(tmp)
		cmd := exec.Command("go", "install", Module)
		cmd.Env = append(os.Environ(), "GOBIN="+tmp, "GOFLAGS=-buildvcs=false")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go install %s: %v\n%s", Module, err, out)
			return
		}
		buildErr = os.Rename(filepath.Join(tmp, "registry"), binary)
	})
	if buildErr != nil {
		t.Fatalf("the test registry: %v (set PF_TEST_REGISTRY to a registry binary)", buildErr)
	}
	return binary
}

// Options choose how a registry runs.
type Options struct {
	Auth bool // require User and Password (htpasswd)
	TLS  bool // serve https with a certificate the test trusts (Server.CA)
}

// Server is a running registry.
type Server struct {
	t    TB
	Addr string // 127.0.0.1:port
	// CA is the PEM file of the certificate the registry serves, with
	// TLS: give it to a client (RootCAs) or to pf ($SSL_CERT_FILE).
	CA     string
	Pool   *x509.CertPool
	dir    string
	config string
	cmd    *exec.Cmd
	mu     sync.Mutex
	log    []string // the access log, one line per request
	exited chan struct{}
}

// Start starts a registry with empty storage; it is killed when the test
// ends.
func Start(t TB, opts Options) *Server {
	t.Helper()
	bin := Binary(t)
	s := &Server{t: t, dir: t.TempDir()}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("%v", err)
	}
	s.Addr = l.Addr().String()
	l.Close()
	config := fmt.Sprintf("version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: false\n"+
		"storage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\n"+
		"http:\n  addr: %s\n", filepath.Join(s.dir, "storage"), s.Addr)
	if opts.TLS {
		cert, key := s.selfSigned()
		config += fmt.Sprintf("  tls:\n    certificate: %s\n    key: %s\n", cert, key)
	}
	if opts.Auth {
		pw := filepath.Join(s.dir, "htpasswd")
		if err := os.WriteFile(pw, []byte(User+":"+hash+"\n"), 0o600); err != nil {
			t.Fatalf("%v", err)
		}
		config += fmt.Sprintf("auth:\n  htpasswd:\n    realm: pf-test\n    path: %s\n", pw)
	}
	s.config = filepath.Join(s.dir, "config.yml")
	if err := os.WriteFile(s.config, []byte(config), 0o600); err != nil {
		t.Fatalf("%v", err)
	}
	s.start(bin)
	t.Cleanup(s.Kill)
	return s
}

func (s *Server) start(bin string) {
	s.t.Helper()
	cmd := exec.Command(bin, "serve", s.config)
	cmd.Env = append(os.Environ(), "OTEL_TRACES_EXPORTER=none", "OTEL_SDK_DISABLED=true")
	out, err := cmd.StdoutPipe()
	if err != nil {
		s.t.Fatalf("%v", err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("%v", err)
	}
	s.cmd, s.exited = cmd, make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			s.mu.Lock()
			s.log = append(s.log, sc.Text())
			s.mu.Unlock()
		}
		cmd.Wait()
		close(s.exited)
	}()
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: s.Pool}}}
	scheme := "http"
	if s.Pool != nil {
		scheme = "https"
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := client.Get(scheme + "://" + s.Addr + "/v2/")
		if err == nil {
			resp.Body.Close()
			return
		}
		select {
		case <-s.exited:
			s.t.Fatalf("the registry exited: %s", s.Log())
		default:
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("the registry did not answer in 30s: %v\n%s", err, s.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Kill kills the registry at once, as a crash would.
func (s *Server) Kill() {
	if s.cmd != nil && s.cmd.Process != nil {
		s.cmd.Process.Kill()
		<-s.exited
		s.cmd = nil
	}
}

// Restart starts the registry again on the same address and storage.
func (s *Server) Restart() {
	s.t.Helper()
	s.Kill()
	s.start(Binary(s.t))
}

// Log is what the registry printed.
func (s *Server) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b []byte
	for _, l := range s.log {
		b = append(append(b, l...), '\n')
	}
	return string(b)
}

// Requests counts the requests of the access log whose method and path
// match (ResetLog starts a count afresh).
func (s *Server) Requests(method string, path *regexp.Regexp) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, l := range s.log {
		m := accessLine.FindStringSubmatch(l)
		if m != nil && m[1] == method && path.MatchString(m[2]) {
			n++
		}
	}
	return n
}

// ResetLog forgets the requests logged so far.
func (s *Server) ResetLog() {
	s.mu.Lock()
	s.log = nil
	s.mu.Unlock()
}

// accessLine matches a line of the registry's access log (Apache's
// combined format): its method and path.
var accessLine = regexp.MustCompile(`"([A-Z]+) (\S+) HTTP/[0-9.]+" \d{3} `)

// BlobUploads are the requests that send a blob's bytes: the PUT (or
// PATCH) of an upload session.
var BlobUploads = regexp.MustCompile(`^/v2/.+/blobs/uploads/`)

// BlobFetches are the requests that read a blob (GET; HEAD only asks).
var BlobFetches = regexp.MustCompile(`^/v2/.+/blobs/sha256:`)

// AnyRequest matches every path.
var AnyRequest = regexp.MustCompile(``)

// Storage is the directory the registry keeps its blobs in.
func (s *Server) Storage() string { return filepath.Join(s.dir, "storage") }

// BlobFile is where the registry's filesystem driver keeps the blob of
// digest hex.
func (s *Server) BlobFile(hex string) string {
	return filepath.Join(s.Storage(), "docker", "registry", "v2", "blobs", "sha256", hex[:2], hex, "data")
}

// selfSigned writes a certificate for 127.0.0.1 and its key.
func (s *Server) selfSigned() (cert, key string) {
	s.t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		s.t.Fatalf("%v", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "pf test registry"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		s.t.Fatalf("%v", err)
	}
	keyDER, err := x509.MarshalECPrivateKey(priv)
	if err != nil {
		s.t.Fatalf("%v", err)
	}
	cert, key = filepath.Join(s.dir, "cert.pem"), filepath.Join(s.dir, "key.pem")
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	os.WriteFile(cert, certPEM, 0o600)
	os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600)
	s.CA = cert
	s.Pool = x509.NewCertPool()
	s.Pool.AppendCertsFromPEM(certPEM)
	return cert, key
}

// Client is an HTTP client that trusts the registry's certificate.
func (s *Server) Client() *http.Client {
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: s.Pool}}}
}
