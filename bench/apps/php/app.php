<?php
// The benchmark app for PHP-FPM, a FastCGI peer for tsgi; same routes, bytes and headers as
// bench/apps/node-handler.mjs and tsgi-app.mjs:
//
//   GET  /hello   -> "Hello, world!\n" (14 bytes)
//   GET  /64k     -> 65536 bytes
//   POST /upload  -> the request body's length in bytes, counted as it streams in (not buffered)
//
// bench/lib/backends.mjs runs it in a php-fpm pool it writes at run time. nginx sends
// SCRIPT_FILENAME (this file), SCRIPT_NAME "" and PATH_INFO $uri, as for the other backends; the
// route is read from REQUEST_URI's path, which PHP passes through untouched, because php-fpm's
// cgi.fix_pathinfo rewrites PATH_INFO from SCRIPT_FILENAME.

$path = strtok($_SERVER['REQUEST_URI'] ?? '', '?');
$method = $_SERVER['REQUEST_METHOD'] ?? '';

if ($path === '/hello' && $method === 'GET') {
    header('Content-Type: text/plain; charset=utf-8');
    header('Content-Length: 14');
    echo "Hello, world!\n";
} elseif ($path === '/64k' && $method === 'GET') {
    // PHP keeps nothing between requests, so the 64 KiB string is built per request (a few µs of
    // the request's cost; the other apps preallocate theirs).
    header('Content-Type: application/octet-stream');
    header('Content-Length: 65536');
    echo str_repeat('x', 65536);
} elseif ($path === '/upload' && $method === 'POST') {
    // With enable_post_data_reading off (the pool sets it) the body is read here, 64 KiB at a time.
    $input = fopen('php://input', 'rb');
    $length = 0;
    while (!feof($input)) {
        $chunk = fread($input, 65536);
        if ($chunk === false) break;
        $length += strlen($chunk);
    }
    fclose($input);
    $body = "$length\n";
    header('Content-Type: text/plain; charset=utf-8');
    header('Content-Length: ' . strlen($body));
    echo $body;
} else {
    http_response_code(404);
    header('Content-Type: text/plain; charset=utf-8');
    header('Content-Length: 10');
    echo "Not Found\n";
}
