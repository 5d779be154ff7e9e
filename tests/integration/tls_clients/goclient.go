// A Go HTTPS client for the guest: Go's own TLS stack (crypto/tls), which trusts the system
// bundle or SSL_CERT_FILE and negotiates HTTP/2 when the server offers it.
// Usage: goclient URL [HEADER:VALUE ...]; prints the protocol, the status and the body, then
// any trailers as "trailer: Name: value" lines.
package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: goclient URL [Header:Value ...]")
		os.Exit(2)
	}
	req, err := http.NewRequest("GET", os.Args[1], nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	for _, h := range os.Args[2:] {
		k, v, _ := strings.Cut(h, ":")
		req.Header.Set(k, strings.TrimSpace(v))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Printf("%s %d\n%s", resp.Proto, resp.StatusCode, body)
	for name, values := range resp.Trailer { // filled once the body has been read
		for _, v := range values {
			fmt.Printf("trailer: %s: %s\n", name, v)
		}
	}
}
