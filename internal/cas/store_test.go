package cas_test

import (
	"path/filepath"
	"testing"

	"github.com/processfork/pf/internal/cas"
	"github.com/processfork/pf/internal/cas/castest"
	"github.com/processfork/pf/internal/db"
)

func openBolt(t *testing.T) *cas.Bolt {
	t.Helper()
	d, err := db.Open(filepath.Join(t.TempDir(), "store.pf"), db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return cas.New(d, cas.Options{})
}

func TestBolt_Conformance(t *testing.T) {
	castest.Run(t, func(t *testing.T) cas.Store { return openBolt(t) })
}

func TestMemory_Conformance(t *testing.T) {
	castest.Run(t, func(t *testing.T) cas.Store { return cas.NewMemory() })
}
