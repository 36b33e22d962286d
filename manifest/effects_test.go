package manifest

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// TestMergedEffectsReference checks testdata/reference/merged-effects.json,
// which follows pf-merge/src/effects.rs of the reference:
// MergedEffectsLedger serialized by serde_json (kind, parent_a, parent_b,
// ancestor, replay_with_new_key in SideEffectClass's kebab-case names,
// summary). It was written by a throwaway Rust program with that struct
// and serde_json 1.0; its digest is sha256sum of the file.
func TestMergedEffectsReference(t *testing.T) {
	golden := readReference(t, "merged-effects.json", "sha256:4df9826b9b94de01daafbbcc9ec93f8c47907abd3e35a9951435f9a338c60f9e")
	e := &MergedEffects{
		ParentA: Sum([]byte("a")), ParentB: Sum([]byte("b")), Ancestor: EmptyDigest,
		ReplayWithNewKey: []string{"idempotent", "network-only"},
		Summary:          MergeSummary{AEntries: 4, BEntries: 6, BIrreversibleCached: 4},
	}
	b, err := e.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, golden) {
		t.Fatalf("Encode:\n got %s\nwant %s", b, golden)
	}
	back, ok, err := DecodeMergedEffects(b)
	if err != nil || !ok || !reflect.DeepEqual(back, e) {
		t.Errorf("DecodeMergedEffects = %+v, %v, %v", back, ok, err)
	}

	// Without replays or counts, both are still written: the reference
	// cannot read a merged ledger that lacks them.
	bare := &MergedEffects{ParentA: Sum([]byte("a")), ParentB: Sum([]byte("b")), Ancestor: EmptyDigest}
	b, err = bare.Encode()
	want := `{"kind":"effects.merged.v1","parent_a":"` + bare.ParentA.String() + `","parent_b":"` + bare.ParentB.String() +
		`","ancestor":"` + EmptyDigest.String() + `","replay_with_new_key":[],"summary":{"a_entries":0,"b_entries":0,"b_irreversible_cached":0}}`
	if err != nil || string(b) != want {
		t.Fatalf("Encode = %s, %v; want %s", b, err, want)
	}
	// As earlier versions of pf wrote it, without them, it still reads.
	old := `{"kind":"effects.merged.v1","parent_a":"` + bare.ParentA.String() + `","parent_b":"` + bare.ParentB.String() + `","ancestor":"` + EmptyDigest.String() + `"}`
	if back, ok, err := DecodeMergedEffects([]byte(old)); err != nil || !ok || !reflect.DeepEqual(back, bare) {
		t.Errorf("DecodeMergedEffects(old) = %+v, %v, %v", back, ok, err)
	}

	for _, bad := range []*MergedEffects{
		{ReplayWithNewKey: []string{"network_only"}},
		{Summary: MergeSummary{BEntries: -1}},
	} {
		if _, err := bad.Encode(); !errors.Is(err, ErrInvalidEffects) {
			t.Errorf("Encode(%+v) error = %v, want ErrInvalidEffects", bad, err)
		}
	}
}

func TestEmptyLedger(t *testing.T) {
	// pf-cli/src/commands/snapshot.rs writes this for a snapshot without
	// an effects file; it is a ledger, not a merged one.
	if e, ok, err := DecodeMergedEffects([]byte(EmptyLedger)); e != nil || ok || err != nil {
		t.Errorf("DecodeMergedEffects(EmptyLedger) = %v, %v, %v", e, ok, err)
	}
	if EmptyLedger != "{\"kind\":\"effects.ledger.v1\",\"entries\":0}\n" {
		t.Errorf("EmptyLedger = %q", EmptyLedger)
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
		{"unknown class", strings.Replace(good, `}`, `,"replay_with_new_key":["pure","Pure"]}`, 1), `replay_with_new_key[1]: "Pure" is not a side-effect class`},
		{"summary incomplete", strings.Replace(good, `}`, `,"summary":{"a_entries":1,"b_entries":2}}`, 1), "summary.b_irreversible_cached: missing"},
		{"summary negative", strings.Replace(good, `}`, `,"summary":{"a_entries":1,"b_entries":-2,"b_irreversible_cached":0}}`, 1), "summary.b_entries: negative"},
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
