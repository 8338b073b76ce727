#!/bin/sh
# Starts nginx in the compose harness with conf/nginx/tsgi.conf, its upstream pointed at the daemon service.
set -eu
# The sample includes tsgi_fastcgi_params by a name relative to /etc/nginx.
cp /tsgi-conf/tsgi_fastcgi_params /etc/nginx/tsgi_fastcgi_params
# The one substitution: 127.0.0.1 is this container, the daemon is another one.
sed 's/server 127\.0\.0\.1:9000;/server daemon:9000;/' /tsgi-conf/tsgi.conf > /etc/nginx/conf.d/default.conf
exec nginx -g 'daemon off;'
