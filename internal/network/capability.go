package network

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// ErrNoNetAdmin refuses network faults and security groups to a process
// that may not change the kernel's packet filter.
var ErrNoNetAdmin = errors.New("network faults and security groups need the CAP_NET_ADMIN capability, which this process does not have (run hastack as root)")

// capNetAdmin is CAP_NET_ADMIN's bit in the capability sets.
const capNetAdmin = 12

// CheckNetAdmin returns ErrNoNetAdmin unless the process's effective
// capabilities include CAP_NET_ADMIN.
func CheckNetAdmin() error {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return fmt.Errorf("reading the process's capabilities: %w", err)
	}
	ok, err := hasNetAdmin(string(status))
	if err != nil {
		return err
	}
	if !ok {
		return ErrNoNetAdmin
	}
	return nil
}

// hasNetAdmin reads the CapEff line of /proc/<pid>/status.
func hasNetAdmin(status string) (bool, error) {
	for _, line := range strings.Split(status, "\n") {
		hex, ok := strings.CutPrefix(line, "CapEff:")
		if !ok {
			continue
		}
		caps, err := strconv.ParseUint(strings.TrimSpace(hex), 16, 64)
		if err != nil {
			return false, fmt.Errorf("reading the process's capabilities: CapEff %q is not hexadecimal", strings.TrimSpace(hex))
		}
		return caps&(1<<capNetAdmin) != 0, nil
	}
	return false, errors.New("reading the process's capabilities: no CapEff line in /proc/self/status")
}
