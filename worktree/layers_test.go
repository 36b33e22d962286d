package worktree

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/processfork/pf"
	"github.com/processfork/pf/manifest"
)

func layerFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "layer.jsonl")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestTraceFile(t *testing.T) {
	for _, tc := range []struct {
		name    string
		content string
		wantErr string // "" for success; else the problem after "file:line: "
	}{
		{"empty file", "", ""},
		{"two messages", `{"role":"user","content":"hi"}` + "\n" + `{"role":"assistant","content":[{"type":"text","text":"hello"}]}` + "\n", ""},
		{"no final newline", `{"role":"user","content":"hi"}`, ""},
		{"CRLF", `{"role":"user","content":"hi"}` + "\r\n", ""},
		{"null content", `{"role":"assistant","content":null,"tool_calls":[]}`, ""},
		{"not JSON", `{"role":"user","content":"hi"}` + "\n" + `{"role":"user",` + "\n", ":2: invalid line: not JSON"},
		{"empty line", `{"role":"user","content":"hi"}` + "\n\n" + `{"role":"user","content":"hi"}`, ":2: invalid line: empty line"},
		{"array", `["user","hi"]`, ":1: invalid line: not a JSON object"},
		{"null", `null`, ":1: invalid line: null"},
		{"no role", `{"content":"hi"}`, `:1: invalid line: "role" missing`},
		{"role not a string", `{"role":1,"content":"hi"}`, `:1: invalid line: "role": 1 is not a string`},
		{"empty role", `{"role":"","content":"hi"}`, `:1: invalid line: "role" is empty`},
		{"no content", `{"role":"user"}`, `:1: invalid line: "content" missing`},
		{"third line", strings.Repeat(`{"role":"user","content":"hi"}`+"\n", 2) + `{"role":"user"}` + "\n", `:3: invalid line: "content" missing`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := layerFile(t, tc.content)
			s := openStore(t)
			id, err := s.Snapshot(ctx, pf.Snapshot{Agent: agent, Trace: TraceFile{Path: path}})
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				img, _ := s.Image(ctx, id)
				if got := blob(t, s, img.Manifest.Trace.Messages); got != tc.content {
					t.Errorf("stored %q, want the file's bytes %q", got, tc.content)
				}
				return
			}
			if err == nil || !errors.Is(err, ErrInvalidLine) || !strings.Contains(err.Error(), path+tc.wantErr) {
				t.Fatalf("snapshot: %v, want %q", err, path+tc.wantErr)
			}
			if images(t, s) != 0 {
				t.Error("an image was committed")
			}
		})
	}
}

const (
	entry1 = `{"ts":"2026-05-05T14:11:00Z","tool_id":"read_file","args_hash":"sha256:aa","idempotency_key":"k-0","result_hash":"sha256:bb","side_effect_class":"pure","session_hmac":"cc"}`
	entry2 = `{"ts":"2026-05-05T14:11:01.5Z","tool_id":"git_push","args_hash":"sha256:aa","idempotency_key":"","result_hash":"sha256:bb","side_effect_class":"irreversible","session_hmac":"cc","extra":1}`
)

func TestEffectsFile(t *testing.T) {
	header := func(n string) string { return `{"kind":"effects.ledger.v1","entries":` + n + "}\n" }
	for _, tc := range []struct {
		name    string
		content string
		stored  string // what the ledger blob holds, when it succeeds
		wantErr string
	}{
		{"whole ledger", header("2") + entry1 + "\n" + entry2 + "\n", header("2") + entry1 + "\n" + entry2 + "\n", ""},
		{"entries alone get a header", entry1 + "\n" + entry2 + "\n", header("2") + entry1 + "\n" + entry2 + "\n", ""},
		{"empty", "", header("0"), ""},
		{"header alone", header("0"), header("0"), ""},
		{"count mismatch", header("3") + entry1 + "\n", "", ":1: invalid line: the header says 3 entries, the file has 1"},
		{"bad count", header(`"two"`) + entry1 + "\n", "", `:1: invalid line: "entries": "two" is not a count`},
		{"merged", `{"kind":"effects.merged.v1","parent_a":"x"}` + "\n", "", ":1: invalid line: kind effects.merged.v1: merged ledgers are made by merging"},
		{"other kind", `{"kind":"trace"}` + "\n", "", `:1: invalid line: kind "trace"`},
		{"header not first", entry1 + "\n" + header("1"), "", `:2: invalid line: "ts" missing`},
		{"bad class", strings.Replace(entry1, `"pure"`, `"risky"`, 1), "", `:1: invalid line: "side_effect_class": "risky" is none of`},
		{"bad ts", strings.Replace(entry1, `"2026-05-05T14:11:00Z"`, `"yesterday"`, 1), "", `:1: invalid line: "ts": "yesterday" is not an RFC 3339 time`},
		{"missing hmac", strings.Replace(entry1, `,"session_hmac":"cc"`, "", 1), "", `:1: invalid line: "session_hmac" missing`},
		{"empty tool", strings.Replace(entry1, `"read_file"`, `""`, 1), "", `:1: invalid line: "tool_id" is empty`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := layerFile(t, tc.content)
			s := openStore(t)
			id, err := s.Snapshot(ctx, pf.Snapshot{Agent: agent, Effects: EffectsFile{Path: path}})
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				img, _ := s.Image(ctx, id)
				if got := blob(t, s, img.Manifest.Effects.Ledger); got != tc.stored {
					t.Errorf("stored %q, want %q", got, tc.stored)
				}
				return
			}
			if err == nil || !errors.Is(err, ErrInvalidLine) || !strings.Contains(err.Error(), path+tc.wantErr) {
				t.Fatalf("snapshot: %v, want %q", err, path+tc.wantErr)
			}
		})
	}
}

// TestLayersNotGiven: the layers an agent gives nothing for are what the
// reference's CLI writes for them (pf-cli/src/commands/snapshot.rs; its
// serde_json::json! objects have their keys sorted), byte for byte, so
// that the same inputs make the same layers in both.
func TestLayersNotGiven(t *testing.T) {
	s := openStore(t)
	id, err := s.Snapshot(ctx, pf.Snapshot{Agent: agent, Model: ModelFile{Agent: "claude-code"}, Cache: CacheFile{}, Effects: EffectsFile{}})
	if err != nil {
		t.Fatal(err)
	}
	img, _ := s.Image(ctx, id)
	for _, l := range []struct {
		name string
		d    manifest.Digest
		want string
	}{
		{"model.base", img.Manifest.Model.Base, `base:claude-code`},
		{"model.diff", img.Manifest.Model.Diff, `{"diff":{"adapters":[],"kind":"lora"},"layout":"model.diff.v1"}`},
		{"cache.manifest", img.Manifest.Cache.Manifest, `{"dtype":"bf16","head_dim":0,"layout":"paged-batchinvariant-v1","logical_seqs":[],"n_heads":0,"n_layers":0,"page_size_tokens":16,"pages":[]}`},
		{"effects.ledger", img.Manifest.Effects.Ledger, "{\"kind\":\"effects.ledger.v1\",\"entries\":0}\n"},
	} {
		if got := blob(t, s, l.d); got != l.want {
			t.Errorf("%s %s, want %s", l.name, got, l.want)
		}
	}
	// The reference reads its empty page manifest; so does pf.
	if c, err := manifest.DecodeCachePages(EmptyCache); err != nil || c.Dtype != manifest.DtypeBF16 || c.PageSizeTokens != 16 {
		t.Errorf("DecodeCachePages(EmptyCache) = %+v, %v", c, err)
	}
}

func TestModelFile(t *testing.T) {
	for _, tc := range []struct {
		name, content, wantErr string
	}{
		{"v1", `{"layout":"model.diff.v1","diff":{"lora":{"rank":8,"weights":["sha256:aa"]}}}` + "\n", ""},
		{"layout last", `{"diff":{"a":[1,2,{"b":null}]},"layout":"model.diff.v2"}`, ""},
		{"no layout", `{"diff":{}}`, `no "layout"`},
		{"layout not a string", `{"layout":2}`, `"layout" is not a non-empty string`},
		{"not an object", `["model.diff.v1"]`, "not a JSON object"},
		{"trailing data", `{"layout":"model.diff.v1"} {}`, "data after the object"},
		{"truncated", `{"layout":"model.diff.v1","diff":{`, "model diff"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := layerFile(t, tc.content)
			s := openStore(t)
			id, err := s.Snapshot(ctx, pf.Snapshot{Agent: agent, Model: ModelFile{Diff: path}})
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				img, _ := s.Image(ctx, id)
				if got := blob(t, s, img.Manifest.Model.Diff); got != tc.content {
					t.Errorf("stored %q, want the file's bytes", got)
				}
				return
			}
			if !errors.Is(err, ErrInvalidFile) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("snapshot: %v, want %q naming the file", err, tc.wantErr)
			}
		})
	}
}

func TestCacheFile(t *testing.T) {
	s := openStore(t)
	k, _ := s.Blobs().PutBytes(ctx, []byte("k page"))
	v, _ := s.Blobs().PutBytes(ctx, []byte("v page"))
	pages := &manifest.CachePages{Layout: "paged-batchinvariant-v1", PageSizeTokens: 16, NLayers: 2, NHeads: 4, HeadDim: 8, Dtype: manifest.DtypeF16,
		Pages: []manifest.CachePage{{Ix: 0, K: k, V: v}}}
	raw, err := pages.Encode()
	if err != nil {
		t.Fatal(err)
	}
	id, err := s.Snapshot(ctx, pf.Snapshot{Agent: agent, Cache: CacheFile{Manifest: layerFile(t, string(raw))}})
	if err != nil {
		t.Fatal(err)
	}
	img, _ := s.Image(ctx, id)
	if img.Manifest.Cache.Layout != "paged-batchinvariant-v1" || blob(t, s, img.Manifest.Cache.Manifest) != string(raw) {
		t.Errorf("cache layer %+v", img.Manifest.Cache)
	}

	// A page manifest whose pages are not stored cannot be committed.
	missing := &manifest.CachePages{Layout: "paged-batchinvariant-v1", Dtype: manifest.DtypeBF16, Pages: []manifest.CachePage{{Ix: 0, K: manifest.Sum([]byte("nowhere")), V: v}}}
	raw, _ = missing.Encode()
	if _, err := s.Snapshot(ctx, pf.Snapshot{Agent: agent, Cache: CacheFile{Manifest: layerFile(t, string(raw))}}); !errors.Is(err, pf.ErrNotFound) {
		t.Errorf("pages not stored: %v, want ErrNotFound", err)
	}
	path := layerFile(t, `{"layout":"","pages":[]}`)
	if _, err := s.Snapshot(ctx, pf.Snapshot{Agent: agent, Cache: CacheFile{Manifest: path}}); !errors.Is(err, ErrInvalidFile) || !strings.Contains(err.Error(), path) {
		t.Errorf("invalid manifest: %v", err)
	}
}

func TestIsSecretName(t *testing.T) {
	for name, want := range map[string]bool{
		"GITHUB_TOKEN": true, "github_token": true, "OPENAI_API_KEY": true, "AWS_SECRET_ACCESS_KEY": true,
		"AWS_ACCESS_KEY_ID": true, "DB_PASSWORD": true, "MYSQL_PWD": true, "SECRET": true, "client_secret_file": true,
		"NPM_AUTH": true, "GPG_PASSPHRASE": true, "GOOGLE_APPLICATION_CREDENTIALS": true, "SSH_PRIVATE_KEY": true,
		"HOME": false, "PATH": false, "PWD": false, "OLDPWD": false, "MONKEY": false, "KEYBOARD": false,
		"SSH_AUTH_SOCK": false, "GIT_AUTHOR_NAME": false, "TOKENIZERS_PARALLELISM": false, "GIT_ASKPASS": false,
	} {
		if got := IsSecretName(name); got != want {
			t.Errorf("IsSecretName(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestEncodeEnv(t *testing.T) {
	for _, tc := range []struct {
		name    string
		environ []string
		scrub   []string
		want    string
	}{
		{"empty", nil, nil, `{"kind":"env.v1","cwd":"/w","vars":{}}`},
		{"sorted, secrets redacted", []string{"PATH=/bin", "API_TOKEN=t0k", "HOME=/root"}, nil,
			`{"kind":"env.v1","cwd":"/w","vars":{"API_TOKEN":"<redacted>","HOME":"/root","PATH":"/bin"}}`},
		{"scrub adds names", []string{"INTERNAL_URL=http://x", "MY_VAR=1", "OTHER=2"}, []string{"^MY_", "URL$"},
			`{"kind":"env.v1","cwd":"/w","vars":{"INTERNAL_URL":"<redacted>","MY_VAR":"<redacted>","OTHER":"2"}}`},
		{"passwords in URLs", []string{"DATABASE_URL=postgres://app:hunter2@db/app", "MIRROR=https://user@mirror/"}, nil,
			`{"kind":"env.v1","cwd":"/w","vars":{"DATABASE_URL":"postgres://app:<redacted>@db/app","MIRROR":"https://user@mirror/"}}`},
		{"credentials inside values", []string{
			"AUTH_HEADER=Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.abc",
			"SLACK=https://hooks.slack.com/services/T000/B000/XXXXXXXX",
			"DISCORD=https://discord.com/api/webhooks/123/abcdef",
			"FEED=https://example.com/feed?user=me&token=abc123",
			"OPENAI=sk-proj-abcdefghijklmnopqrstuvwx",
			"GH=use ghp_abcdefghijklmnopqrstuvwxyz0123 here",
			"PLAIN=https://example.com/docs?page=2",
		}, nil,
			`{"kind":"env.v1","cwd":"/w","vars":{"AUTH_HEADER":"Authorization: Bearer <redacted>","DISCORD":"https://discord.com/<redacted>",` +
				`"FEED":"https://example.com/feed?token=<redacted>&user=me","GH":"use <redacted> here","OPENAI":"<redacted>",` +
				`"PLAIN":"https://example.com/docs?page=2","SLACK":"https://hooks.slack.com/<redacted>"}}`},
		{"shell noise dropped", []string{"SHLVL=2", "_=/usr/bin/pf", "OLDPWD=/tmp", "PWD=/home/u", "KEEP=1"}, nil,
			`{"kind":"env.v1","cwd":"/w","vars":{"KEEP":"1"}}`},
		{"first of duplicates, malformed dropped", []string{"A=1", "A=2", "NOEQUALS", "=C:=C:\\"}, nil,
			`{"kind":"env.v1","cwd":"/w","vars":{"A":"1"}}`},
		{"escaping", []string{"X=a\"b\\c\nd\te\x01f<&>é\u2028", "BAD=\xff"}, nil,
			`{"kind":"env.v1","cwd":"/w","vars":{"BAD":"` + "\uFFFD" + `","X":"a\"b\\c\nd\te\u0001f<&>é` + "\u2028" + `"}}`},
		{"empty value kept", []string{"EMPTY="}, nil, `{"kind":"env.v1","cwd":"/w","vars":{"EMPTY":""}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var scrub []*regexp.Regexp
			for _, s := range tc.scrub {
				scrub = append(scrub, regexp.MustCompile(s))
			}
			if got := string(encodeEnv("/w", tc.environ, scrub)); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}
