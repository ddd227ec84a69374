package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/hastack/hastack/internal/spec"
	"github.com/hastack/hastack/internal/stack"
)

func newUp(g *globals) *cobra.Command {
	var detach, daemon bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Bring the stack up (foreground; Ctrl-C stops it cleanly; -d detaches once healthy)",
		Args:  args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := g.load()
			if err != nil {
				return err
			}
			p := g.paths(s)
			if err := stack.CheckStateDir(p.Dir); err != nil {
				return err
			}
			if _, err := stack.Preflight(s); err != nil {
				return err
			}
			if p.Running() {
				return fmt.Errorf("stack %s is already running (state in %s); see hastack status", s.Name, p.Dir)
			}
			switch {
			case daemon:
				return runDaemon(cmd.Context(), g, s, p, timeout)
			case detach:
				return upDetached(cmd.Context(), g, s, p, timeout)
			default:
				return upForeground(cmd.Context(), g, s, p, timeout)
			}
		},
	}
	cmd.Flags().BoolVarP(&detach, "detach", "d", false, "run in the background and return once every part is healthy")
	cmd.Flags().BoolVar(&daemon, "daemon", false, "run as the detached stack process (used by -d)")
	cmd.Flags().DurationVar(&timeout, "timeout", 2*time.Minute, "how long to wait for every part to become healthy")
	_ = cmd.Flags().MarkHidden("daemon")
	return cmd
}

func options(p stack.Paths, logOut io.Writer, progress io.Writer, timeout time.Duration) (stack.Options, error) {
	exe, err := os.Executable()
	if err != nil {
		return stack.Options{}, fmt.Errorf("finding the hastack binary: %w", err)
	}
	return stack.Options{
		StateDir:     p.Dir,
		Executable:   exe,
		Progress:     progress,
		Logger:       slog.New(slog.NewJSONHandler(logOut, nil)),
		ReadyTimeout: timeout,
	}, nil
}

// interruptible ends ctx on Ctrl-C or SIGTERM.
func interruptible(ctx context.Context) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
}

// openLog opens the stack's log file for appending, creating the state dir.
func openLog(p stack.Paths) (*os.File, error) {
	if err := stack.EnsureStateDir(p.Dir); err != nil {
		return nil, err
	}
	f, err := stack.OpenAppend(p.Log())
	if err != nil {
		return nil, fmt.Errorf("opening log: %w", err)
	}
	return f, nil
}

// runStack runs the stack in this process until Ctrl-C, SIGTERM or down,
// logging to the state directory; onReady is called once it is healthy.
func runStack(ctx context.Context, g *globals, s *spec.Stack, p stack.Paths, timeout time.Duration, onReady func()) error {
	logf, err := openLog(p)
	if err != nil {
		return err
	}
	defer logf.Close()
	ctx, stop := interruptible(ctx)
	defer stop()
	opts, err := options(p, logf, g.stdout, timeout)
	if err != nil {
		return err
	}
	opts.OnReady = onReady
	return stack.Run(ctx, s, opts)
}

func upForeground(ctx context.Context, g *globals, s *spec.Stack, p stack.Paths, timeout time.Duration) error {
	fmt.Fprintf(g.stdout, "hastack: starting stack %s (%d regions) from %s, state in %s\n", s.Name, len(s.Regions), g.file, p.Dir)
	err := runStack(ctx, g, s, p, timeout, func() {
		printDashboardURL(ctx, g.stdout, p)
		fmt.Fprintf(g.stdout, "stack %s is up; press Ctrl-C to stop it (logs: %s)\n", s.Name, p.Log())
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(g.stdout, "stack %s stopped; data kept in %s\n", s.Name, p.Dir)
	return nil
}

// runDaemon is the detached stack process. Its stdout is up.out, which the
// parent `up -d` follows; a failure ends with one "error: " line there.
func runDaemon(ctx context.Context, g *globals, s *spec.Stack, p stack.Paths, timeout time.Duration) error {
	if err := runStack(ctx, g, s, p, timeout, func() { fmt.Fprintln(g.stdout, "ready") }); err != nil {
		fmt.Fprintf(g.stdout, "error: %v\n", err)
		return errReported
	}
	return nil
}

// upDetached starts the daemon, shows its progress and returns once the
// stack is healthy, or with the daemon's own error if it fails.
func upDetached(ctx context.Context, g *globals, s *spec.Stack, p stack.Paths, timeout time.Duration) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding the hastack binary: %w", err)
	}
	file, err := filepath.Abs(g.file)
	if err != nil {
		return err
	}
	if err := stack.EnsureStateDir(p.Dir); err != nil {
		return err
	}
	outPath := filepath.Join(p.Dir, "up.out")
	out, err := os.OpenFile(outPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return fmt.Errorf("opening %s: %w", outPath, err)
	}
	defer out.Close()
	daemon := exec.Command(exe, "up", "--daemon", "-f", file, "--state-dir", p.Dir, "--timeout", timeout.String())
	daemon.Stdout, daemon.Stderr = out, out
	// A session of its own: the stack outlives this command and its terminal.
	daemon.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := daemon.Start(); err != nil {
		return fmt.Errorf("starting the stack process: %w", err)
	}
	exited := make(chan struct{})
	go func() { _ = daemon.Wait(); close(exited) }()

	fmt.Fprintf(g.stdout, "hastack: starting stack %s (%d regions) from %s, state in %s\n", s.Name, len(s.Regions), g.file, p.Dir)
	follow := &follower{path: outPath, w: g.stdout}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-exited:
			follow.poll()
			if follow.err != "" {
				return errors.New(follow.err)
			}
			return fmt.Errorf("the stack process exited during start-up; see %s", p.Log())
		case <-ctx.Done():
			_ = daemon.Process.Signal(syscall.SIGTERM)
			<-exited
			return ctx.Err()
		case <-tick.C:
			follow.poll()
			if follow.ready {
				printDashboardURL(ctx, g.stdout, p)
				fmt.Fprintf(g.stdout, "stack %s is up (pid %d); see hastack status, stop with hastack down\n", s.Name, daemon.Process.Pid)
				return nil
			}
		}
	}
}

// follower echoes the daemon's progress file as it grows.
type follower struct {
	path   string
	w      io.Writer
	offset int64
	ready  bool
	err    string
}

func (f *follower) poll() {
	file, err := os.Open(f.path)
	if err != nil {
		return
	}
	defer file.Close()
	if _, err := file.Seek(f.offset, io.SeekStart); err != nil {
		return
	}
	r := bufio.NewReader(file)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return // a partial line is read again next time
		}
		f.offset += int64(len(line))
		line = strings.TrimRight(line, "\n")
		switch {
		case line == "ready":
			f.ready = true
		case strings.HasPrefix(line, "error: "):
			f.err = strings.TrimPrefix(line, "error: ")
		default:
			fmt.Fprintln(f.w, line)
		}
	}
}
