package serve

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// The CLI's protocol: after the HTTP upgrade on POST /cli, both sides
// exchange frames, each a kind byte, a big-endian uint32 length and that
// many bytes of payload.
const (
	// client to server
	frameRequest   = 'h' // the RunRequest's version, as JSON; the first frame (request.go)
	frameRunArgs   = 'a' // the rest of the RunRequest, in binary; the second frame
	frameStdin     = 'i' // bytes of standard input, answering a frameRead
	frameStdinEnd  = 'z' // standard input ended: empty at EOF, else the error
	frameInterrupt = 'x' // the user interrupted the command (SIGINT)

	// server to client
	frameStarted = 's' // the server runs the command: from here on, it ran
	frameStdout  = 'o'
	frameStderr  = 'e'
	frameRead    = 'r' // the command reads standard input: uint32 bytes at most
	frameExit    = 'q' // the command ended: its exit status, int32
)

// maxFrame bounds a frame's payload; writers split larger output.
const maxFrame = 1 << 20

// ProtocolVersion is the version of the CLI's protocol a RunRequest
// speaks: a server refuses another, but for version 1, whose
// frameRequest held the whole RunRequest as JSON (a pf from before
// request.go).
const ProtocolVersion = 2

// CLIUpgrade is the HTTP Upgrade token of the CLI's protocol.
const CLIUpgrade = "pf-cli"

var errFrameTooLarge = errors.New("frame too large")

func writeFrame(w io.Writer, kind byte, payload []byte) error {
	var hdr [5]byte
	hdr[0] = kind
	binary.BigEndian.PutUint32(hdr[1:], uint32(len(payload)))
	if _, err := w.Write(hdr[:]); err != nil {
		return err
	}
	_, err := w.Write(payload)
	return err
}

// readFrame reads one frame; its payload is at most limit bytes.
func readFrame(r *bufio.Reader, limit int) (kind byte, payload []byte, err error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(hdr[1:])
	if int64(n) > int64(limit) {
		return 0, nil, fmt.Errorf("%w: %d bytes of kind %q, at most %d", errFrameTooLarge, n, hdr[0], limit)
	}
	payload = make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		return 0, nil, err
	}
	return hdr[0], payload, nil
}

func uint32Payload(n uint32) []byte { return binary.BigEndian.AppendUint32(nil, n) }
