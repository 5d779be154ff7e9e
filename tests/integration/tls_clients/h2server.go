// An HTTPS upstream that speaks HTTP/2 (and HTTP/1.1) for the interception tests: Go's
// net/http negotiates h2 through ALPN. GET /proto answers with the protocol the request
// arrived in and its Authorization header's length (never its value); GET /trailers answers
// with a body and a gRPC-style trailer; GET /barrier answers "together" once two requests are
// inside it at the same time ("alone" after 20 s without a partner). Every request is logged as
// one line: "<proto> <host> <path> <authorization> <remote address>".
// Usage: h2server ADDR CERT KEY LOG
package main

import (
	"fmt"
	"net/http"
	"os"
	"sync"
	"time"
)

// Pairs concurrent /barrier requests: each generation's channel closes when its second arrives.
type barrier struct {
	mu      sync.Mutex
	waiting int
	release chan struct{}
}

func (b *barrier) meet() bool {
	b.mu.Lock()
	ch := b.release
	b.waiting++
	if b.waiting == 2 {
		close(ch)
		b.waiting = 0
		b.release = make(chan struct{})
	}
	b.mu.Unlock()
	select {
	case <-ch:
		return true
	case <-time.After(20 * time.Second):
		b.mu.Lock()
		if b.release == ch {
			b.waiting--
		}
		b.mu.Unlock()
		return false
	}
}

func main() {
	addr, cert, key, logPath := os.Args[1], os.Args[2], os.Args[3], os.Args[4]
	logFile, err := os.OpenFile(logPath, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		panic(err)
	}
	var mu sync.Mutex
	pairs := &barrier{release: make(chan struct{})}
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		fmt.Fprintf(logFile, "%s %s %s %s %s\n", r.Proto, r.Host, r.URL.Path,
			r.Header.Get("Authorization"), r.RemoteAddr)
		mu.Unlock()
		switch r.URL.Path {
		case "/proto":
			fmt.Fprintf(w, "proto=%s auth-length=%d\n", r.Proto, len(r.Header.Get("Authorization")))
		case "/trailers":
			w.Header().Set("Trailer", "Grpc-Status")
			fmt.Fprintf(w, "body-before-trailers\n")
			w.Header().Set("Grpc-Status", "0")
		case "/barrier":
			if pairs.meet() {
				fmt.Fprintf(w, "together\n")
			} else {
				fmt.Fprintf(w, "alone\n")
			}
		default:
			http.NotFound(w, r)
		}
	})
	panic(http.ListenAndServeTLS(addr, cert, key, nil))
}
