//go:build !windows

package outfile_test

import (
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

func TestCreate_FIFOWrittenInPlace(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skip(err)
	}
	got := make(chan string, 1)
	go func() {
		b, _ := os.ReadFile(fifo) // blocks until the writer opens
		got <- string(b)
	}()
	if err := write(t, fifo, "through the pipe"); err != nil {
		t.Fatal(err)
	}
	select {
	case s := <-got:
		if s != "through the pipe" {
			t.Fatalf("reader got %q", s)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the FIFO's reader hangs")
	}
	if fi, err := os.Lstat(fifo); err != nil || fi.Mode()&fs.ModeNamedPipe == 0 {
		t.Fatalf("the FIFO became %v (%v)", fi.Mode(), err)
	}
}

func TestCreate_DeviceWrittenInPlace(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("making a device node needs root")
	}
	dev := filepath.Join(t.TempDir(), "null")
	// The null device: major 1, minor 3 on Linux.
	if err := syscall.Mknod(dev, syscall.S_IFCHR|0o666, 1<<8|3); err != nil {
		t.Skip(err)
	}
	if err := write(t, dev, "into nothing"); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(dev); err != nil || fi.Mode()&fs.ModeCharDevice == 0 {
		t.Fatalf("the device became %v (%v)", fi.Mode(), err)
	}
}

func TestCreate_SocketNotReplaced(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Skip(err)
	}
	defer l.Close()
	if err := write(t, sock, "x"); err == nil {
		t.Fatal("writing a socket succeeded") // open(2) refuses sockets: ENXIO
	}
	if fi, err := os.Lstat(sock); err != nil || fi.Mode()&fs.ModeSocket == 0 {
		t.Fatalf("the socket became %v (%v)", fi.Mode(), err)
	}
}
