// Package ociregistry pushes pf images to an OCI registry and pulls them
// back, in the reference implementation's OCI form (package ociimage),
// through oras-go: any registry that speaks the OCI distribution API
// (CNCF distribution, Harbor, ECR, GHCR, Artifactory) keeps them.
//
// A reference is oci://host[:port]/repository[:tag] (tag latest by
// default) or oci://host[:port]/repository@sha256:… to pull one manifest.
// Only what is missing moves: a push asks the registry for each layer
// before it uploads it, and a pull fetches only the blobs the store lacks.
// With ancestors, each image pushed is also tagged sha256-<its id's hex>,
// by which a pull with ancestors finds each parent in the same repository.
package ociregistry

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"

	"github.com/processfork/pf/manifest"
	"oras.land/oras-go/v2/registry"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/credentials"
	"oras.land/oras-go/v2/registry/remote/errcode"
	"oras.land/oras-go/v2/registry/remote/retry"
)

// KeyEnv names the environment variable of the signing key, as the
// reference's oci registry reads it.
const KeyEnv = "PF_OCI_REG_SIGN_KEY"

// Options say how to reach a registry.
type Options struct {
	// PlainHTTP speaks plain http to any host. Without it, only a
	// loopback host may answer in plain http (pf tries https first).
	PlainHTTP bool
	// Getenv reads the environment of the command: $OCI_BEARER,
	// $OCI_USERNAME and $OCI_PASSWORD (the reference's), $DOCKER_CONFIG
	// and $HOME (for Docker's config.json and its credential helpers).
	Getenv func(string) string
	// SignKey is the key of the signatures (the reference's default if
	// empty).
	SignKey string
	// Client is the HTTP client under oras-go's auth and retries; nil
	// means Go's default transport (tests give one that trusts their
	// certificate).
	Client *http.Client
	// SpoolDir is where a push writes the compressed form of a large
	// blob before it uploads it (os.TempDir() if empty). On Unix those
	// files lose their names as soon as they are made and are reused
	// from blob to blob until the push ends.
	SpoolDir string
}

// Ref is a parsed oci:// reference.
type Ref struct {
	registry.Reference
}

// ParseRef reads oci://host[:port]/repository[:tag|@digest].
func ParseRef(s string) (Ref, error) {
	rest, ok := strings.CutPrefix(s, "oci://")
	if !ok {
		return Ref{}, fmt.Errorf("%q is not an oci:// reference", s)
	}
	r, err := registry.ParseReference(rest)
	if err != nil {
		return Ref{}, fmt.Errorf("%q: %v (want oci://host[:port]/repository[:tag])", s, err)
	}
	if r.Reference == "" {
		r.Reference = "latest"
	}
	return Ref{r}, nil
}

func (r Ref) String() string { return "oci://" + r.Reference.String() }

// ancestorTag is the tag under which an image pushed with its ancestors is
// found by id.
func ancestorTag(id manifest.Digest) string { return "sha256-" + id.Hex() }

// isLoopback reports whether host (without port) is this machine.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// repository connects to ref's repository with credentials, choosing
// plain http only where allowed.
func repository(ctx context.Context, ref Ref, opts Options) (*remote.Repository, error) {
	repo, err := remote.NewRepository(ref.Registry + "/" + ref.Repository)
	if err != nil {
		return nil, err
	}
	base := opts.Client
	if base == nil {
		base = &http.Client{}
	}
	client := &http.Client{Transport: retry.NewTransport(base.Transport), Jar: base.Jar, Timeout: base.Timeout}
	cred, err := credentialFunc(opts)
	if err != nil {
		return nil, err
	}
	repo.Client = &auth.Client{Client: client, Credential: cred, Cache: auth.NewCache(), Header: http.Header{"User-Agent": {"pf"}}}
	repo.PlainHTTP = opts.PlainHTTP
	if !repo.PlainHTTP && isLoopback(hostOnly(ref.Registry)) {
		// As Docker does for a registry on this machine: https if it
		// answers it, else plain http.
		repo.PlainHTTP = !speaksTLS(ctx, client, ref.Registry)
	}
	return repo, nil
}

func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return hostport
}

// speaksTLS reports whether the registry answers https.
func speaksTLS(ctx context.Context, c *http.Client, hostport string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+hostport+"/v2/", nil)
	if err != nil {
		return false
	}
	plain := &http.Client{Transport: c.Transport.(*retry.Transport).Base, Timeout: c.Timeout}
	if plain.Transport == nil {
		plain.Transport = http.DefaultTransport
	}
	resp, err := plain.Do(req)
	if err != nil {
		return !strings.Contains(err.Error(), "server gave HTTP response to HTTPS client")
	}
	resp.Body.Close()
	return true
}

// credentialFunc resolves credentials as the reference does first
// ($OCI_BEARER, else $OCI_USERNAME and $OCI_PASSWORD), then from Docker's
// config.json and its credential helpers.
func credentialFunc(opts Options) (auth.CredentialFunc, error) {
	getenv := opts.Getenv
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	if tok := getenv("OCI_BEARER"); tok != "" {
		return func(context.Context, string) (auth.Credential, error) {
			return auth.Credential{AccessToken: tok}, nil
		}, nil
	}
	if user, pass := getenv("OCI_USERNAME"), getenv("OCI_PASSWORD"); user != "" || pass != "" {
		return func(context.Context, string) (auth.Credential, error) {
			return auth.Credential{Username: user, Password: pass}, nil
		}, nil
	}
	dir := getenv("DOCKER_CONFIG")
	if dir == "" {
		home := getenv("HOME")
		if home == "" {
			return nil, nil
		}
		dir = filepath.Join(home, ".docker")
	}
	store, err := credentials.NewStore(filepath.Join(dir, "config.json"), credentials.StoreOptions{})
	if err != nil {
		return nil, fmt.Errorf("docker config %s: %w", dir, err)
	}
	return credentials.Credential(store), nil
}

// explain turns what a registry answers into an error a person can act on.
func explain(ref Ref, err error) error {
	var resp *errcode.ErrorResponse
	if errors.As(err, &resp) && (resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden) {
		return fmt.Errorf("%s: the registry refused the credentials (%d %s): set $OCI_USERNAME and $OCI_PASSWORD, or $OCI_BEARER, or log in with docker login", ref, resp.StatusCode, http.StatusText(resp.StatusCode))
	}
	return fmt.Errorf("%s: %w", ref, err)
}
