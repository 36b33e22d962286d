package serve

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestRunRequest_EncodeDecode: the binary form gives back the request
// as it was, whatever its strings hold.
func TestRunRequest_EncodeDecode(t *testing.T) {
	tests := []struct {
		name string
		req  RunRequest
	}{
		{"plain", RunRequest{Args: []string{"pf", "--store", "/s/store.pf", "status"}, Dir: "/w", Env: []string{"HOME=/root", "PF_STORE="}, Pid: 4242}},
		{"terminal, no environment", RunRequest{Args: []string{"pf", "log"}, Dir: "/", Terminal: true, Pid: 1}},
		{"bytes JSON would escape", RunRequest{Args: []string{"pf", "snapshot", "--fs-root", "a\"b\\c\x00\xff\n"}, Dir: "/é/☃", Env: []string{"K=\x01\u2028" + strings.Repeat("v", 300)}}},
		{"empty strings", RunRequest{Args: []string{"", ""}, Dir: "", Env: []string{""}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got RunRequest
			if err := got.decode(tt.req.encode(nil)); err != nil {
				t.Fatalf("decode: %v", err)
			}
			want := tt.req
			if want.Env == nil {
				want.Env = []string{}
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got %+v, want %+v", got, want)
			}
		})
	}
}

// TestRunRequest_Decode_Malformed: a cut, padded or lying binary form is
// refused, never read past its end.
func TestRunRequest_Decode_Malformed(t *testing.T) {
	good := (&RunRequest{Args: []string{"pf", "log"}, Dir: "/w", Env: []string{"A=1"}, Pid: 7}).encode(nil)
	tests := []struct {
		name string
		p    []byte
	}{
		{"empty", nil},
		{"cut", good[:len(good)-1]},
		{"trailing byte", append(append([]byte{}, good...), 0)},
		{"count past the end", []byte{0xff, 0xff, 0xff, 0x0f}},
		{"length past the end", []byte{1, 9, 'p', 'f'}},
		{"terminal not 0 or 1", append(good[:len(good)-2:len(good)-2], 2, 7)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r RunRequest
			if err := r.decode(tt.p); err == nil {
				t.Errorf("decode(%q) = %+v, want an error", tt.p, r)
			}
		})
	}
}

// TestServer_CLI_ProtocolVersions: the server runs a request of this
// version as it was sent, still runs a whole JSON request of version 1
// (a pf from before), and refuses another version with exit 2 and a
// message naming both.
func TestServer_CLI_ProtocolVersions(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "s.sock")
	ran := make(chan RunRequest, 1)
	srv := &Server{Run: func(_ context.Context, req *RunRequest, stdio Stdio) int {
		ran <- *req
		fmt.Fprint(stdio.Stdout, "ran ", strings.Join(req.Args[1:], " "))
		return 3
	}}
	l, err := ListenUnix(sock)
	if err != nil {
		t.Fatal(err)
	}
	go srv.ServeUnix(l)
	t.Cleanup(func() { srv.Shutdown(context.Background()) })

	want := RunRequest{Version: ProtocolVersion, Args: []string{"pf", "log", "-n", "1"}, Dir: "/w", Env: []string{"A=1", "B=2"}, Terminal: true, Pid: 99}
	t.Run("this version", func(t *testing.T) {
		req := want
		var stdout, stderr bytes.Buffer
		code, err := Forward(context.Background(), sock, &req, strings.NewReader(""), &stdout, &stderr)
		if err != nil || code != 3 || stdout.String() != "ran log -n 1" || stderr.Len() != 0 {
			t.Fatalf("Forward: exit %d, %v, stdout %q, stderr %q", code, err, stdout.String(), stderr.String())
		}
		if got := <-ran; !reflect.DeepEqual(got, want) {
			t.Errorf("the server ran %+v, want %+v", got, want)
		}
	})
	tests := []struct {
		name       string
		json       string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{"version 1, whole in JSON", `{"version":1,"args":["pf","log","-n","1"],"dir":"/w","env":["A=1","B=2"],"terminal":true,"pid":99}`, 3, "ran log -n 1", ""},
		{"version 3", `{"version":3,"args":["pf","log"],"dir":"/w"}`, 2, "", fmt.Sprintf("speaks version %d of the CLI's protocol, this pf version 3", ProtocolVersion)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := rawCLI(t, sock, tt.json)
			if code != tt.wantCode || stdout != tt.wantStdout || !strings.Contains(stderr, tt.wantStderr) {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d, stdout %q, stderr with %q", code, stdout, stderr, tt.wantCode, tt.wantStdout, tt.wantStderr)
			}
			if tt.wantCode == 3 {
				got := <-ran
				old := want
				old.Version = 1
				if !reflect.DeepEqual(got, old) {
					t.Errorf("the server ran %+v, want %+v", got, old)
				}
			}
		})
	}
}

// rawCLI sends the CLI's route a request whose first frame is body, as
// a pf of another version would, and returns what came back.
func rawCLI(t *testing.T, sock, body string) (code int, stdout, stderr string) {
	t.Helper()
	conn, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	w := bufio.NewWriter(conn)
	w.WriteString("POST /cli HTTP/1.1\r\nHost: pf\r\nConnection: Upgrade\r\nUpgrade: " + CLIUpgrade + "\r\nContent-Length: 0\r\n\r\n")
	writeFrame(w, frameRequest, []byte(body))
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	status, err := br.ReadString('\n')
	if err != nil || !strings.Contains(status, "101") {
		t.Fatalf("status %q, %v", status, err)
	}
	for line := ""; line != "\r\n"; {
		if line, err = br.ReadString('\n'); err != nil {
			t.Fatal(err)
		}
	}
	var out, errs strings.Builder
	for {
		kind, p, err := readFrame(br, maxFrame)
		if err != nil {
			t.Fatalf("read frame: %v", err)
		}
		switch kind {
		case frameStdout:
			out.Write(p)
		case frameStderr:
			errs.Write(p)
		case frameExit:
			return int(int32(uint32(p[0])<<24 | uint32(p[1])<<16 | uint32(p[2])<<8 | uint32(p[3]))), out.String(), errs.String()
		}
	}
}

// FuzzRunRequest_Decode: the binary form comes from another process
// over the socket. No input panics the decoder, and what it accepts
// encodes to a form that decodes to the same request.
func FuzzRunRequest_Decode(f *testing.F) {
	f.Add((&RunRequest{Args: []string{"pf", "status"}, Dir: "/w", Env: []string{"HOME=/root"}, Pid: 7}).encode(nil))
	f.Add((&RunRequest{Args: []string{""}, Terminal: true}).encode(nil))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, p []byte) {
		var got RunRequest
		if err := got.decode(p); err != nil {
			return
		}
		var again RunRequest
		if err := again.decode(got.encode(nil)); err != nil {
			t.Fatalf("the encoding of a decoded request does not decode: %v", err)
		}
		if !reflect.DeepEqual(got, again) {
			t.Fatalf("decoded %+v, then %+v", got, again)
		}
	})
}
