package manifest

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

const emptyHex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

func TestEmptyDigest(t *testing.T) {
	if got := EmptyDigest.String(); got != "sha256:"+emptyHex {
		t.Errorf("EmptyDigest = %s", got)
	}
	if Sum([]byte{}) != EmptyDigest {
		t.Error("Sum(empty) != EmptyDigest")
	}
	if got := EmptyDigest.Hex(); got != emptyHex {
		t.Errorf("Hex() = %s", got)
	}
	if got := EmptyDigest.Short(); got != "e3b0c44298fc" {
		t.Errorf("Short() = %s", got)
	}
	if EmptyDigest.IsZero() || !(Digest{}).IsZero() {
		t.Error("IsZero wrong")
	}
}

func TestParseDigest(t *testing.T) {
	upper := "sha256:" + strings.ToUpper(emptyHex)
	tests := []struct {
		name string
		in   string
		want string // substring of the error; "" for success
	}{
		{"good", "sha256:" + emptyHex, ""},
		{"zero", "sha256:" + strings.Repeat("0", 64), ""},
		{"empty", "", `invalid digest "": empty`},
		{"md5", "md5:d41d8cd98f00b204e9800998ecf8427e", `unsupported algorithm "md5"`},
		{"SHA256 upper-case algorithm", "SHA256:" + emptyHex, `unsupported algorithm "SHA256"`},
		{"sha512", "sha512:" + emptyHex, `unsupported algorithm "sha512"`},
		{"no prefix", emptyHex, `missing "sha256:" prefix`},
		{"prefix only", "sha256:", "0 hex digits, want 64"},
		{"63 digits", "sha256:" + emptyHex[:63], "63 hex digits, want 64"},
		{"65 digits", "sha256:" + emptyHex + "0", "65 hex digits, want 64"},
		{"upper-case", upper, "upper-case hex digit 'E' at offset 7"},
		{"one upper-case", "sha256:" + emptyHex[:63] + "5", ""},
		{"one upper-case digit", "sha256:" + emptyHex[:10] + "C" + emptyHex[11:], "upper-case hex digit 'C' at offset 17"},
		{"non-hex", "sha256:" + emptyHex[:20] + "g" + emptyHex[21:], "non-hex character 'g' at offset 27"},
		{"non-ASCII", "sha256:" + emptyHex[:62] + "é", "non-hex character 'é' at offset 69"},
		{"leading space", " sha256:" + emptyHex, "white space"},
		{"trailing newline", "sha256:" + emptyHex + "\n", "white space"},
		{"inner space", "sha256: " + emptyHex[1:], "non-hex character ' ' at offset 7"},
		{"short prefix", "sha256:ab12", "4 hex digits, want 64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := ParseDigest(tt.in)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("ParseDigest(%q): %v", tt.in, err)
				}
				if d.String() != tt.in {
					t.Errorf("String() = %s, want %s", d, tt.in)
				}
				return
			}
			if err == nil {
				t.Fatalf("ParseDigest(%q) = %s, want error", tt.in, d)
			}
			if !errors.Is(err, ErrInvalidDigest) {
				t.Errorf("error %v does not wrap ErrInvalidDigest", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
			if tt.in != "" && len(tt.in) < maxQuoted && !strings.Contains(err.Error(), quote(tt.in)) {
				t.Errorf("error %q does not quote the input", err)
			}
		})
	}
}

func TestParseDigestQuoteTruncated(t *testing.T) {
	in := "sha256:" + strings.Repeat("a", 1000)
	_, err := ParseDigest(in)
	if err == nil {
		t.Fatal("no error")
	}
	if len(err.Error()) > 200 {
		t.Errorf("error not truncated: %d bytes", len(err.Error()))
	}
	if !strings.Contains(err.Error(), "1000 hex digits") {
		t.Errorf("error %q does not give the length", err)
	}
}

func TestParseHex(t *testing.T) {
	d, err := ParseHex(emptyHex)
	if err != nil || d != EmptyDigest {
		t.Fatalf("ParseHex = %v, %v", d, err)
	}
	for _, in := range []string{"", "sha256:" + emptyHex, strings.ToUpper(emptyHex), emptyHex[:63], emptyHex + " "} {
		if _, err := ParseHex(in); !errors.Is(err, ErrInvalidDigest) {
			t.Errorf("ParseHex(%q) error = %v, want ErrInvalidDigest", in, err)
		}
	}
}

func TestDigestText(t *testing.T) {
	type doc struct {
		D Digest `json:"d"`
	}
	b, err := json.Marshal(doc{EmptyDigest})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"d":"sha256:` + emptyHex + `"}`; string(b) != want {
		t.Errorf("Marshal = %s, want %s", b, want)
	}
	var back doc
	if err := json.Unmarshal(b, &back); err != nil || back.D != EmptyDigest {
		t.Errorf("Unmarshal = %v, %v", back.D, err)
	}
	err = json.Unmarshal([]byte(`{"d":"sha256:`+strings.ToUpper(emptyHex)+`"}`), &back)
	if !errors.Is(err, ErrInvalidDigest) {
		t.Errorf("Unmarshal upper-case: %v, want ErrInvalidDigest", err)
	}
}
