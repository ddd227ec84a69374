package rds

import (
	"context"
	"fmt"
	"os"
	"syscall"

	"github.com/hastack/hastack/internal/mariadb"
)

// startMariaServer runs mariadbd for cfg and keeps track of it as it
// does of a postmaster: onExit is called when it ends on its own once
// watched; stop asks for a clean shutdown with SIGTERM (statements
// ended, InnoDB flushed); kill ends it and whatever works in its data
// directory.
func startMariaServer(ctx context.Context, cfg mariadb.Config, onExit func(error)) (*postmaster, *mariadb.Server, error) {
	srv, err := mariadb.Start(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	process, err := os.FindProcess(srv.Pid())
	if err != nil {
		srv.Kill()
		return nil, nil, fmt.Errorf("following %s's process: %w", cfg.Name, err)
	}
	wait := func() error {
		err := srv.Wait()
		srv.Disconnect() // its admin session goes with it
		return err
	}
	return watchProcess(process, syscall.SIGTERM, wait, onExit), srv, nil
}
