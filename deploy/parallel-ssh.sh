#!/bin/sh
# parallel-ssh.sh: run a fleetsim sweep as N shards over SSH hosts with GNU parallel,
# fetch each shard's database and merge them into one.
#
# usage: deploy/parallel-ssh.sh HOSTS_FILE SPEC.yaml N MERGED.db
#   HOSTS_FILE  GNU parallel --sshloginfile (e.g. "8/user@host1", one host a line;
#               ":" is this machine)
#   N           the number of shards (more shards than slots balances uneven points)
# Environment: REMOTE_DIR (default: this directory) where the repository is on every
# host; FLEETSIM (default: $REMOTE_DIR/fleetsim).
set -eu
[ $# -eq 4 ] || { echo "usage: $0 HOSTS_FILE SPEC.yaml N MERGED.db" >&2; exit 2; }
hosts=$1 spec=$2 n=$3 merged=$4
REMOTE_DIR=${REMOTE_DIR:-$(pwd)}
FLEETSIM=${FLEETSIM:-$REMOTE_DIR/fleetsim}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# One job per shard; each writes shard-K.db in its remote working directory, which
# --return copies back and --cleanup removes. --retries reruns a failed shard (it
# resumes: finished points are skipped).
seq 0 $((n - 1)) | parallel --sshloginfile "$hosts" --retries 2 --workdir "$REMOTE_DIR" \
    --return "shard-{}.db" --cleanup --joblog "$out/joblog" \
    "FLEETSIM_DATADIR=$REMOTE_DIR/models $FLEETSIM sweep --quiet --shard {}/$n --db shard-{}.db $spec >/dev/null"

# --return brings each file to the same relative path here (this directory); a shard
# run on this machine itself (":") leaves it in $REMOTE_DIR.
for k in $(seq 0 $((n - 1))); do
    mv "shard-$k.db" "$out/" 2>/dev/null || mv "$REMOTE_DIR/shard-$k.db" "$out/" ||
        { echo "$0: shard $k returned no database (see $out/joblog)" >&2; exit 1; }
done
"$FLEETSIM" results merge --db "$merged" "$out"/shard-*.db
echo "merged $n shards into $merged; table: $FLEETSIM sweep --db $merged $spec"
