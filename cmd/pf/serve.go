package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/processfork/pf"
	"github.com/processfork/pf/internal/heaplimit"
	"github.com/processfork/pf/internal/serve"
	"github.com/processfork/pf/internal/watch"
	"github.com/urfave/cli/v2"
)

func serveCommand() *cli.Command {
	return &cli.Command{
		Name:  "serve",
		Usage: "own the store and serve it: to every pf command, to desktop tools, browsers and OCI tools",
		Description: "Opens the store read-write and keeps it open, listening on a unix socket beside it\n" +
			"(STORE.sock, mode 0600). While it runs, every pf command on this store goes through it\n" +
			"without being told: the server runs it for the pf process, in that process's directory,\n" +
			"environment and terminal, so commands never wait for each other's lock and concurrent\n" +
			"snapshots share commits. The files a command names are read and written by the server,\n" +
			"as the user who runs it.\n\n" +
			"--listen 127.0.0.1:PORT serves the HTTP+JSON API (GET /openapi.json describes it), the\n" +
			"history in a browser (/) and the read-only OCI distribution API (/v2/) on loopback TCP,\n" +
			"to clients with the token it makes at start: printed, written to --token-file (0600),\n" +
			"and sent as Authorization: Bearer TOKEN (registry clients: any user, the token as\n" +
			"password). The printed URL carries the token for a browser once. The socket serves the\n" +
			"same API without a token.\n\n" +
			"SIGTERM or SIGINT stops it: new requests are refused at once, those under way get --grace\n" +
			"to finish and are then cancelled (a cancelled snapshot commits all or nothing); a second\n" +
			"signal cancels them at once. A server killed outright leaves a store any pf opens, and\n" +
			"a socket file that pf ignores and the next pf serve replaces.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "socket", TakesFile: true, Usage: "listen on the unix socket `PATH` (default: the store's path + .sock, where pf looks)"},
			&cli.StringFlag{Name: "listen", Usage: "also serve the API, the web UI and /v2/ on the loopback TCP address `ADDR` (127.0.0.1:8484; port 0 picks one), to clients with the token"},
			&cli.StringFlag{Name: "token-file", TakesFile: true, Usage: "with --listen, write the token to `FILE`, mode 0600 (default: the store's path + .token)"},
			&cli.DurationFlag{Name: "grace", Value: 10 * time.Second, Usage: "on SIGTERM, how long requests under way may take to finish before they are cancelled: a `DURATION`"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "log nothing but failures"},
		},
		Action: func(c *cli.Context) error {
			if err := wantArgs(c, 0, 0); err != nil {
				return err
			}
			inv := invocationOf(c)
			if inv.served != nil {
				return fmt.Errorf("the store is served by pf serve (pid %d) already", os.Getpid())
			}
			// It runs on: between commands its heap is in pages of
			// 4 KiB (heaplimit.SetHugeHeap); a command holds huge
			// pages for its span only (runFor).
			heaplimit.SetHugeHeap(false)
			path, err := storePath(c)
			if err != nil {
				return err
			}
			path = inv.abs(path)
			sock := serve.SocketPath(path)
			if p := c.String("socket"); p != "" {
				sock = inv.path(p)
			}
			if info, err := serve.Ping(sock); err == nil {
				return fmt.Errorf("pf serve (pid %d) serves %s already, on %s: %w", info.Pid, info.Store, sock, pf.ErrBusy)
			}
			// The store first: holding it is what makes this the one
			// server, before anything touches the socket.
			s, err := openStore(c, readWrite)
			if err != nil {
				return err
			}
			defer s.Close()
			// Closed after the server stops (defers run last first).
			watches := &watch.Roots{}
			defer watches.Close()
			l, err := serve.ListenUnix(sock)
			if err != nil {
				return err
			}
			logger := log.New(inv.Stderr, "pf serve: ", log.LstdFlags)
			srv := &serve.Server{Store: s, Run: runFor(s, watches), Log: logger}
			if c.Bool("quiet") {
				srv.Log = nil
			}
			failed := make(chan error, 2)
			go func() { failed <- srv.ServeUnix(l) }()
			fmt.Fprintf(c.App.Writer, "serving %s\nsocket  %s\n", path, sock)
			if addr := c.String("listen"); addr != "" {
				tokenFile := serve.TokenPath(path)
				if f := c.String("token-file"); f != "" {
					tokenFile = inv.path(f)
				}
				tl, err := listenTCP(srv, addr, tokenFile)
				if err != nil {
					srv.Shutdown(c.Context)
					return err
				}
				defer os.Remove(tokenFile)
				go func() { failed <- srv.ServeTCP(tl) }()
				url := "http://" + tl.Addr().String() + "/"
				fmt.Fprintf(c.App.Writer, "http    %s?token=%s\ntoken   %s (in %s)\n", url, srv.Token, srv.Token, tokenFile)
			}
			return waitAndStop(c, srv, failed, logger)
		},
	}
}

// listenTCP listens on the loopback address addr, with a new token
// written to tokenFile (0600).
func listenTCP(srv *serve.Server, addr, tokenFile string) (net.Listener, error) {
	if err := serve.CheckLoopback(addr); err != nil {
		return nil, usageError{err}
	}
	token, err := serve.NewToken()
	if err != nil {
		return nil, err
	}
	if err := writePrivateFile(tokenFile, token+"\n"); err != nil {
		return nil, fmt.Errorf("write the token: %w", err)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		os.Remove(tokenFile)
		return nil, err
	}
	srv.Token = token
	return l, nil
}

// writePrivateFile writes data to path, mode 0600, through a temporary
// file beside it: no moment shows a token to others.
func writePrivateFile(path, data string) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	_, err = f.WriteString(data)
	if err == nil {
		err = f.Chmod(0o600)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

// runFor runs the command lines of other pf processes against s, their
// captures through the watchers of watches.
func runFor(s *pf.Store, watches *watch.Roots) serve.RunFunc {
	return func(ctx context.Context, req *serve.RunRequest, stdio serve.Stdio) int {
		// The command may take huge pages as a pf process does, for its
		// span only (heaplimit.HoldHugeHeap).
		releaseHugeHeap := heaplimit.HoldHugeHeap()
		// The file watches a capture of the command leaves are added once
		// it has answered, off the cores its commit needs; then the
		// buffers a large snapshot left are given back, so that the
		// turns after it reuse the heap's memory (pf.ReleaseMemory).
		defer func() {
			releaseHugeHeap()
			watches.StartFileWatches()
			go pf.ReleaseMemory()
		}()
		return run(req.Args, &invocation{
			Dir:      req.Dir,
			Env:      req.Env,
			Stdin:    stdio.Stdin,
			Stdout:   stdio.Stdout,
			Stderr:   stdio.Stderr,
			Terminal: req.Terminal,
			Location: locationOf(req.Env),
			Context:  ctx,
			served:   s,
			watches:  watches,
		})
	}
}

// waitAndStop serves until SIGTERM or SIGINT, then stops the server: the
// requests under way get --grace, a second signal cancels them at once.
func waitAndStop(c *cli.Context, srv *serve.Server, failed <-chan error, logger *log.Logger) error {
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, syscall.SIGTERM, os.Interrupt)
	defer signal.Stop(signals)
	var err error
	select {
	case sig := <-signals:
		logger.Printf("%v: stopping", sig)
	case err = <-failed:
	}
	grace, cancel := context.WithTimeout(context.Background(), c.Duration("grace"))
	defer cancel()
	go func() {
		select {
		case sig := <-signals:
			logger.Printf("%v again: cancelling the requests under way", sig)
			cancel()
		case <-grace.Done():
		}
	}()
	srv.Shutdown(grace)
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	logger.Printf("stopped")
	return nil
}
