package main

import (
	"strings"
	"testing"
)

// A real wrk 4.1.0 --latency report (a 404 target, so the non-2xx line is present).
const wrkOut = `Running 1s test @ http://127.0.0.1:18999/nonexist
  1 threads and 2 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.96ms    2.46ms  19.05ms   84.89%
    Req/Sec   675.60    200.18     0.95k    50.00%
  Latency Distribution
     50%  820.00us
     75%    3.92ms
     90%    6.14ms
     99%   11.38ms
  675 requests in 1.01s, 342.77KB read
  Non-2xx or 3xx responses: 675
Requests/sec:    671.44
Transfer/sec:    340.97KB
`

func TestParseWrk(t *testing.T) {
	r, err := parseWrk([]byte(wrkOut))
	if err != nil {
		t.Fatal(err)
	}
	if r.rps != 671.44 || r.requests != 675 || r.non2xx != 675 || r.p50 != 0.82 || r.p99 != 11.38 {
		t.Fatalf("parsed %+v", r)
	}
	// Without --latency the percentiles are missing: an error, not zeros.
	noLat := strings.Replace(wrkOut, "     50%  820.00us\n", "", 1)
	if _, err := parseWrk([]byte(noLat)); err == nil {
		t.Fatal("missing 50% line accepted")
	}
}

func TestRenderPageSize(t *testing.T) {
	for _, name := range []string{userEmail, "", strings.Repeat("x", 500)} {
		if n := len(renderPage(name)); n != PageSize {
			t.Errorf("page for a %d-byte name is %d bytes, want %d", len(name), n, PageSize)
		}
	}
}

func TestMedian(t *testing.T) {
	if m := median([]float64{3, 1, 2}); m != 2 {
		t.Errorf("median odd = %v", m)
	}
	if m := median([]float64{4, 1, 2, 3}); m != 2.5 {
		t.Errorf("median even = %v", m)
	}
}
