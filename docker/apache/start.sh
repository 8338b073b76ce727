#!/bin/sh
# Starts Apache in the compose harness: TSGI_APACHE_MODE=proxy (mod_proxy_fcgi) or cgi (cgi-bin).
set -eu
conf=/srv/tsgi/conf/apache
site=/usr/local/apache2/conf/tsgi-site.conf
case "${TSGI_APACHE_MODE:-proxy}" in
  proxy)
    # The one substitution: 127.0.0.1 is this container, the daemon is another one.
    mkdir -p /srv/app/public
    sed 's#fcgi://127\.0\.0\.1:9000/#fcgi://daemon:9000/#' "$conf/tsgi-proxy-fcgi.conf" > "$site"
    ;;
  cgi)
    # cgi-bin.conf as-is: the app goes where it points, tsgi where its SetEnv PATH looks.
    mkdir -p /usr/lib/cgi-bin
    cp /srv/tsgi/test/fixtures/app.mjs /usr/lib/cgi-bin/app.mjs
    printf '#!/bin/sh\nexec /usr/local/bin/node /srv/tsgi/dist/cli.cjs "$@"\n' > /usr/local/bin/tsgi
    printf '#!/bin/sh\nexec /usr/local/bin/node /srv/tsgi/dist/cli.cjs cgi /usr/lib/cgi-bin/app.mjs\n' > /usr/lib/cgi-bin/app.cgi
    chmod 755 /usr/local/bin/tsgi /usr/lib/cgi-bin/app.mjs /usr/lib/cgi-bin/app.cgi
    cp "$conf/cgi-bin.conf" "$site"
    ;;
  *)
    echo "start.sh: TSGI_APACHE_MODE must be proxy or cgi" >&2
    exit 2
    ;;
esac
exec httpd -DFOREGROUND
