package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/processfork/pf"
	"github.com/processfork/pf/internal/ociimage"
	"github.com/processfork/pf/manifest"
)

// The read-only OCI distribution API under /v2/: each image of the store
// in the reference's OCI form (package ociimage: the pf manifest as the
// config, the signature layer, one zstd layer per blob), so that oras,
// crane or skopeo copy images straight out of the store. The store is one
// repository, whatever name a client gives it: a tag of the store is a tag
// there (when its name is a valid OCI tag), and every image is also
// tagged sha256-<its id's hex>, as pf push tags ancestors. Writes are
// refused.

// The patterns compile on first use: every pf process links this package.
var (
	ociName = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$`)
	})
	ociTag = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$`) })
)

// ociError writes the distribution API's error body.
func ociError(w http.ResponseWriter, status int, code, format string, args ...any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]any{{"code": code, "message": fmt.Sprintf(format, args...)}}})
}

// describedCache keeps images' OCI forms: describing one reads and
// compresses every blob it reaches.
type describedCache struct {
	mu       sync.Mutex
	byID     map[manifest.Digest]*describeOnce
	order    []manifest.Digest
	byDigest map[manifest.Digest]manifest.Digest // a manifest's, layer's or signature's digest -> image id
}

type describeOnce struct {
	once sync.Once
	d    *ociimage.Described
	err  error
}

// maxDescribed is how many images' OCI forms the server keeps.
const maxDescribed = 256

func (s *Server) described(ctx context.Context, id manifest.Digest) (*ociimage.Described, error) {
	c := &s.oci
	c.mu.Lock()
	if c.byID == nil {
		c.byID, c.byDigest = map[manifest.Digest]*describeOnce{}, map[manifest.Digest]manifest.Digest{}
	}
	e, ok := c.byID[id]
	if !ok {
		e = &describeOnce{}
		c.byID[id] = e
		c.order = append(c.order, id)
		if len(c.order) > maxDescribed {
			old := c.order[0]
			c.order = c.order[1:]
			delete(c.byID, old)
		}
	}
	c.mu.Unlock()
	e.once.Do(func() {
		e.d, e.err = ociimage.Describe(context.WithoutCancel(ctx), s.Store, id, "")
		if e.err != nil {
			return
		}
		c.mu.Lock()
		c.byDigest[manifest.Sum(e.d.Manifest)] = id
		c.byDigest[manifest.Sum(e.d.Signature)] = id
		for _, l := range e.d.Layers {
			c.byDigest[l.Digest] = id
		}
		c.mu.Unlock()
	})
	if e.err != nil {
		c.mu.Lock()
		if c.byID[id] == e {
			delete(c.byID, id)
		}
		c.mu.Unlock()
	}
	return e.d, e.err
}

// imageOfDigest is the image a digest the API served belongs to.
func (s *Server) imageOfDigest(d manifest.Digest) (manifest.Digest, bool) {
	s.oci.mu.Lock()
	defer s.oci.mu.Unlock()
	id, ok := s.oci.byDigest[d]
	return id, ok
}

func (s *Server) handleOCI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	rest := strings.TrimPrefix(r.URL.Path, "/v2/")
	if rest == "" {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			ociError(w, http.StatusMethodNotAllowed, "UNSUPPORTED", "this registry is read-only")
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{})
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		ociError(w, http.StatusMethodNotAllowed, "UNSUPPORTED", "pf serve's registry is read-only: %s is refused", r.Method)
		return
	}
	var name, kind, ref string
	for _, k := range []string{"/manifests/", "/blobs/", "/tags/", "/referrers/"} {
		if i := strings.LastIndex(rest, k); i > 0 {
			name, kind, ref = rest[:i], strings.Trim(k, "/"), rest[i+len(k):]
			break
		}
	}
	if kind == "" {
		ociError(w, http.StatusNotFound, "NAME_UNKNOWN", "no such route: %s", r.URL.Path)
		return
	}
	if !ociName().MatchString(name) {
		ociError(w, http.StatusBadRequest, "NAME_INVALID", "invalid repository name %q", name)
		return
	}
	switch kind {
	case "manifests":
		s.ociManifest(w, r, ref)
	case "blobs":
		s.ociBlob(w, r, ref)
	case "tags":
		if ref != "list" {
			ociError(w, http.StatusNotFound, "NAME_UNKNOWN", "no such route: %s", r.URL.Path)
			return
		}
		s.ociTags(w, r, name)
	case "referrers":
		s.ociReferrers(w, r, ref)
	}
}

// ociImageOf resolves a manifest reference: a tag of the store, the tag
// sha256-<hex> of any image, or the digest of a manifest served before.
func (s *Server) ociImageOf(ctx context.Context, ref string) (manifest.Digest, error) {
	if strings.HasPrefix(ref, "sha256:") {
		d, err := manifest.ParseDigest(ref)
		if err != nil {
			return manifest.Digest{}, err
		}
		if id, ok := s.imageOfDigest(d); ok {
			return id, nil
		}
		return manifest.Digest{}, fmt.Errorf("manifest %s: %w", ref, pf.ErrNotFound)
	}
	if !ociTag().MatchString(ref) {
		return manifest.Digest{}, fmt.Errorf("%w: invalid tag %q", errBadRequest, ref)
	}
	if hex, ok := strings.CutPrefix(ref, "sha256-"); ok && len(hex) == 64 {
		id, err := manifest.ParseHex(hex)
		if err != nil {
			return manifest.Digest{}, fmt.Errorf("%w: %v", errBadRequest, err)
		}
		if has, err := s.Store.HasImage(ctx, id); err != nil || !has {
			return manifest.Digest{}, fmt.Errorf("image %s: %w", id, pf.ErrNotFound)
		}
		return id, nil
	}
	tags, err := s.Store.Tags(ctx)
	if err != nil {
		return manifest.Digest{}, err
	}
	for _, t := range tags {
		if t.Name == ref {
			return t.ID, nil
		}
	}
	return manifest.Digest{}, fmt.Errorf("tag %s: %w", ref, pf.ErrNotFound)
}

func (s *Server) ociManifest(w http.ResponseWriter, r *http.Request, ref string) {
	ctx := r.Context()
	id, err := s.ociImageOf(ctx, ref)
	if err == nil {
		var d *ociimage.Described
		if d, err = s.described(ctx, id); err == nil {
			h := w.Header()
			h.Set("Content-Type", ociimage.MediaTypeManifest)
			h.Set("Docker-Content-Digest", manifest.Sum(d.Manifest).String())
			h.Set("Content-Length", strconv.Itoa(len(d.Manifest)))
			w.WriteHeader(http.StatusOK)
			if r.Method == http.MethodGet {
				w.Write(d.Manifest)
			}
			return
		}
	}
	switch {
	case errors.Is(err, errBadRequest), errors.Is(err, manifest.ErrInvalidDigest):
		ociError(w, http.StatusBadRequest, "MANIFEST_INVALID", "%v", err)
	case errors.Is(err, pf.ErrNotFound):
		ociError(w, http.StatusNotFound, "MANIFEST_UNKNOWN", "%v", err)
	default:
		ociError(w, http.StatusInternalServerError, "UNKNOWN", "%v", err)
	}
}

func (s *Server) ociBlob(w http.ResponseWriter, r *http.Request, ref string) {
	ctx := r.Context()
	d, err := manifest.ParseDigest(ref)
	if err != nil {
		ociError(w, http.StatusBadRequest, "DIGEST_INVALID", "%v", err)
		return
	}
	var body io.ReadCloser
	var size int64
	if id, ok := s.imageOfDigest(d); ok {
		desc, derr := s.described(ctx, id)
		if derr == nil {
			body, size, err = desc.Open(ctx, s.Store, d)
		} else {
			err = derr
		}
	} else if has, herr := s.Store.HasImage(ctx, d); herr == nil && has {
		// An image's config is its manifest: its digest is the id.
		img, ierr := s.Store.Image(ctx, d)
		if err = ierr; err == nil {
			body, size = io.NopCloser(bytes.NewReader(img.Raw)), int64(len(img.Raw))
		}
	} else {
		err = fmt.Errorf("blob %s: %w", d, pf.ErrNotFound)
	}
	if err != nil {
		if errors.Is(err, pf.ErrNotFound) {
			ociError(w, http.StatusNotFound, "BLOB_UNKNOWN", "%v", err)
		} else {
			ociError(w, http.StatusInternalServerError, "UNKNOWN", "%v", err)
		}
		return
	}
	defer body.Close()
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Docker-Content-Digest", d.String())
	h.Set("Content-Length", strconv.FormatInt(size, 10))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		io.Copy(w, body)
	}
}

func (s *Server) ociTags(w http.ResponseWriter, r *http.Request, name string) {
	tags, err := s.Store.Tags(r.Context())
	if err != nil {
		ociError(w, http.StatusInternalServerError, "UNKNOWN", "%v", err)
		return
	}
	names := []string{}
	for _, t := range tags {
		if ociTag().MatchString(t.Name) {
			names = append(names, t.Name)
		}
	}
	slices.Sort(names)
	q := r.URL.Query()
	if last := q.Get("last"); last != "" {
		i, _ := slices.BinarySearch(names, last)
		for i < len(names) && names[i] <= last {
			i++
		}
		names = names[i:]
	}
	if v := q.Get("n"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			ociError(w, http.StatusBadRequest, "PAGINATION_NUMBER_INVALID", "n %q", v)
			return
		}
		if n < len(names) {
			names = names[:n]
			if n > 0 {
				w.Header().Set("Link", fmt.Sprintf(`</v2/%s/tags/list?n=%d&last=%s>; rel="next"`, name, n, names[n-1]))
			}
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"name": name, "tags": names})
}

// ociReferrers answers the referrers API: pf images have no referrers.
func (s *Server) ociReferrers(w http.ResponseWriter, r *http.Request, ref string) {
	if _, err := manifest.ParseDigest(ref); err != nil {
		ociError(w, http.StatusBadRequest, "DIGEST_INVALID", "%v", err)
		return
	}
	w.Header().Set("Content-Type", "application/vnd.oci.image.index.v1+json")
	if at := r.URL.Query().Get("artifactType"); at != "" {
		w.Header().Set("OCI-Filters-Applied", "artifactType")
	}
	w.WriteHeader(http.StatusOK)
	json.NewEncoder(w).Encode(map[string]any{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": []any{}})
}
