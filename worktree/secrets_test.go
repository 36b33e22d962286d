package worktree

import "testing"

func TestIsSecretPath(t *testing.T) {
	for path, want := range map[string]bool{
		".env": true, "app/.env": true, ".env.local": true, ".env.production": true,
		"certs/server.pem": true, "tls.key": true, "id_rsa": true, "deploy/id_ed25519": true,
		".npmrc": true, ".pypirc": true, ".netrc": true, ".git-credentials": true,
		"config/credentials.json": true, "home/.aws/credentials": true, ".docker/config.json": true,
		".env.example": false, ".env.sample": false, ".env.template": false, "id_rsa.pub": false,
		"src/env.go": false, "keys/README.md": false, "credentials.md": false, "aws/credentials": false,
		"monkey.keynote": false, "docker/config.json": false,
	} {
		if got := IsSecretPath(path); got != want {
			t.Errorf("IsSecretPath(%q) = %v, want %v", path, got, want)
		}
	}
}
