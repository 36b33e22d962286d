package manifest

import (
	"errors"
	"strings"
	"testing"
)

func TestMergedEffects(t *testing.T) {
	e := &MergedEffects{ParentA: Sum([]byte("a")), ParentB: Sum([]byte("b")), Ancestor: EmptyDigest}
	b := e.Encode()
	want := `{"kind":"effects.merged.v1","parent_a":"` + e.ParentA.String() + `","parent_b":"` + e.ParentB.String() +
		`","ancestor":"` + EmptyDigest.String() + `"}`
	if string(b) != want {
		t.Fatalf("Encode = %s, want %s", b, want)
	}
	back, ok, err := DecodeMergedEffects(b)
	if err != nil || !ok || *back != *e {
		t.Errorf("DecodeMergedEffects = %+v, %v, %v", back, ok, err)
	}
}

func TestDecodeMergedEffectsNotMerged(t *testing.T) {
	for _, in := range []string{
		``,
		"\n",
		`{"kind":"effects.ledger.v1","entries":0}`,
		"{\"kind\":\"effects.ledger.v1\",\"entries\":1}\n{\"ts\":1,\"tool_id\":\"x\"}\n",
		`[]`,
		`{"parent_a":"x"}`,
		`not json`,
		`{"kind":"effects.merged.v2"}`,
	} {
		e, ok, err := DecodeMergedEffects([]byte(in))
		if e != nil || ok || err != nil {
			t.Errorf("DecodeMergedEffects(%q) = %+v, %v, %v; want nil, false, nil", in, e, ok, err)
		}
	}
}

func TestDecodeMergedEffectsErrors(t *testing.T) {
	E := `"` + EmptyDigest.String() + `"`
	good := `{"kind":"effects.merged.v1","parent_a":` + E + `,"parent_b":` + E + `,"ancestor":` + E + `}`
	tests := []struct{ name, in, want string }{
		{"missing ancestor", `{"kind":"effects.merged.v1","parent_a":` + E + `,"parent_b":` + E + `}`, "ancestor: missing"},
		{"bad parent_b", strings.Replace(good, `"parent_b":"sha256:`, `"parent_b":"md5:`, 1), "parent_b: invalid digest"},
		{"parent_a number", strings.Replace(good, `"parent_a":`+E, `"parent_a":1`, 1), "parent_a: want a string, got a number"},
		{"duplicate kind", strings.Replace(good, `{"kind":"effects.merged.v1"`, `{"kind":"effects.merged.v1","kind":"x"`, 1), "kind: duplicate key"},
		{"trailing line", good + "\n" + good + "\n", "trailing data"},
		{"truncated", good[:len(good)-1], "malformed JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, ok, err := DecodeMergedEffects([]byte(tt.in))
			if err == nil || ok || e != nil {
				t.Fatalf("DecodeMergedEffects = %+v, %v, %v", e, ok, err)
			}
			if !errors.Is(err, ErrInvalidEffects) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error:\n  %v\nwant ErrInvalidEffects containing\n  %s", err, tt.want)
			}
		})
	}
	if _, ok, err := DecodeMergedEffects([]byte(good + "\n")); !ok || err != nil {
		t.Errorf("good with trailing newline: %v, %v", ok, err)
	}
}
