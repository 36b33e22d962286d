package worktree

import (
	"strings"
	"sync"
)

// DefaultSecrets are the files a capture leaves out unless told to store
// them (Capture.IncludeSecrets), and that Restore leaves as they are:
// files that usually hold credentials. Each is a gitignore pattern that
// matches at any depth; a "!" pattern keeps what an earlier one matched
// (the examples and templates that projects commit on purpose).
var DefaultSecrets = []string{
	".env",
	".env.*",
	"!.env.example",
	"!.env.sample",
	"!.env.template",
	"*.pem",
	"*.key",
	"*.p12",
	"*.pfx",
	"*.jks",
	"*.keystore",
	"*.kdbx",
	"*.ppk",
	"id_rsa*",
	"id_dsa*",
	"id_ecdsa*",
	"id_ed25519*",
	"!id_*.pub",
	".npmrc",
	".pypirc",
	".netrc",
	"_netrc",
	".git-credentials",
	".htpasswd",
	".pgpass",
	"credentials.json",
	"client_secret*.json",
	"**/.aws/credentials",
	"**/.docker/config.json",
	"**/.kube/config",
	"*.tfstate",
	"*.tfstate.backup",
}

// secretRules match DefaultSecrets; built on first use, not at start-up.
var secretRules = sync.OnceValue(func() *patternSet { return newPatternSet(parsePatterns(DefaultSecrets, nil)) })

// IsSecretPath reports whether the entry at path ('/'-separated, relative
// to the captured directory) is one DefaultSecrets names. Directories are
// never secrets themselves.
func IsSecretPath(path string) bool {
	return isSecret(strings.Split(path, "/"), false)
}

func isSecret(segs []string, isDir bool) bool {
	return !isDir && secretRules().matcher.Match(segs, false)
}
