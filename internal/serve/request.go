package serve

import (
	"encoding/binary"
	"errors"
	"math"
	"strconv"
)

// The RunRequest travels as two frames: a frameRequest holding only
// {"version":N} as JSON, which every server since the first can read
// and refuse with a message naming the versions, then, from version 2
// on, a frameRunRequest holding the rest in the binary form below. A
// client process pays no JSON encoder: on GOROOT/src's unchanged
// checkpoint json.Marshal was 0.5 to 1.5 ms of a 25 ms process, the
// encoding/json package's first use in it.
//
// The binary form is a sequence of uvarints and strings, each string its
// uvarint length then its bytes: the arguments' count then each, the
// working directory, the environment's count then each entry, the
// terminal flag (0 or 1), the pid.

// versionJSON is the frameRequest of this version.
var versionJSON = []byte(`{"version":` + strconv.Itoa(ProtocolVersion) + `}`)

// encode appends the binary form of r to b.
func (r *RunRequest) encode(b []byte) []byte {
	appendString := func(b []byte, s string) []byte {
		return append(binary.AppendUvarint(b, uint64(len(s))), s...)
	}
	b = binary.AppendUvarint(b, uint64(len(r.Args)))
	for _, a := range r.Args {
		b = appendString(b, a)
	}
	b = appendString(b, r.Dir)
	b = binary.AppendUvarint(b, uint64(len(r.Env)))
	for _, kv := range r.Env {
		b = appendString(b, kv)
	}
	terminal := uint64(0)
	if r.Terminal {
		terminal = 1
	}
	b = binary.AppendUvarint(b, terminal)
	return binary.AppendUvarint(b, uint64(max(r.Pid, 0)))
}

var errMalformedRequest = errors.New("malformed request")

// decode reads the binary form p into r, whose Version it leaves.
func (r *RunRequest) decode(p []byte) error {
	uvarint := func() (uint64, error) {
		v, n := binary.Uvarint(p)
		if n <= 0 {
			return 0, errMalformedRequest
		}
		p = p[n:]
		return v, nil
	}
	str := func() (string, error) {
		n, err := uvarint()
		if err != nil || n > uint64(len(p)) {
			return "", errMalformedRequest
		}
		s := string(p[:n])
		p = p[n:]
		return s, nil
	}
	strs := func() ([]string, error) {
		n, err := uvarint()
		// Each string takes a byte at least: a count past that is a lie.
		if err != nil || n > uint64(len(p)) {
			return nil, errMalformedRequest
		}
		out := make([]string, n)
		for i := range out {
			if out[i], err = str(); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	var err error
	if r.Args, err = strs(); err != nil {
		return err
	}
	if r.Dir, err = str(); err != nil {
		return err
	}
	if r.Env, err = strs(); err != nil {
		return err
	}
	terminal, err := uvarint()
	if err != nil || terminal > 1 {
		return errMalformedRequest
	}
	r.Terminal = terminal == 1
	pid, err := uvarint()
	if err != nil || pid > math.MaxInt || len(p) != 0 {
		return errMalformedRequest
	}
	r.Pid = int(pid)
	return nil
}
