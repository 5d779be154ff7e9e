// An HTTPS upstream that speaks HTTP/2 (and HTTP/1.1) for the interception tests: Go's
// net/http negotiates h2 through ALPN. GET /proto answers with the protocol the request
// arrived in and its Authorization header's length (never its value); GET /trailers answers
// with a body and a gRPC-style trailer. Every request is logged as one line:
// "<proto> <host> <path> <authorization>".
// Usage: h2server ADDR CERT KEY LOG
package main

import (
	"fmt"
	"net/http"
	"os"
	"sync"
)

func main() {
	addr, cert, key, logPath := os.Args[1], os.Args[2], os.Args[3], os.Args[4]
	logFile, err := os.OpenFile(logPath, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		panic(err)
	}
	var mu sync.Mutex
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		fmt.Fprintf(logFile, "%s %s %s %s\n", r.Proto, r.Host, r.URL.Path, r.Header.Get("Authorization"))
		mu.Unlock()
		switch r.URL.Path {
		case "/proto":
			fmt.Fprintf(w, "proto=%s auth-length=%d\n", r.Proto, len(r.Header.Get("Authorization")))
		case "/trailers":
			w.Header().Set("Trailer", "Grpc-Status")
			fmt.Fprintf(w, "body-before-trailers\n")
			w.Header().Set("Grpc-Status", "0")
		default:
			http.NotFound(w, r)
		}
	})
	panic(http.ListenAndServeTLS(addr, cert, key, nil))
}
