package manifest_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/processfork/pf/manifest"
)

func ExampleParseDigest() {
	d, err := manifest.ParseDigest("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
	fmt.Println(d.Short(), d == manifest.EmptyDigest, err)

	_, err = manifest.ParseDigest("sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855")
	fmt.Println(errors.Is(err, manifest.ErrInvalidDigest))
	fmt.Println(err)
	// Output:
	// e3b0c44298fc true <nil>
	// true
	// invalid digest "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855": upper-case hex digit 'E' at offset 7
}

func ExampleManifest_Encode() {
	// The spec's worked example: every layer the empty blob.
	m := manifest.New(
		manifest.Agent{Kind: "demo", Version: "0.1.0", Fingerprint: "f"},
		time.Date(2026, 5, 5, 14, 11, 0, 123456000, time.UTC),
	)
	e := manifest.EmptyDigest
	m.Model = manifest.Model{Base: e, Diff: e}
	m.Cache.Manifest = e
	m.World = manifest.World{FS: e, Env: e, Procs: e}
	m.Effects.Ledger = e
	m.Trace.Messages = e
	b, err := m.Encode()
	if err != nil {
		panic(err)
	}
	fmt.Println(string(b))
	fmt.Println(manifest.Sum(b))
	// Output:
	// {"schema_version":1,"media_type":"application/vnd.processfork.image.v1+json","agent":{"kind":"demo","version":"0.1.0","fingerprint":"f"},"model":{"base":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","diff":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},"cache":{"layout":"paged-batchinvariant-v1","manifest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},"world":{"fs":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","env":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","procs":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},"effects":{"ledger":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},"trace":{"messages":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},"created_at":"2026-05-05T14:11:00.123456Z","parents":[]}
	// sha256:9cb9fe7f9117f1173db7509e290acaf7a0d419bc832d731559a7c2b6ab6a565c
}
