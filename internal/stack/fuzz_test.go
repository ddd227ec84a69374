package stack

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/hastack/hastack/internal/spec"
)

// seedStackFiles are the examples and a few edits of them that change
// settings of every kind.
func seedStackFiles(f *testing.F) [][]byte {
	var out [][]byte
	for _, name := range []string{"quick", "two-region"} {
		src, err := os.ReadFile("../../examples/" + name + "/stack.hcl")
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, src)
	}
	quick := string(out[0])
	for _, edit := range [][2]string{
		{"max_size         = 4", "max_size         = 6"},
		{`ttl    = 1`, `ttl    = 5`},
		{`port = 8080`, `port = 9090`},
		{`region "us-west-2" {`, `region "eu-west-1" {`},
		{`multi_az`, `# multi_az`},
	} {
		out = append(out, []byte(strings.Replace(quick, edit[0], edit[1], 1)))
	}
	return out
}

// FuzzDiff: for any two valid stack files, Diff finds nothing between a
// file and itself, finds the same settings both ways round with old and
// new swapped, lists them in order, and calls a change live exactly when
// it gives no reason it is not.
func FuzzDiff(f *testing.F) {
	seeds := seedStackFiles(f)
	for _, a := range seeds {
		for _, b := range seeds {
			f.Add(a, b)
		}
	}
	f.Fuzz(func(t *testing.T, a, b []byte) {
		sa, da := spec.Parse("a.hcl", a)
		sb, db := spec.Parse("b.hcl", b)
		if da.HasErrors() || db.HasErrors() {
			return
		}
		if d := Diff(sa, sa); len(d) != 0 {
			t.Fatalf("a file differs from itself: %+v", d)
		}
		ab, ba := Diff(sa, sb), Diff(sb, sa)
		if len(ab) != len(ba) {
			t.Fatalf("%d changes one way, %d the other", len(ab), len(ba))
		}
		for i, c := range ab {
			back := ba[i]
			if c.Region != back.Region || c.Path != back.Path || c.Old != back.New || c.New != back.Old || c.Live != back.Live || c.Reason != back.Reason {
				t.Fatalf("change %+v comes back as %+v", c, back)
			}
			if c.Live != (c.Reason == "") {
				t.Fatalf("change %+v: live, yet with a reason, or neither", c)
			}
			if c.Old == c.New {
				t.Fatalf("change %+v changes nothing", c)
			}
		}
		if !slices.IsSortedFunc(ab, func(x, y Change) int {
			return strings.Compare(x.Region+"\x00"+x.Path, y.Region+"\x00"+y.Path)
		}) {
			t.Fatalf("changes out of order: %+v", ab)
		}
		if refused := refusals(ab); (len(refused) == 0) != !slices.ContainsFunc(ab, func(c Change) bool { return !c.Live }) {
			t.Fatalf("refusals %v for changes %+v", refused, ab)
		}
	})
}

// FuzzApply: whatever stack file arrives at the control API's apply, the
// answer is 200, 400 (the file's problems, each at file:line:col) or 409
// (changes that need a restart, none made); once applied, the same file
// applies again with no change.
func FuzzApply(f *testing.F) {
	for _, src := range seedStackFiles(f) {
		f.Add(src, false)
		f.Add(src, true)
	}
	f.Add([]byte("name = "+strings.Repeat("(", 300)), false)
	f.Fuzz(func(t *testing.T, src []byte, dryRun bool) {
		st := newTestStack(t, newFakeDB(0), false)
		code, resp := postApply(t, st, src, dryRun)
		switch code {
		case http.StatusOK:
		case http.StatusBadRequest:
			for _, line := range strings.Split(resp.Error, "\n") {
				if !strings.HasPrefix(line, "stack.hcl:") {
					t.Fatalf("a problem without its position: %q", line)
				}
			}
			return
		case http.StatusConflict:
			if resp.Error == "" || !slices.ContainsFunc(resp.Changes, func(c Change) bool { return !c.Live }) {
				t.Fatalf("refused without a change that needs a restart: %+v", resp)
			}
			return
		default:
			t.Fatalf("apply answered %d: %+v", code, resp)
		}
		if dryRun {
			return
		}
		if code, again := postApply(t, st, src, true); code != http.StatusOK || len(again.Changes) != 0 {
			t.Fatalf("after applying, the same file still changes %+v (%d %s)", again.Changes, code, again.Error)
		}
	})
}

func postApply(t *testing.T, st *Stack, src []byte, dryRun bool) (int, applyResponse) {
	t.Helper()
	body, err := json.Marshal(applyRequest{Filename: "stack.hcl", Source: string(src), DryRun: dryRun})
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	st.handler().ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/v1/apply", strings.NewReader(string(body))))
	var resp applyResponse
	if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil {
		t.Fatalf("apply answered %d with no JSON: %q", w.Code, w.Body)
	}
	return w.Code, resp
}
