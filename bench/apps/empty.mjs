// The CGI start-up floor for an ES module entry: node loading an empty .mjs (bench/lib/cgi.mjs).
