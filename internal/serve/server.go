// Package serve is pf serve: one process owns the store and serves it on
// a unix socket beside the store (mode 0600) and, when asked, on loopback
// TCP with a bearer token.
//
// The socket carries two things. POST /cli, upgraded to the CLI's own
// protocol (frame.go), runs a pf command line for another pf process in
// that process's working directory, environment and terminal, relaying
// its standard streams: every pf command goes through the server while it
// runs, and concurrent snapshots share the store's group commit. The rest
// is the HTTP+JSON API (openapi.json), the web UI and the read-only OCI
// distribution API, on the socket and on TCP alike.
package serve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/processfork/pf"
)

// Server serves one store. Set its fields, then call Serve for each
// listener and Shutdown to stop.
type Server struct {
	Store *pf.Store
	// Run runs the pf command lines of the CLI's route; nil refuses it.
	Run RunFunc
	// Log receives a line per command run and per failure; nil is quiet.
	Log *log.Logger
	// Token is the bearer token TCP listeners want.
	Token string

	events   *hub
	graphs   graphCache
	oci      describedCache
	stopping chan struct{} // closed when Shutdown begins

	pid       int
	once      sync.Once
	runCtx    context.Context // cancelled when the grace period ends
	cancelRun context.CancelFunc

	mu       sync.Mutex
	draining bool
	servers  []*http.Server
	active   sync.WaitGroup // requests under way
	commands atomic.Int64   // command lines running
}

func (s *Server) init() {
	s.once.Do(func() {
		s.pid = os.Getpid()
		s.runCtx, s.cancelRun = context.WithCancel(context.Background())
		s.events = newHub(s.Store)
		s.events.changed = func(ctx context.Context) { s.refreshGraph(ctx) }
		s.stopping = make(chan struct{})
	})
}

// ServeUnix serves the CLI's route and the API on l, a unix socket, until
// Shutdown.
func (s *Server) ServeUnix(l net.Listener) error {
	s.init()
	mux := http.NewServeMux()
	mux.HandleFunc("/cli", s.handleCLI)
	s.routes(mux)
	return s.serve(l, s.track(mux))
}

// ServeTCP serves the API, the web UI and /v2/ on l, a loopback TCP
// listener, to clients with the token, until Shutdown.
func (s *Server) ServeTCP(l net.Listener) error {
	s.init()
	if s.Token == "" {
		return errors.New("pf serve: TCP needs a token")
	}
	_, port, err := net.SplitHostPort(l.Addr().String())
	if err != nil {
		return err
	}
	hosts := []string{"127.0.0.1:" + port, "localhost:" + port, "[::1]:" + port}
	// The history's layout, made now, so that the first browser to
	// come finds it ready.
	go s.refreshGraph(s.runCtx)
	mux := http.NewServeMux()
	s.routes(mux)
	return s.serve(l, s.guard(s.track(mux), hosts))
}

// routes are what both listeners serve.
func (s *Server) routes(mux *http.ServeMux) {
	s.apiRoutes(mux)
	s.uiRoutes(mux)
	mux.HandleFunc("/v2/", s.handleOCI)
}

func (s *Server) serve(l net.Listener, h http.Handler) error {
	hs := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		MaxHeaderBytes:    64 << 10,
		BaseContext:       func(net.Listener) context.Context { return s.runCtx },
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	s.mu.Lock()
	if s.draining {
		s.mu.Unlock()
		l.Close()
		return http.ErrServerClosed
	}
	s.servers = append(s.servers, hs)
	s.mu.Unlock()
	err := hs.Serve(l)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// track counts the requests under way, for Shutdown, and refuses new ones
// once it has begun.
func (s *Server) track(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		if s.draining {
			s.mu.Unlock()
			httpError(w, http.StatusServiceUnavailable, "pf serve is stopping")
			return
		}
		s.active.Add(1)
		s.mu.Unlock()
		defer s.active.Done()
		h.ServeHTTP(w, r)
	})
}

// Shutdown stops the listeners at once, lets the requests under way
// finish until ctx is done, then cancels those left and waits for them
// to return. The store's commits under way complete either way: a
// cancelled snapshot commits all or nothing. The caller closes the store
// after.
func (s *Server) Shutdown(ctx context.Context) {
	s.init()
	s.mu.Lock()
	if !s.draining {
		close(s.stopping)
	}
	s.draining = true
	servers := s.servers
	s.mu.Unlock()
	idle := make(chan struct{})
	go func() {
		s.active.Wait()
		close(idle)
	}()
	var wg sync.WaitGroup
	for _, hs := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hs.Shutdown(ctx) // closes the listener; waits for plain requests
		}()
	}
	select {
	case <-idle:
	case <-ctx.Done():
		s.logf("grace period over: cancelling the requests under way")
	}
	s.cancelRun()
	<-idle
	wg.Wait()
	for _, hs := range servers {
		hs.Close()
	}
}

// Info is what GET /api/v1/info says of the server.
type Info struct {
	Pid   int    `json:"pid"`
	Store string `json:"store"`
	// Commands is how many pf command lines the server runs now.
	Commands int64 `json:"commands"`
}

func (s *Server) handleInfo(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, Info{Pid: s.pid, Store: s.Store.Path(), Commands: s.commands.Load()})
}

// writeJSON writes v as the response.
func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}

func (s *Server) logf(format string, args ...any) {
	if s.Log != nil {
		s.Log.Printf(format, args...)
	}
}

// httpError writes a one-line plain-text error.
func httpError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	fmt.Fprintln(w, msg)
}

// SocketPath is where the server of the store at store listens, and
// where pf looks for it: beside the store.
func SocketPath(store string) string { return store + ".sock" }

// TokenPath is where the server of the store at store writes the bearer
// token of its TCP listener, mode 0600.
func TokenPath(store string) string { return store + ".token" }
