#!/bin/sh
# parallel-ssh.sh: run a fleetsim sweep as N shards over SSH hosts with GNU parallel,
# fetch each shard's database and merge them into one.
#
# usage: deploy/parallel-ssh.sh HOSTS_FILE SPEC.yaml N MERGED.db
#   HOSTS_FILE  GNU parallel --sshloginfile (e.g. "8/user@host1", one host a line;
#               ":" is this machine, "2/:" two shards at a time on it)
#   SPEC.yaml   the sweep spec, absolute or relative to REMOTE_DIR
#   N           the number of shards (more shards than slots balances uneven points)
#   MERGED.db   where the merged database goes (relative to this directory)
# Environment: REMOTE_DIR (default: this directory) where the repository is on every
# host, the jobs' working directory; FLEETSIM (default: $REMOTE_DIR/fleetsim);
# FLEETSIM_DATADIR (default: $REMOTE_DIR/models) the catalogue on every host.
# Needs GNU parallel here and, for hosts other than ":", rsync on both ends (parallel
# fetches files with it) and SSH keys that log in without a prompt.
#
# Shard K writes fleetsim-NAME-K-of-N.db (NAME: the spec's file name) in REMOTE_DIR on
# its host. A remote host's file is fetched (--return) into a staging directory here
# and removed there (--cleanup); on ":" it is moved from REMOTE_DIR. A shard database
# left in REMOTE_DIR by a killed run is resumed, not recomputed. Fetching into a
# staging directory rather than into REMOTE_DIR keeps a host that is this machine
# under another name (user@thishost) from fetching the file onto itself and then
# cleaning it up. Exit status: 0 merged; 1 a shard failed (its joblog lines are
# printed); 2 bad usage.
set -eu
[ $# -eq 4 ] || { echo "usage: $0 HOSTS_FILE SPEC.yaml N MERGED.db" >&2; exit 2; }
hosts=$1 spec=$2 n=$3 merged=$4
case $n in ''|*[!0-9]*|0) echo "$0: N: expected a number of shards >= 1, got '$n'" >&2; exit 2 ;; esac
[ -r "$hosts" ] || { echo "$0: $hosts: cannot read the hosts file" >&2; exit 2; }
command -v parallel >/dev/null || { echo "$0: GNU parallel is not installed" >&2; exit 2; }
if grep -Ev '^[[:space:]]*(#|$)' "$hosts" | grep -Evq '^[[:space:]]*([0-9]+/)?:[[:space:]]*$' &&
    ! command -v rsync >/dev/null; then
    echo "$0: remote hosts need rsync (GNU parallel fetches the shard databases with it)" >&2
    exit 2
fi
# GNU parallel runs each job with $SHELL; where that is unset (cron, CI, env -i) its
# ssh wrapper silently runs nothing and reports success. The jobs are POSIX sh.
PARALLEL_SHELL=${PARALLEL_SHELL:-/bin/sh}
export PARALLEL_SHELL
REMOTE_DIR=${REMOTE_DIR:-$(pwd)}
FLEETSIM=${FLEETSIM:-$REMOTE_DIR/fleetsim}
FLEETSIM_DATADIR=${FLEETSIM_DATADIR:-$REMOTE_DIR/models}
name=$(basename "$spec" .yaml | tr -c 'A-Za-z0-9._\n-' _)
hosts=$(cd "$(dirname "$hosts")" && pwd)/$(basename "$hosts")
q() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }   # quoted for sh
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
mkdir "$out/fetched"

# One job per shard, run in REMOTE_DIR on its host; --retries reruns a failed shard
# (it resumes: finished points are skipped).
db="fleetsim-$name-{}-of-$n.db"
cmd="FLEETSIM_DATADIR=$(q "$FLEETSIM_DATADIR") $(q "$FLEETSIM") sweep --quiet --shard {}/$n"
cmd="$cmd --db $db $(q "$spec") >/dev/null"
if ! (cd "$out/fetched" && seq 0 $((n - 1)) | parallel --sshloginfile "$hosts" \
        --retries 2 --workdir "$REMOTE_DIR" --return "$db" --cleanup \
        --joblog "$out/joblog" "$cmd"); then
    echo "$0: shards failed; GNU parallel's job log:" >&2
    cat "$out/joblog" >&2
    exit 1
fi

for k in $(seq 0 $((n - 1))); do
    f="fleetsim-$name-$k-of-$n.db"
    mv "$out/fetched/$f" "$out/" 2>/dev/null || mv "$REMOTE_DIR/$f" "$out/" ||
        { echo "$0: shard $k returned no database" >&2; cat "$out/joblog" >&2; exit 1; }
done
"$FLEETSIM" results merge --db "$merged" "$out"/fleetsim-"$name"-*-of-"$n".db
echo "merged $n shards into $merged; table: $FLEETSIM sweep --db $merged $spec"
