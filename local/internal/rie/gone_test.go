package rie

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/nanopipe/nanopipe/pipeline"
	"github.com/nanopipe/nanopipe/triggers"
)

// TestInvocationResentWhenEmulatorGone: an emulator that is gone when the
// invocation is sent (it could not bind its address, say, and the
// readiness check reached another process on it) took no invocation, so
// the runner starts it again and sends the invocation once more, instead
// of failing it with a reset connection.
func TestInvocationResentWhenEmulatorGone(t *testing.T) {
	if _, err := FindEmulator(); err != nil {
		t.Fatalf("%v (scripts/rie-setup.sh installs it)", err)
	}
	bin, err := Build(context.Background(), BuildOptions{Package: "./testdata/echo", Out: filepath.Join(t.TempDir(), "bootstrap")})
	if err != nil {
		t.Fatal(err)
	}
	app := pipeline.New("gone")
	st := pipeline.OnObject(app, "s", app.Bucket("gone-in").Created(), func(context.Context, triggers.Object) error { return nil })
	r, err := New(Options{App: app, Bootstrap: bin, Endpoint: "http://127.0.0.1:4566", Slots: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "req-1"})
	pid := func(resp []byte) any {
		var a map[string]any
		if err := json.Unmarshal(resp, &a); err != nil {
			t.Fatalf("response %q: %v", resp, err)
		}
		return a["pid"]
	}
	first, err := r.Invoke(ctx, st, []byte(`{"mode":"ok"}`))
	if err != nil {
		t.Fatal(err)
	}
	f := r.fns[st.FunctionName()]
	sl, err := f.acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer f.release(sl)
	// The emulator dies after the slot was checked: send finds it gone.
	sl.mu.Lock()
	killTree(sl.cmd.Process)
	exited := sl.exited
	sl.mu.Unlock()
	<-exited
	start := time.Now()
	resp, err := sl.send(ctx, st, []byte(`{"mode":"ok"}`), false)
	if err != nil {
		t.Fatalf("invocation after the emulator died: %v, want it sent again to a new one", err)
	}
	if pid(resp) == pid(first) {
		t.Errorf("the answer came from the old process %v", pid(resp))
	}
	t.Logf("resent after %v", time.Since(start))
}
