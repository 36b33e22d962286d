package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/processfork/pf"
	"github.com/processfork/pf/internal/serve"
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
			"SIGTERM or SIGINT stops it: new requests are refused at once, those under way get --grace\n" +
			"to finish and are then cancelled (a cancelled snapshot commits all or nothing); a second\n" +
			"signal cancels them at once. A server killed outright leaves a store any pf opens, and\n" +
			"a socket file that pf ignores and the next pf serve replaces.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "socket", TakesFile: true, Usage: "listen on the unix socket `PATH` (default: the store's path + .sock, where pf looks)"},
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
			l, err := serve.ListenUnix(sock)
			if err != nil {
				return err
			}
			logger := log.New(inv.Stderr, "pf serve: ", log.LstdFlags)
			srv := &serve.Server{Store: s, Run: runFor(s), Log: logger}
			if c.Bool("quiet") {
				srv.Log = nil
			}
			failed := make(chan error, 1)
			go func() { failed <- srv.ServeUnix(l) }()
			fmt.Fprintf(c.App.Writer, "serving %s\nsocket  %s\n", path, sock)
			return waitAndStop(c, srv, failed, logger)
		},
	}
}

// runFor runs the command lines of other pf processes against s.
func runFor(s *pf.Store) serve.RunFunc {
	return func(ctx context.Context, req *serve.RunRequest, stdio serve.Stdio) int {
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
