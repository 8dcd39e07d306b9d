#!/usr/bin/env bash
# demo.sh — the local demo behind `make demo`: real MariaDB servers (two
# groups, each a master with replicas, on 127.0.0.1:3310-3312 and
# 3320-3321) plus shardgate with conf/shardgate.toml in the foreground.
# Installs mariadb-server with apt-get when mariadbd is missing.
# Ctrl-C stops shardgate; `make demo-stop` stops the MariaDB servers.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
dir=${1:-/tmp/shardgate-demo}

if ! command -v mariadbd >/dev/null 2>&1 && ! [ -x /usr/sbin/mariadbd ]; then
  echo "demo: installing mariadb-server (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq mariadb-server mariadb-client
fi

mkdir -p "$dir"
bash "$here/sandbox.sh" start "$dir" 3310 3311 3312 3320 3321
for pair in "3310 3311" "3310 3312" "3320 3321"; do
  set -- $pair
  if ! bash "$here/sandbox.sh" sql "$dir" "$2" "SHOW SLAVE STATUS" | grep -q .; then
    bash "$here/sandbox.sh" replica "$dir" "$1" "$2"
  fi
done
for m in 3310 3320; do
  bash "$here/sandbox.sh" sql "$dir" "$m" "CREATE DATABASE IF NOT EXISTS blog"
done

cd "$top"
cargo build --release --bin shardgate
cat <<MSG

shardgate demo: MariaDB groups g0 (3310 master, 3311/3312 replicas) and g1
(3320 master, 3321 replica) are up. Starting shardgate with conf/shardgate.toml.
Connect with:

    mariadb -h127.0.0.1 -P3307 -uapp -papp-secret blog

Stop with Ctrl-C, then 'make demo-stop' to stop the MariaDB servers.
MSG
exec ./target/release/shardgate --config conf/shardgate.toml
