package alb

// routeTo decides which targets take new requests, from their states as
// TargetHealth names them. The healthy ones do. When none is healthy the
// load balancer fails open, as an ALB does, to every target that failed
// its checks (unhealthy): a target still initial has not failed, it has
// not been judged yet, and gets nothing, nor does a draining or unused
// one. take holds the indexes of the chosen targets in states' order;
// empty, no target is available and requests are answered 503.
func routeTo(states []string) (take []int, failOpen bool) {
	for i, s := range states {
		if s == StateHealthy {
			take = append(take, i)
		}
	}
	if len(take) > 0 {
		return take, false
	}
	for i, s := range states {
		if s == StateUnhealthy {
			take = append(take, i)
		}
	}
	return take, len(take) > 0
}
