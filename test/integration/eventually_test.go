package integration

import (
	"context"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
)

// eventually checks cond at once and then every interval until it reports done; if timeout
// passes first, it fails the test naming what was awaited and the state cond last reported.
// cond runs on the test's goroutine, so it may call t.Fatal itself for a state that can never
// turn into the awaited one.
func eventually(t testing.TB, timeout, interval time.Duration, what string, cond func() (done bool, state string)) {
	t.Helper()
	var last string
	err := wait.PollUntilContextTimeout(context.Background(), interval, timeout, true, func(context.Context) (bool, error) {
		done, state := cond()
		last = state
		return done, nil
	})
	if err != nil {
		t.Fatalf("%s: not within %s; last state: %s", what, timeout, last)
	}
}
