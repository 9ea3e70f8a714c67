#!/bin/sh
# plan-deploy.sh: the two shipped ways of spreading a sweep over machines (deploy/),
# run for real on this machine, as TAP.
#
# Kubernetes: both manifests parse (with the project's YAML reader, tests/yaml_get);
# the Job is Indexed with completions = parallelism = SHARDS; the Job and the merge pod
# share the claim and the ConfigMap layout; then the Job's own command runs once per
# index (JOB_COMPLETION_INDEX, SHARDS from the manifest; /spec and /results mapped to
# directories here, laid out as the ConfigMap's items say) and the merge pod's command
# after it: the merged table equals an unsharded sweep's.
# GNU parallel (cases skipped when it is not installed): deploy/parallel-ssh.sh with
# this machine as the host (":") and a working directory of its own, at 3 shards and
# at 10 (more shards than the 8 points: empty shards), merges to the unsharded table;
# a shard database left by a killed run is resumed, not recomputed; with rsync, a
# "remote" host (this machine behind a stand-in ssh that drops the host name) has its
# files fetched with --return and removed with --cleanup; bad usage exits 2.

srcdir=${top_srcdir:-.}
builddir=${top_builddir:-.}
abs() { (cd "$(dirname "$1")" && printf '%s/%s\n' "$(pwd)" "$(basename "$1")"); }
FLEETSIM=$(abs "$builddir/fleetsim")
YAML_GET=$(abs "$builddir/tests/yaml_get")
FLEETSIM_DATADIR=$(cd "${FLEETSIM_DATADIR:-$srcdir/models}" && pwd)
export FLEETSIM_DATADIR
deploy=$(cd "$srcdir/deploy" && pwd)
sweeps=$(cd "$srcdir/scenarios/sweeps" && pwd)
scen=$(cd "$srcdir/scenarios" && pwd)
spec="$sweeps/quickstart-rate.yaml"
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM

n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); echo "not ok $n - $1"; [ -n "${2:-}" ] && sed 's/^/# /' "$2"; }
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }
check() { # check DESCRIPTION COMMAND...: passes when the command exits 0
    d=$1; shift
    if "$@" >"$tmp/out" 2>&1; then ok "$d"; else echo "exit $?" >>"$tmp/out"; not_ok "$d" "$tmp/out"; fi
}
same() { # same DESCRIPTION A B: passes when files A and B are equal
    if cmp -s "$2" "$3"; then ok "$1"; else diff "$2" "$3" >"$tmp/why" 2>&1; not_ok "$1" "$tmp/why"; fi
}
eq() { # eq DESCRIPTION GOT WANT
    if [ "$2" = "$3" ]; then ok "$1 ($2)"; else echo "got '$2', want '$3'" >"$tmp/why"; not_ok "$1" "$tmp/why"; fi
}
get() { "$YAML_GET" "$@" 2>>"$tmp/get.err"; }

# --- Kubernetes: the manifests ---
job="$deploy/k8s-sweep-job.yaml" merge="$deploy/k8s-merge-pod.yaml"
eq "the Job manifest parses: a claim and a Job" "$(get "$job")" 2
eq "the merge pod parses" "$(get "$merge")" 1
eq "document 1 is a batch/v1 Job" "$(get "$job" 1 apiVersion) $(get "$job" 1 kind)" "batch/v1 Job"
eq "it is Indexed" "$(get "$job" 1 spec.completionMode)" Indexed
shards=$(get "$job" 1 spec.template.spec.containers.0.env.0.value)
eq "the SHARDS variable is the env's first" "$(get "$job" 1 spec.template.spec.containers.0.env.0.name)" SHARDS
eq "completions = SHARDS" "$(get "$job" 1 spec.completions)" "$shards"
eq "parallelism = SHARDS" "$(get "$job" 1 spec.parallelism)" "$shards"
claim=$(get "$job" 0 metadata.name)
eq "the Job mounts the claim" "$(get "$job" 1 spec.template.spec.volumes.1.persistentVolumeClaim.claimName)" "$claim"
eq "and so does the merge pod" "$(get "$merge" 0 spec.volumes.1.persistentVolumeClaim.claimName)" "$claim"
eq "the claim is ReadWriteMany (pods on many nodes write it)" "$(get "$job" 0 spec.accessModes.0)" ReadWriteMany
eq "both read the same ConfigMap" "$(get "$merge" 0 spec.volumes.0.configMap.name)" \
    "$(get "$job" 1 spec.template.spec.volumes.0.configMap.name)"
for v in 0 1; do
    eq "volume $v is mounted at the same path in both" \
        "$(get "$merge" 0 spec.containers.0.volumeMounts.$v.mountPath)" \
        "$(get "$job" 1 spec.template.spec.containers.0.volumeMounts.$v.mountPath)"
done
specdir=$(get "$job" 1 spec.template.spec.containers.0.volumeMounts.0.mountPath)
resdir=$(get "$job" 1 spec.template.spec.containers.0.volumeMounts.1.mountPath)
[ -s "$tmp/get.err" ] && not_ok "every path read from the manifests" "$tmp/get.err"

# The ConfigMap as deploy/README.md makes it (keys: the files' names), laid out as the
# Job's items say, under a directory standing in for the mount.
mkdir -p "$tmp/k8s/spec" "$tmp/k8s/results" "$tmp/bin"
ln -s "$FLEETSIM" "$tmp/bin/fleetsim"
i=0
while key=$("$YAML_GET" "$job" 1 spec.template.spec.volumes.0.configMap.items.$i.key 2>/dev/null); do
    path=$(get "$job" 1 spec.template.spec.volumes.0.configMap.items.$i.path)
    eq "merge pod item $i is the Job's" "$(get "$merge" 0 spec.volumes.0.configMap.items.$i.path)" "$path"
    case $key in quickstart-rate.yaml) src=$spec ;; *) src="$scen/$key" ;; esac
    mkdir -p "$(dirname "$tmp/k8s/spec/$path")" && cp "$src" "$tmp/k8s/spec/$path"
    i=$((i + 1))
done
local_cmd() { # the manifest's shell command with the mounts mapped here
    sed -e "s|$specdir/|$tmp/k8s/spec/|g" -e "s|$resdir/|$tmp/k8s/results/|g" -e 's| && sleep [0-9]*$||'
}
get "$job" 1 spec.template.spec.containers.0.args.0 | local_cmd >"$tmp/job.sh"
get "$merge" 0 spec.containers.0.args.0 | local_cmd >"$tmp/merge.sh"
k=0 fails=0
while [ "$k" -lt "$shards" ]; do
    JOB_COMPLETION_INDEX=$k SHARDS=$shards PATH="$tmp/bin:$PATH" sh "$tmp/job.sh" >"$tmp/pod.out" 2>&1 ||
        { fails=$((fails + 1)); cat "$tmp/pod.out" >>"$tmp/pods.err"; }
    k=$((k + 1))
done
if [ "$fails" = 0 ]; then ok "the Job's command runs for each of its $shards indexes"
else not_ok "the Job's command runs for each of its $shards indexes ($fails failed)" "$tmp/pods.err"; fi
c=$(ls "$tmp/k8s/results" | grep -c '^shard-[0-9]*\.db$')
eq "each pod left its shard database (empty shards included)" "$c" "$shards"
PATH="$tmp/bin:$PATH" sh "$tmp/merge.sh" >"$tmp/k8s-merge.out" 2>"$tmp/k8s-merged.err"
ok_merge=$?
grep -v ' copied, ' "$tmp/k8s-merge.out" >"$tmp/k8s-merged.txt"   # results merge's lines
kspec=$(sed -n 's|.* \([^ ]*\.yaml\)$|\1|p' "$tmp/merge.sh")
"$FLEETSIM" sweep --quiet --db "$tmp/k8s-un.db" "$kspec" >"$tmp/k8s-un.txt" 2>&1
if [ "$ok_merge" = 0 ]; then ok "the merge pod's command runs"; else not_ok "the merge pod's command runs" "$tmp/k8s-merged.err"; fi
same "the merged table equals an unsharded sweep's" "$tmp/k8s-merged.txt" "$tmp/k8s-un.txt"

# --- GNU parallel ---
"$FLEETSIM" sweep --quiet --db "$tmp/un.db" "$spec" >"$tmp/un.txt" 2>&1
# SHELL unset, as under CI: GNU parallel's ssh wrapper then runs nothing, unless the
# script names the jobs' shell itself.
pssh() { # pssh HOSTS N MERGED: the shipped script on the spec, from $tmp, jobs in $tmp/work
    (cd "$tmp" && env -u SHELL REMOTE_DIR="$tmp/work" FLEETSIM="$FLEETSIM" sh "$deploy/parallel-ssh.sh" \
        "$1" "$spec" "$2" "$3")
}
merged_same() { # merged_same DESCRIPTION DB: DB holds every point, with the unsharded table
    if [ -f "$2" ] && "$FLEETSIM" sweep --db "$2" "$spec" >"$tmp/merged.txt" 2>"$tmp/merged.err" &&
        grep -q "8 points already complete in .*, 0 to run" "$tmp/merged.err"; then
        same "$1" "$tmp/un.txt" "$tmp/merged.txt"
    else
        { [ -f "$2" ] && cat "$tmp/merged.err"; echo "$2"; } >"$tmp/why" 2>&1; not_ok "$1 (not every point was merged)" "$tmp/why"
    fi
}
printf '2/:\n' >"$tmp/hosts"
(cd "$tmp" && sh "$deploy/parallel-ssh.sh" hosts "$spec" 0 x.db >"$tmp/out" 2>&1); got=$?
eq "parallel-ssh.sh: 0 shards exits 2" "$got" 2
(cd "$tmp" && sh "$deploy/parallel-ssh.sh" nohosts "$spec" 2 x.db >"$tmp/out" 2>&1); got=$?
eq "parallel-ssh.sh: a missing hosts file exits 2" "$got" 2
if ! command -v parallel >/dev/null 2>&1; then
    for d in "parallel-ssh.sh, 3 shards on this machine" "merged equals unsharded" \
        "no file left" "10 shards (empty ones)" "merged equals unsharded" \
        "after a killed run" "a left shard is resumed" "a remote host's files are fetched"; do
        skip "$d" "GNU parallel is not installed (./bootstrap --install-deps installs it)"
    done
    echo "1..$n"
    exit 0
fi
mkdir -p "$tmp/work"
check "parallel-ssh.sh runs 3 shards on this machine" pssh hosts 3 m3.db
merged_same "and the merged table equals the unsharded one" "$tmp/m3.db"
eq "no shard file is left in the working directory" "$(ls "$tmp/work" | wc -l | tr -d ' ')" 0
check "10 shards of 8 points (two of them empty)" pssh hosts 10 m10.db
merged_same "merge to the unsharded table" "$tmp/m10.db"

# a shard database a killed run left in the working directory is resumed
(cd "$tmp/work" && "$FLEETSIM" sweep --quiet --shard 0/3 --db fleetsim-quickstart-rate-0-of-3.db "$spec" >/dev/null 2>&1)
"$FLEETSIM" results list --db "$tmp/work/fleetsim-quickstart-rate-0-of-3.db" --json |
    sed -n 's/.*"uid": *"\([^"]*\)".*/\1/p' | sort >"$tmp/left.uids"
check "parallel-ssh.sh after a killed run" pssh hosts 3 mr.db
"$FLEETSIM" results list --db "$tmp/mr.db" --json | sed -n 's/.*"uid": *"\([^"]*\)".*/\1/p' | sort >"$tmp/mr.uids"
if [ -s "$tmp/left.uids" ] && [ "$(comm -23 "$tmp/left.uids" "$tmp/mr.uids" | wc -l)" -eq 0 ] &&
    [ "$(wc -l <"$tmp/mr.uids")" -eq 8 ]; then ok "the left shard's runs are merged as they were (not recomputed)"
else { cat "$tmp/left.uids"; echo --; cat "$tmp/mr.uids"; } >"$tmp/why"; not_ok "the left shard is resumed" "$tmp/why"; fi

# a "remote" host: this machine behind a stand-in ssh that drops options and the host
if command -v rsync >/dev/null 2>&1; then
    cat >"$tmp/ssh" <<'EOS'
#!/bin/sh
echo "$*" >>"$(dirname "$0")/ssh.log"
while [ $# -gt 0 ]; do
    case $1 in -l|-p|-o|-i|-S|-F) shift 2 ;; -*) shift ;; *) shift; break ;; esac
done
[ "${1:-}" = "--" ] && shift
exec sh -c "$*"
EOS
    chmod +x "$tmp/ssh"
    printf '2/%s/ssh otherhost\n1/:\n' "$tmp" >"$tmp/hosts2"
    check "a remote host and this one, 4 shards" pssh hosts2 4 mremote.db
    merged_same "merge to the unsharded table" "$tmp/mremote.db"
    if grep -q 'rsync --server --sender' "$tmp/ssh.log" 2>/dev/null; then
        ok "the remote shards came back through ssh and rsync (--return)"
    else not_ok "the remote shards came back through ssh and rsync (--return)" "$tmp/ssh.log"; fi
    eq "the remote working directory is cleaned up" "$(ls "$tmp/work" | wc -l | tr -d ' ')" 0
else
    skip "a remote host's files are fetched" "rsync is not installed"
fi


echo "1..$n"
