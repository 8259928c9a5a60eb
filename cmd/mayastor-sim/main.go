// Command mayastor-sim serves a simulated Mayastor control plane (REST v0
// subset), the io-engine metrics exporters (/metrics) and fault injection
// (/admin) on a loopback address. See internal/sim for what it models.
//
//	mayastor-sim --listen 127.0.0.1:30011 --scenario small --speed 60 --seed 7
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/billyronks/couchestor/internal/sim"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr, nil))
}

type config struct {
	listen   string
	scenario string
	speed    float64
	seed     uint64
	seedSet  bool
	cache    time.Duration
}

func parseFlags(args []string) (config, error) {
	var c config
	fs := flag.NewFlagSet("mayastor-sim", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&c.listen, "listen", "127.0.0.1:30011", "loopback `address` to serve on")
	fs.StringVar(&c.scenario, "scenario", "small", "embedded scenario `name` ("+fmt.Sprint(sim.ScenarioNames())+") or path to a YAML file")
	fs.Float64Var(&c.speed, "speed", 1, "simulated seconds per wall-clock second")
	fs.Uint64Var(&c.seed, "seed", 0, "override the scenario's random seed")
	fs.DurationVar(&c.cache, "registry-cache", 0, "serve GET views from a registry cache refreshed every `period` (upstream: 30s; 0: off)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "seed" {
			c.seedSet = true
		}
	})
	if !(c.speed > 0) || c.speed > 1e6 {
		return c, fmt.Errorf("--speed must be within (0, 1e6], got %g", c.speed)
	}
	host, _, err := net.SplitHostPort(c.listen)
	if err != nil {
		return c, fmt.Errorf("--listen %q: %v", c.listen, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return c, fmt.Errorf("--listen %q: the simulator serves on a loopback address only (127.0.0.1, ::1, localhost)", c.listen)
	}
	return c, nil
}

// run is main without the process: it returns the exit code. ready, when
// not nil, receives the bound address once the server accepts connections.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, ready func(addr string)) int {
	cfg, err := parseFlags(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(stdout, "usage: mayastor-sim [--listen 127.0.0.1:30011] [--scenario small|scale-10k|FILE] [--speed N] [--seed N] [--registry-cache 30s]")
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "mayastor-sim: %v\n", err)
		return 2
	}
	sc, err := sim.LoadScenario(cfg.scenario)
	if err != nil {
		fmt.Fprintf(stderr, "mayastor-sim: %v\n", err)
		return 1
	}
	opts := []sim.Option{sim.WithClock(sim.NewScaledClock(cfg.speed))}
	if cfg.seedSet {
		opts = append(opts, sim.WithSeed(cfg.seed))
	}
	if cfg.cache > 0 {
		opts = append(opts, sim.WithRegistryCache(cfg.cache))
	}
	s, err := sim.New(sc, opts...)
	if err != nil {
		fmt.Fprintf(stderr, "mayastor-sim: %v\n", err)
		return 1
	}
	ln, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		fmt.Fprintf(stderr, "mayastor-sim: %v\n", err)
		return 1
	}
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(stdout, "mayastor-sim: scenario %s (%d nodes, %d pools, %d volumes), speed x%g, serving http://%s (/v0, /metrics, /admin)\n",
		cfg.scenario, len(sc.Nodes), len(sc.Pools), s.VolumeCount(), cfg.speed, ln.Addr())
	if ready != nil {
		ready(ln.Addr().String())
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		fmt.Fprintf(stderr, "mayastor-sim: %v\n", err)
		return 1
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		fmt.Fprintf(stderr, "mayastor-sim: shutdown: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, "mayastor-sim: stopped")
	return 0
}
