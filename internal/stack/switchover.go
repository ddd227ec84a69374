package stack

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/hastack/hastack/internal/rds"
)

// PromoteRegion promotes the database replica in region to primary,
// the seed's manual cross-region failover, and reports the replica's
// lag and whether the old primary was reached. It is refused when the
// replica does not answer, or when it is behind an old primary that
// still answers, unless force.
func (st *Stack) PromoteRegion(ctx context.Context, region string, force bool) (rds.Promotion, error) {
	st.opsMu.Lock()
	defer st.opsMu.Unlock()
	if _, err := st.region(region); err != nil {
		return rds.Promotion{}, err
	}
	return st.dbOps.PromoteRegion(ctx, region, force)
}

// Switchover moves the database primary to region as a planned
// operation, with no acknowledged write lost: writes stop, the replica
// there replays everything, is promoted, and the old primary follows it.
func (st *Stack) Switchover(ctx context.Context, region string) (rds.Switchover, error) {
	st.opsMu.Lock()
	defer st.opsMu.Unlock()
	if _, err := st.region(region); err != nil {
		return rds.Switchover{}, err
	}
	return st.dbOps.Switchover(ctx, region)
}

// RegionRequest is the body of /v1/promote and /v1/switchover: the
// region, and for a promotion whether to promote a lagging replica. A
// Fault naming the region decodes into it too.
type RegionRequest struct {
	Name  string `json:"name"`
	Force bool   `json:"force,omitempty"`
}

// regionHandler serves /v1/promote and /v1/switchover: it runs do to its
// end, as faultHandler does, and answers with its report.
func regionHandler[R any](do func(context.Context, RegionRequest) (R, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req RegionRequest
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&req); err != nil {
			writeJSON(w, http.StatusBadRequest, apiError{Error: "the request body does not name a region"})
			return
		}
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), operationTimeout)
		defer cancel()
		rep, err := do(ctx, req)
		if err != nil {
			writeJSON(w, http.StatusConflict, apiError{Error: err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, rep)
	}
}

// promoteHandler serves /v1/promote.
func (st *Stack) promoteHandler() http.HandlerFunc {
	return regionHandler(func(ctx context.Context, req RegionRequest) (rds.Promotion, error) {
		return st.PromoteRegion(ctx, req.Name, req.Force)
	})
}

// switchoverHandler serves /v1/switchover.
func (st *Stack) switchoverHandler() http.HandlerFunc {
	return regionHandler(func(ctx context.Context, req RegionRequest) (rds.Switchover, error) {
		return st.Switchover(ctx, req.Name)
	})
}
