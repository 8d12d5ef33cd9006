# Sourced by .ci/run: makes a PostgreSQL server available and exports COSELL_TEST_DATABASE_URL.
# Uses the server on 127.0.0.1:5432 when one answers (trust auth, user postgres, database test);
# otherwise starts a private cluster in a temporary directory, stopped when the script exits.

pg_bin() {
    local name=$1 found
    found=$(command -v "$name" 2>/dev/null) && { echo "$found"; return 0; }
    found=$(ls -d /usr/lib/postgresql/*/bin/"$name" 2>/dev/null | sort -V | tail -n 1)
    [ -n "$found" ] && echo "$found"
}

if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null \
    && psql -h 127.0.0.1 -p 5432 -U postgres -d test -Atc 'select 1' >/dev/null 2>&1; then
    export COSELL_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:5432/test"
    echo "PostgreSQL: using the server on 127.0.0.1:5432"
else
    if [ -z "$(pg_bin initdb)" ]; then
        echo "PostgreSQL: installing the Debian postgresql package"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq && apt-get install -y -qq postgresql >/dev/null
    fi
    initdb=$(pg_bin initdb); pg_ctl=$(pg_bin pg_ctl)
    pg_dir=$(mktemp -d /tmp/cosell-ci-pg.XXXXXX)
    chown postgres "$pg_dir" 2>/dev/null || true
    as_postgres() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
    pg_port=55432
    as_postgres "$initdb" -D "$pg_dir/data" -U postgres -A trust >/dev/null
    as_postgres "$pg_ctl" -D "$pg_dir/data" -o "-p $pg_port -k $pg_dir -c listen_addresses=127.0.0.1" \
        -l "$pg_dir/log" -w start >/dev/null
    trap 'as_postgres "$pg_ctl" -D "$pg_dir/data" -m fast stop >/dev/null 2>&1; rm -rf "$pg_dir"' EXIT
    psql -h 127.0.0.1 -p "$pg_port" -U postgres -d postgres -qc 'CREATE DATABASE test' >/dev/null
    export COSELL_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$pg_port/test"
    echo "PostgreSQL: started a private cluster on 127.0.0.1:$pg_port"
fi
