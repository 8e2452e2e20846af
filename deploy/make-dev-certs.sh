#!/usr/bin/env bash
# Makes certificates for trying gridd's TLS out (compose, a test deployment): a CA, a server
# certificate for the gridd services, and a client certificate for a machine client.
# A city uses certificates of its own CA instead.
#
#   deploy/make-dev-certs.sh deploy/tls
#
# Writes ca.crt, ca.key, tls.crt, tls.key (server), client.crt, client.key into the folder.
set -euo pipefail
out="${1:?usage: make-dev-certs.sh FOLDER}"
mkdir -p "$out"
cd "$out"
names="DNS:localhost,DNS:ingest,DNS:gateway,DNS:router,DNS:tracker,DNS:*.gridd.svc,DNS:*.gridd.svc.cluster.local,IP:127.0.0.1"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 825 \
    -subj "/CN=gridd development CA" -keyout ca.key -out ca.crt 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=gridd" \
    -keyout tls.key -out tls.csr 2>/dev/null
openssl x509 -req -in tls.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 825 \
    -extfile <(printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\n' "$names") -out tls.crt 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=camera-gateway" \
    -keyout client.key -out client.csr 2>/dev/null
openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 825 \
    -extfile <(printf 'extendedKeyUsage=clientAuth\n') -out client.crt 2>/dev/null
rm -f tls.csr client.csr ca.srl
chmod 600 ./*.key
echo "certificates in $out: ca.crt (trust this), tls.crt/tls.key (server), client.crt/client.key (a machine client)"
