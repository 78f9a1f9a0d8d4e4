// The reaper: removes one run's containers, networks and volumes once that run's process is gone.
//
// The process that owns a run (pytest, `brokerchaos up`) connects over TCP and sends its run id; it keeps
// the connection open for as long as it lives. When the last connection closes (a normal exit, a crash,
// kill -9: the kernel closes the socket either way) and nobody reconnects within the grace period, the
// reaper asks the Docker engine (its socket is mounted) for everything labelled with that run id, removes
// it, and exits. The same pattern as testcontainers' Ryuk, built here from the standard library only.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"
)

const runLabel = "io.brokerchaos.run"

type reaper struct {
	mu        sync.Mutex
	run       string
	open      int
	lastClose time.Time
	docker    *http.Client
	self      string
}

func newDockerClient(socket string) *http.Client {
	return &http.Client{
		Timeout: 60 * time.Second,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "unix", socket)
			},
		},
	}
}

func (r *reaper) call(method, path string) ([]byte, int, error) {
	req, err := http.NewRequest(method, "http://docker"+path, nil)
	if err != nil {
		return nil, 0, err
	}
	resp, err := r.docker.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return body, resp.StatusCode, err
}

func (r *reaper) filter() string {
	f, _ := json.Marshal(map[string][]string{"label": {runLabel + "=" + r.run}})
	return url.QueryEscape(string(f))
}

// reap removes what carries the run's label: containers (with their anonymous volumes), then networks,
// then volumes; a few rounds, since a network is busy until its containers are gone.
func (r *reaper) reap() {
	for round := 0; round < 5; round++ {
		left := 0
		var containers []struct{ Id string }
		if body, _, err := r.call("GET", "/containers/json?all=1&filters="+r.filter()); err == nil {
			_ = json.Unmarshal(body, &containers)
		}
		for _, c := range containers {
			if strings.HasPrefix(c.Id, r.self) {
				continue
			}
			if _, code, err := r.call("DELETE", "/containers/"+c.Id+"?force=1&v=1"); err != nil || code >= 300 && code != 404 {
				left++
			}
		}
		var networks []struct{ Id string }
		if body, _, err := r.call("GET", "/networks?filters="+r.filter()); err == nil {
			_ = json.Unmarshal(body, &networks)
		}
		for _, n := range networks {
			if _, code, err := r.call("DELETE", "/networks/"+n.Id); err != nil || code >= 300 && code != 404 {
				left++
			}
		}
		var volumes struct{ Volumes []struct{ Name string } }
		if body, _, err := r.call("GET", "/volumes?filters="+r.filter()); err == nil {
			_ = json.Unmarshal(body, &volumes)
		}
		for _, v := range volumes.Volumes {
			if _, code, err := r.call("DELETE", "/volumes/"+v.Name+"?force=1"); err != nil || code >= 300 && code != 404 {
				left++
			}
		}
		log.Printf("reaped run %s: round %d, %d containers, %d networks, %d volumes found, %d left",
			r.run, round+1, len(containers), len(networks), len(volumes.Volumes), left)
		if left == 0 {
			return
		}
		time.Sleep(time.Second)
	}
}

func (r *reaper) serve(conn net.Conn) {
	defer conn.Close()
	line, err := bufio.NewReader(conn).ReadString('\n')
	run := strings.TrimPrefix(strings.TrimSpace(line), "run=")
	r.mu.Lock()
	if err != nil || run == "" || (r.run != "" && run != r.run) {
		r.mu.Unlock()
		fmt.Fprintf(conn, "ERR expected run=%s\n", r.run)
		return
	}
	r.run = run
	r.open++
	r.mu.Unlock()
	fmt.Fprint(conn, "ACK\n")
	_, _ = io.Copy(io.Discard, conn) // until the owner closes (or dies)
	r.mu.Lock()
	r.open--
	r.lastClose = time.Now()
	r.mu.Unlock()
}

func main() {
	log.SetFlags(log.LstdFlags | log.LUTC)
	grace := 2 * time.Second
	if d, err := time.ParseDuration(os.Getenv("REAPER_GRACE")); err == nil {
		grace = d
	}
	firstWait := 60 * time.Second
	hostname, _ := os.Hostname()
	r := &reaper{docker: newDockerClient("/var/run/docker.sock"), self: hostname, lastClose: time.Now()}
	listener, err := net.Listen("tcp", ":8080")
	if err != nil {
		log.Fatal(err)
	}
	go func() {
		for {
			conn, err := listener.Accept()
			if err != nil {
				return
			}
			go r.serve(conn)
		}
	}()
	started := time.Now()
	for {
		time.Sleep(200 * time.Millisecond)
		r.mu.Lock()
		run, open, idle := r.run, r.open, time.Since(r.lastClose)
		r.mu.Unlock()
		if run == "" && time.Since(started) > firstWait {
			log.Printf("nobody connected within %s: exiting", firstWait)
			return
		}
		if run != "" && open == 0 && idle > grace {
			log.Printf("run %s: its owner is gone; reaping", run)
			r.reap()
			return
		}
	}
}
