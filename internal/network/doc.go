// Package network enforces a stack's network: security groups and
// partitions become nftables rules in a table of the stack's own, and
// inter-region distance and gray failures (delay, jitter, loss) are applied
// to the packets between the given address ranges on loopback.
//
// The desired state is plain data (State); Compile turns it into a Plan
// with pure functions, and an Enforcer makes the kernel match the plan.
package network
