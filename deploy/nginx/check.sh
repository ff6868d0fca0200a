#!/bin/sh
# Validate deploy/nginx/murano.conf with `nginx -t` without installing it: a throw-away main
# config includes it, with self-signed certificates standing in for the real ones. The local
# template of `make run-tls` (local-tls.conf.template) is rendered and checked too.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/ssl" "$tmp/logs"
for name in devices.example.com murano.example.com; do
    openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=$name" \
        -keyout "$tmp/ssl/$name.key" -out "$tmp/ssl/$name.fullchain.pem" 2>/dev/null
done
sed "s#/etc/ssl/murano/#$tmp/ssl/#g" "$here/murano.conf" > "$tmp/murano.conf"
mime=/etc/nginx/mime.types
if [ ! -f "$mime" ]; then
    mime="$tmp/mime.types"
    echo "types { }" > "$mime"
fi
cat > "$tmp/nginx.conf" <<CONF
worker_processes 1;
error_log $tmp/logs/error.log;
pid $tmp/nginx.pid;
events { worker_connections 1024; }
http {
    include $mime;
    access_log off;
    include $tmp/murano.conf;
}
CONF
nginx -t -p "$tmp" -c "$tmp/nginx.conf"
mkdir -p "$tmp/local/tmp"
sed -e "s#{{prefix}}#$tmp/local#g" -e "s#{{user}}##" -e "s#{{listen}}#127.0.0.1:8443#" \
    -e "s#{{upstream}}#127.0.0.1:8000#" -e "s#{{access_log}}#off#" \
    -e "s#{{certificate}}#$tmp/ssl/devices.example.com.fullchain.pem#" \
    -e "s#{{certificate_key}}#$tmp/ssl/devices.example.com.key#" \
    "$here/local-tls.conf.template" > "$tmp/local/nginx.conf"
nginx -t -p "$tmp/local" -c "$tmp/local/nginx.conf"
# The MQTT stream config (deploy/nginx/mqtt-stream.conf) needs the stream module (Debian:
# libnginx-mod-stream).
stream_module=/usr/lib/nginx/modules/ngx_stream_module.so
mkdir -p "$tmp/stream"
cat > "$tmp/stream/nginx.conf" <<CONF
worker_processes 1;
error_log $tmp/logs/stream-error.log;
pid $tmp/stream/nginx.pid;
load_module $stream_module;
events { worker_connections 1024; }
stream { include $here/mqtt-stream.conf; }
CONF
nginx -t -p "$tmp/stream" -c "$tmp/stream/nginx.conf"
