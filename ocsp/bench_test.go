package ocsp

import (
	"bytes"
	"crypto"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	xocsp "golang.org/x/crypto/ocsp"
)

// BenchmarkResponderCached measures pre-signed responses served from the
// cache: parsing the request, matching the issuer, the cache lookup and
// the HTTP headers, with no database read and no signature. "handler"
// calls the http.Handler in process; "loopback" adds a real HTTP/1.1 client
// and server over 127.0.0.1, which share the machine's cores with it.
//
//	go test ./ocsp -run '^$' -bench ResponderCached -benchtime 3s -cpu 2
func BenchmarkResponderCached(b *testing.B) {
	e := newEnv(b, envConfig{})
	const certs = 100
	var posts [][]byte
	var paths []string
	for range certs {
		l := e.issueLeaf(b)
		der := e.request(b, l, crypto.SHA1)
		posts = append(posts, der)
		paths = append(paths, getPath(der))
		// Fill the cache and check the answer once, outside the timing.
		if r := e.status(b, l, crypto.SHA1); r.Status != xocsp.Good {
			b.Fatalf("status %d", r.Status)
		}
	}
	h := e.r.Handler()

	report := func(b *testing.B) {
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "responses/s")
	}

	b.Run("handler/POST", func(b *testing.B) {
		var next atomic.Uint64
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				i := next.Add(1) % certs
				rec := httptest.NewRecorder()
				req := httptest.NewRequest(http.MethodPost, "/ocsp", bytes.NewReader(posts[i]))
				req.Header.Set("Content-Type", requestType)
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK || rec.Body.Len() < 200 {
					b.Errorf("%d, %d bytes", rec.Code, rec.Body.Len())
					return
				}
			}
		})
		report(b)
	})

	b.Run("handler/GET", func(b *testing.B) {
		var next atomic.Uint64
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				i := next.Add(1) % certs
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, paths[i], nil))
				if rec.Code != http.StatusOK || rec.Body.Len() < 200 {
					b.Errorf("%d, %d bytes", rec.Code, rec.Body.Len())
					return
				}
			}
		})
		report(b)
	})

	b.Run("loopback/POST", func(b *testing.B) {
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
		defer client.CloseIdleConnections()
		var next atomic.Uint64
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				i := next.Add(1) % certs
				resp, err := client.Post(e.srv.URL+"/ocsp", requestType, bytes.NewReader(posts[i]))
				if err != nil {
					b.Error(err)
					return
				}
				n, _ := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK || n < 200 {
					b.Errorf("%s, %d bytes", resp.Status, n)
					return
				}
			}
		})
		report(b)
	})
}
