// The benchmark app on Go's net/http/fcgi (standard library only), a FastCGI peer for tsgi.
//
//	go-fcgi --listen 127.0.0.1:PORT
//
// Same routes, bytes and headers as bench/apps/node-handler.mjs and tsgi-app.mjs:
//
//	GET  /hello   -> "Hello, world!\n" (14 bytes)
//	GET  /64k     -> 65536 bytes
//	POST /upload  -> the request body's length in bytes, counted as it streams in (not buffered)
//
// bench/lib/backends.mjs builds it once per run into a temporary directory; no binary is committed.
// GOMAXPROCS is left at Go's default (the CPU count) and printed in the ready line, so the run
// records it.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/fcgi"
	"os"
	"regexp"
	"runtime"
	"strconv"
)

const textPlain = "text/plain; charset=utf-8"

// Preallocated once, as in payloads.mjs: the benchmark measures the server, not the app.
var (
	hello      = []byte("Hello, world!\n")
	sixtyFourK = bytes.Repeat([]byte("x"), 64*1024)
	notFound   = []byte("Not Found\n")
)

func handler(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	switch {
	case r.URL.Path == "/hello" && r.Method == http.MethodGet:
		h.Set("Content-Type", textPlain)
		h.Set("Content-Length", strconv.Itoa(len(hello)))
		w.Write(hello)
	case r.URL.Path == "/64k" && r.Method == http.MethodGet:
		h.Set("Content-Type", "application/octet-stream")
		h.Set("Content-Length", strconv.Itoa(len(sixtyFourK)))
		w.Write(sixtyFourK)
	case r.URL.Path == "/upload" && r.Method == http.MethodPost:
		// io.Copy to io.Discard counts the body chunk by chunk, like the Node apps' `for await`.
		length, err := io.Copy(io.Discard, r.Body)
		if err != nil {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		body := []byte(strconv.FormatInt(length, 10) + "\n")
		h.Set("Content-Type", textPlain)
		h.Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body)
	default:
		h.Set("Content-Type", textPlain)
		h.Set("Content-Length", strconv.Itoa(len(notFound)))
		w.WriteHeader(http.StatusNotFound)
		w.Write(notFound)
	}
}

func main() {
	listen := flag.String("listen", "", "127.0.0.1:PORT")
	flag.Parse()
	// Loopback only, like every process the benchmark starts.
	if !regexp.MustCompile(`^127\.0\.0\.1:\d+$`).MatchString(*listen) {
		fmt.Fprintln(os.Stderr, "usage: go-fcgi --listen 127.0.0.1:PORT")
		os.Exit(2)
	}
	listener, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench: go-fcgi:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "bench: go-fcgi listening on %s (%s, GOMAXPROCS %d)\n", *listen, runtime.Version(), runtime.GOMAXPROCS(0))
	// SIGTERM (how the harness stops backends) ends the process with Go's default handling.
	if err := fcgi.Serve(listener, http.HandlerFunc(handler)); err != nil {
		fmt.Fprintln(os.Stderr, "bench: go-fcgi:", err)
		os.Exit(1)
	}
}
