// Package stack is the calling configuration: it wires the VPC plan, the
// network (failure domains, security groups, distance between regions),
// the load balancers, the Auto Scaling groups, the database and the DNS
// failover into one running stack, owns its lifecycle and state
// directory, injects and undoes faults, and serves the control API that
// the CLI talks to. Components never know each other; only this package
// does.
package stack
