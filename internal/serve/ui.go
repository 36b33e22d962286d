package serve

import (
	"embed"
	"io/fs"
	"net/http"
)

// The web UI: plain HTML, CSS and JavaScript in ui/, embedded in the
// binary, with no build step and nothing fetched from elsewhere. Only
// these files are served: no request path reaches the file system.
//
//go:embed ui
var uiFiles embed.FS

//go:embed openapi.json
var openAPI []byte

// uiPolicy lets the UI's own scripts and styles run, and nothing else.
const uiPolicy = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

func (s *Server) uiRoutes(mux *http.ServeMux) {
	files, _ := fs.Sub(uiFiles, "ui")
	static := http.FileServerFS(files)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		uiHeaders(w)
		http.ServeFileFS(w, r, files, "index.html")
	})
	for _, name := range []string{"app.js", "style.css", "favicon.svg"} {
		mux.HandleFunc("GET /ui/"+name, func(w http.ResponseWriter, r *http.Request) {
			uiHeaders(w)
			r2 := r.Clone(r.Context())
			r2.URL.Path = "/" + name
			static.ServeHTTP(w, r2)
		})
	}
}

func uiHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", uiPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-cache")
}

func (s *Server) handleOpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Write(openAPI)
}
